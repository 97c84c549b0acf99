"""The shipped game files, as package data (see engine.lang.shipped)."""
