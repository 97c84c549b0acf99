"""Running a game over many and long videos on a Dask cluster, identical to a sequential run.

A layer of its own above runtime and media (it runs games on sources, so it needs both;
media may not import runtime): ``memory`` (how much history a game's per-stream state
needs, and a comparable snapshot of that state), ``plan`` (a video's units of work),
``unit`` (what a worker runs), ``driver`` (the client: submit, verify, write in order) and
``progress``.
"""
