"""otrig engine: game files compiled into processor graphs, run per frame."""
__version__ = "0.1.0"
