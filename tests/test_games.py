"""Golden frames: `otrig test` on the shipped games against the real frames in ../shared/data.

The expected values live in games/<name>.samples.yaml and come from shared/data/MANIFEST.tsv
(read by eye). The data folder is outside the repository: when it is absent the tests skip,
except on CI, where a missing folder is a failure.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_DATA as DATA, need_shared_data as need_data

REPO = Path(__file__).parents[1]
GAMES = ["apex", "valorant", "melee"]




@pytest.mark.parametrize("game", GAMES)
def test_golden_frames(game: str) -> None:
    need_data()
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["test", str(REPO / "games" / f"{game}.yaml"), "--assets", str(DATA)])
    print(result.output)
    assert result.exit_code == 0, f"otrig test {game} failed:\n{result.output}"


def test_samples_cover_manifest_melee_frames() -> None:
    """The melee samples include the four frames the manifest gives truth for (more may follow)."""
    from engine.debug.golden import load_samples

    samples = load_samples(REPO / "games" / "melee.samples.yaml")
    frames = sorted(s.frame_no for s in samples if s.kind == "video")
    assert {0, 600, 1200, 1799} <= set(frames)


def test_golden_compare_rules() -> None:
    from engine.debug.golden import same

    assert same(12, 12.0) and same("P2020", "P2020") and not same(12, 13)
    assert same(None, None) and not same(0, None) and not same(None, 0)
    assert same([8, 13], [8, 13]) and not same([8, 13], [13, 8])
    assert not same("12", None)


FRAMES_OF = {"apex": "apex", "valorant": "valorant"}


@pytest.mark.parametrize("game", sorted(FRAMES_OF))
def test_other_games_frames_are_not_taken_for_this_game(game: str) -> None:
    """A game file on another game's screenshots reports no screen of its own and no fields:
    the screen tests must look for this game's HUD, not for any white blob in the same place."""
    need_data()
    import cv2

    from engine.runtime.game import load_game

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



@pytest.mark.parametrize("game", ["apex", "valorant", "melee"])
def test_no_wrong_value_under_any_capture_variant(game: str) -> None:
    """Issue 13's matrix: every sample of every shipped game, as captured and as each capture
    variant gives it (JPEG 60/40, 720p, 1440p, shifts, noise, dimmer). A field may come back
    null; it may never come back as another value. Real frames, real readers."""
    need_data()
    from typer.testing import CliRunner

    from cli.main import app
    from engine.debug.perturb import VARIANTS

    result = CliRunner().invoke(app, ["test", str(REPO / "games" / f"{game}.yaml"), "--assets", str(DATA),
                                      "--stress", "all"])
    print(result.output)
    assert result.exit_code == 0, result.output[-3000:]
    names = ["as-is", *VARIANTS]
    table = result.output[result.output.index("capture    right  null wrong"):].split("\n\n")[0].splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in table if line.split()}
    assert set(rows) == set(names), sorted(rows)
    for name, cells in rows.items():
        right, null, wrong = (int(v) for v in cells[1:4])
        assert wrong == 0, f"{game} {name}: {' '.join(cells)}"
        assert right > null, f"{game} {name}: most fields must read ({' '.join(cells)})"


def test_capture_variants() -> None:
    import numpy as np

    from engine.debug.perturb import VARIANTS, parse_variants

    img = np.zeros((1080, 1920, 3), np.uint8)
    img[500:520, 900:920] = 200
    for v in VARIANTS.values():
        out = v.apply(img)
        assert out.shape == img.shape and out.dtype == np.uint8, v.name
        assert not np.array_equal(out, img) or v.name == "jpeg60", v.name  # flat areas survive JPEG
    moved = VARIANTS["shift+2"].apply(img)
    assert moved[502:522, 902:922].min() == 200 and moved[500, 900].max() == 0
    assert int(VARIANTS["dim85"].apply(img)[510, 910, 0]) == 170
    assert [v.name for v in parse_variants("720p, noise4")] == ["720p", "noise4"]
    with pytest.raises(ValueError, match="unknown capture variant blur9; expected all or some of: jpeg60"):
        parse_variants("blur9")


