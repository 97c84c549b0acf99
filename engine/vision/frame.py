"""The frame every step sees: raw BGR, 1920x1080, as the OverTrack wire protocol fixes it.

Captures of any other size (720p, 1440p, 21:9) reach the engine resized to this; regions
are mapped onto it (engine.vision.regions).
"""
WIDTH = 1920
HEIGHT = 1080
IMAGE_BYTES = WIDTH * HEIGHT * 3  # 6,220,800
