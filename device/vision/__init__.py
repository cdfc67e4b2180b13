"""Vision: pure functions from frames to results (decoding, rendering test scenes)."""