def test_apex_numbers_are_never_wrong_under_capture_variants() -> None:
    """Real output, real frames: before check_glyphs and the reserve fix, a 720p or JPEG
    capture of the shared apex frames read reserve 19 as 193/219, kills 11 as 1 and damage
    982 as 9182. A number may come back null under a variant, never as another number."""
    need_data()
    from engine.debug.golden import _outcome, game_loader, load_samples, run_samples
    from engine.debug.perturb import VARIANTS

    game = game_loader(REPO / "games" / "apex.yaml", assets=[DATA])
    samples = load_samples(REPO / "games" / "apex.samples.yaml")
    numeric = ("ammo.", "summary.placed", "summary.squad_kills", "trio.kills", "trio.damage",
               "duo.kills", "duo.damage")
    checked = 0
    for name in ("720p", "jpeg60"):
        for r in run_samples(game, samples, roots=[DATA], transform=VARIANTS[name].apply):
            assert r.error is None, r.error
            for f in r.fields:
                if f.key.startswith(numeric):
                    checked += 1
                    assert _outcome(f) != "wrong", f"{name}: {r.sample.label} {f.key} read {f.got}, expected {f.expected}"
    assert checked >= 20


def test_stress_names_values_element_by_element_and_saves_the_variants(tmp_path) -> None:
    """`--stress` counts a list field's elements one by one, names what each variant turned
    null, and `--save-variants` writes the frames it read (issue 14)."""
    need_data()
    import cv2
    from typer.testing import CliRunner

    from cli.main import app
    from engine.debug.golden import game_loader, load_samples, outcomes, run_samples

    samples = [s for s in load_samples(REPO / "games" / "apex.samples.yaml") if s.label.endswith("img1.png")]
    assert len(samples) == 1
    results = run_samples(game_loader(REPO / "games" / "apex.yaml", assets=[DATA]), samples, roots=[DATA])
    values = outcomes(results)
    lists = [f for f in results[0].fields if isinstance(f.expected, list) and f.expected]
    assert lists, "the sample has list fields (a name, kills and damage per player)"
    assert len(values) == len(results[0].fields) - len(lists) + sum(len(f.expected) for f in lists)
    assert any(o.key.endswith("[1]") for o in values)

    out = tmp_path / "variants"
    result = CliRunner().invoke(app, ["test", str(REPO / "games" / "apex.yaml"), "--assets", str(DATA),
                                      "--only", "img1.png", "--stress", "720p,dim85", "--save-variants", str(out)])
    assert result.exit_code == 0, result.output[-2000:]
    text = result.output
    assert "null values (sample field -- why), as-is and what each capture changes:" in text
    # each null on its own line with the answer's reason; the fourth word is never a count
    listing = text[text.index("null values (sample field"):].splitlines()[1:]
    named = [line for line in listing if line.startswith("    - ")]
    assert named and all(" -- " in line and line.split(" -- ")[1].strip() for line in named)
    assert all(len(line.split()) < 4 or not line.split()[3].isdigit() for line in listing)
    head = text[text.index("capture    right"):].split("\n\n")[0].splitlines()
    as_is = head[1].split()
    assert as_is[0] == "as-is" and int(as_is[1]) + int(as_is[2]) + int(as_is[3]) == len(values)
    for v in ("720p", "dim85"):
        frames = sorted((out / v).glob("*.png"))
        assert len(frames) == 1 and cv2.imread(str(frames[0])).shape == (1080, 1920, 3)
    bad = CliRunner().invoke(app, ["test", "apex", "--save-variants", str(out)])
    assert bad.exit_code == 2 and "--stress" in bad.output
