"""Frame sources behind one small interface: OpenCV (USB/V4L2, files, streams), the Pi camera, a synthetic feed."""
