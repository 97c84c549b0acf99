"""Where frames come from: video and image sources (PyAV), and time formatting."""
