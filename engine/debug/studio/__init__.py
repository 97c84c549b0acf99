"""`otrig studio`: author a game file live in the browser (issue 15).

A local page (Bottle on waitress, loopback only) that draws every region and box of a game
file on a frame, re-runs the file on that frame each time it is saved, shows every step's
crop, prepared image, value, score and null reason, turns a dragged box back into reference
pixels, reads pixels and probe statistics, and re-reads the frame as other captures would
give it. Modules: :mod:`.geometry` (frame box -> reference box), :mod:`.frames` (the shots
and videos given), :mod:`.live` (the game, recompiled on save), :mod:`.runview` (one run as
JSON), :mod:`.stress` (capture variants), :mod:`.app` (routes), :mod:`.server` (serving).
"""
