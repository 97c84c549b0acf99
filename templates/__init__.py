"""The report template, as package data (see engine.lang.shipped)."""
