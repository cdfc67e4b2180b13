"""The checkpoint's signals: the traffic light and buzzer (indicator) and the gate relay.

Each behind a small interface (``base.py``) with real drivers (console, gpiozero, the RP2040 signal board on
serial) and fakes for tests. Drivers take their pins or port; the composition root builds them.
"""
