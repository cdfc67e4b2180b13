"""What the signal board runs: its name, version and files (the flashing tool copies exactly these)."""

NAME = "gridpass-board"
VERSION = "1.0.0"
FILES = (
    "board.py",
    "buzzer.py",
    "failsafe.py",
    "gate.py",
    "light.py",
    "link.py",
    "main.py",
    "manifest.py",
    "output.py",
    "settings.py",
    "wire.py",
)
"""Copied to the board's root; ``main.py`` runs at power-up."""
