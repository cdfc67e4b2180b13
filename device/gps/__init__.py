"""Where the handheld is: a :class:`~device.gps.base.Gps` (NMEA on a serial port, gpsd, or a fake) read by a thread."""
