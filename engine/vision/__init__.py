"""Pure pixel code: region mapping, crop preparation, glyphs, OCR and text post-processing.

Nothing here knows about game files beyond typed parameters, HTTP or video.
"""
