"""otrig engine: game files compiled into processor graphs, run per frame.

The public entry points::

    from engine import load_game, GameFileError
    game = load_game("games/apex.yaml", assets=["~/apex-art"])
    output = game.process(image_bgr_1920x1080, frame_dict)

Layers, each importing only those before it (tests/test_layers.py checks it):
``lang`` (game file -> typed values, no pixels) <- ``vision`` (pixel code) <- ``steps``
(one class per step type) <- ``runtime`` (spec, compile, per-frame run) <- ``media``,
``plugin`` (HTTP), ``debug`` (recorder, report, golden frames) <- ``cli``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CompiledGame", "GameFileError", "load_game"]

if TYPE_CHECKING:
    from engine.lang.errors import GameFileError
    from engine.runtime.game import CompiledGame, load_game


def __getattr__(name: str) -> Any:
    # Imported on first use: `import engine.lang.x` must not pull in OpenCV and Tesseract,
    # so that `otrig --help` stays fast.
    if name == "GameFileError":
        from engine.lang.errors import GameFileError
        return GameFileError
    if name in ("CompiledGame", "load_game"):
        from engine.runtime import game
        return getattr(game, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
