"""The checkpoint flashing tool: first-boot configuration on an SD card's boot partition (a mounted directory or a
Raspberry Pi OS image file, edited without root mounts), enrolment at the hub (queued when it cannot be reached),
the signal board's firmware over USB, and a label. ``gridpass flash`` is its command line; ``docs/flashing.md``."""
