"""The reference district center: receives relayed batches, verifies every device signature, serves the lists."""
