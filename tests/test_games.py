"""Golden frames: `otrig test` on the shipped games against the real frames in ../shared/data.

The expected values live in games/<name>.samples.yaml and come from shared/data/MANIFEST.tsv
(read by eye). The data folder is outside the repository: when it is absent the tests skip,
except on CI, where a missing folder is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
DATA = Path(__file__).parents[1].parent / "shared" / "data"
GAMES = ["apex", "valorant", "melee"]


def _need_data() -> None:
    if not (DATA / "MANIFEST.tsv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"golden data folder {DATA} is missing on CI")
        pytest.skip(f"golden data folder {DATA} not present")


@pytest.mark.parametrize("game", GAMES)
def test_golden_frames(game: str) -> None:
    _need_data()
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["test", str(REPO / "games" / f"{game}.yaml"), "--assets", str(DATA)])
    print(result.output)
    assert result.exit_code == 0, f"otrig test {game} failed:\n{result.output}"


def test_samples_cover_manifest_melee_frames() -> None:
    """The melee samples include the four frames the manifest gives truth for (more may follow)."""
    from engine.golden import load_samples

    samples = load_samples(REPO / "games" / "melee.samples.yaml")
    frames = sorted(s.frame_no for s in samples if s.kind == "video")
    assert {0, 600, 1200, 1799} <= set(frames)


def test_golden_compare_rules() -> None:
    from engine.golden import same

    assert same(12, 12.0) and same("P2020", "P2020") and not same(12, 13)
    assert same(None, None) and not same(0, None) and not same(None, 0)
    assert same([8, 13], [8, 13]) and not same([8, 13], [13, 8])
    assert not same("12", None)


FRAMES_OF = {"apex": "apex", "valorant": "valorant"}


@pytest.mark.parametrize("game", sorted(FRAMES_OF))
def test_other_games_frames_are_not_taken_for_this_game(game: str) -> None:
    """A game file on another game's screenshots reports no screen of its own and no fields:
    the screen tests must look for this game's HUD, not for any white blob in the same place."""
    _need_data()
    import cv2

    from engine.game import load_game

    g = load_game(REPO / "games" / f"{game}.yaml", assets=[DATA], budget_ms=float("inf"))
    others = sorted(p for p in DATA.glob("*/*") if p.suffix in (".png", ".jpg")
                    and p.parent.name != FRAMES_OF[game] and p.parent.name != "templates")
    assert others
    wrong = {}
    for i, path in enumerate(others):
        img = cv2.resize(cv2.imread(str(path)), (1920, 1080))
        out = g.process(img, {"relative_timestamp": 0.0, "source": {"file": str(path)}})
        screen = out.objects.get("screen", {}).get("name")
        if screen not in (None, "other") or set(out.objects) - {"screen"}:
            wrong[path.name] = {k: v for k, v in out.objects.items()}
    assert not wrong, wrong
