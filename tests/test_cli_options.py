"""One set of CLI options: a spelling means one thing in every command, a viewport is judged by
one rule, GAME is found by one resolver, and a broken game file exits with one status.

Each test here failed before cli/options.py: `--viewport` had four parsers with four rules,
`-s` was --seek in `run`/`extract` and --samples in `test`, `report` spelt --budget-mb,
`otrig test apex` did not find the shipped game, and a game-file error exited 1 from
check/run/serve and 2 from report/test/cut.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from cli.options import GAME_FILE_ERROR, USAGE_ERROR

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def shot(tmp_path) -> Path:
    p = tmp_path / "shot.png"
    cv2.imwrite(str(p), np.full((720, 1280, 3), 90, np.uint8))
    return p


def commands_with_viewport(tmp_path: Path, shot: Path, game: str) -> dict[str, list[str]]:
    """Every command taking --viewport, on GAME, up to where the viewport is judged."""
    return {
        "run": ["run", game, str(shot)],
        "serve": ["serve", game, "--port", "0"],
        "report": ["report", game, str(shot), "-o", str(tmp_path / "r.html")],
        "test": ["test", game],
        "cut": ["cut", str(shot), "--game", game, "--region", "r", "-o", str(tmp_path / "c.png")],
    }


ACCEPTED = ["0,0,1440,810", " 0, 0, 1440, 810 ", "480,270,960,540", "0,0,1920,1080"]
REFUSED = ["1,2,3", "1,2,3,4,5", "a,b,c,d", "0,0,0,810", "0,0,1440,-5", "-1,0,100,100",
           "0.5,0,100,100", "0,0,1921,1080", "1000,600,960,540", ""]


def test_the_same_viewport_text_is_accepted_or_refused_by_every_command(tmp_path, shot):
    """A game file that does not exist is loaded only after the options are parsed: an accepted
    viewport ends in the game-file error (1), a refused one in a usage error (2) naming X,Y,W,H."""
    missing = str(tmp_path / "missing.yaml")
    cmds = commands_with_viewport(tmp_path, shot, missing)
    for text in ACCEPTED + REFUSED:
        outcomes = {}
        for name, args in cmds.items():
            r = invoke(*args, "--viewport", text)
            assert "Traceback" not in r.output, (name, text, r.output)
            outcomes[name] = r.exit_code
            if r.exit_code == USAGE_ERROR:
                assert "X,Y,W,H" in r.output and "--viewport" in r.output, (name, text, r.output)
            else:
                assert r.exit_code == GAME_FILE_ERROR and "missing.yaml: file not found" in r.output, (name, text, r.output)
        want = GAME_FILE_ERROR if text in ACCEPTED else USAGE_ERROR
        assert outcomes == dict.fromkeys(cmds, want), (text, outcomes)


def test_an_accepted_viewport_reaches_the_engine_unchanged(tmp_path, shot):
    """--viewport 480,270,960,540 means the same box to `run` and to `cut`: the inset's
    top-left region lands at the inset's top-left corner."""
    game = tmp_path / "inset.yaml"
    game.write_text(textwrap.dedent("""\
        game: inset
        regions:
          r: {box: [0, 0, 192, 108], anchor: top-left}
        processors:
          p:
            fields:
              c: {color: {region: r}}
        """))
    img = np.zeros((1080, 1920, 3), np.uint8)
    img[270:270 + 54, 480:480 + 96] = (10, 20, 30)   # the region's box inside the inset viewport
    full = tmp_path / "full.png"
    cv2.imwrite(str(full), img)
    r = invoke("run", str(game), str(full), "--viewport", "480,270,960,540")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["p"]["c"] == [10.0, 20.0, 30.0]
    out = tmp_path / "cut.png"
    r = invoke("cut", str(full), "--game", str(game), "--region", "r", "-o", str(out), "--viewport", "480,270,960,540")
    assert r.exit_code == 0, r.output
    assert "480,270,96,54" in r.output


def _flags() -> dict[str, dict[str, str]]:
    """command -> {every spelling of an option: the option's long name}."""
    group = typer.main.get_command(app)
    out: dict[str, dict[str, str]] = {}
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        spellings: dict[str, str] = {}
        for p in cmd.params:
            opts = [o for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
            longs = [o for o in opts if o.startswith("--")]
            for o in opts:
                spellings[o] = longs[0] if longs else o
        out[name] = spellings
    return out


def test_every_option_spelling_means_one_thing_in_every_command():
    meaning: dict[str, tuple[str, str]] = {}
    clashes = []
    for cmd, spellings in _flags().items():
        for flag, long in spellings.items():
            if flag in meaning and meaning[flag][1] != long:
                clashes.append(f"{flag}: {meaning[flag][0]} {meaning[flag][1]}, {cmd} {long}")
            meaning.setdefault(flag, (cmd, long))
    assert not clashes, clashes
    assert meaning["-s"][1] == "--seek" and meaning["-r"][1] == "--fps"


def test_every_recording_command_bounds_it_with_the_same_options():
    flags = _flags()
    recording = [cmd for cmd, spellings in flags.items() if "--record" in spellings]
    assert set(recording) == {"run", "serve", "report"}
    for cmd in recording:
        assert {"--record-budget-mb", "--crops-every", "--crops-max-frames"} <= set(flags[cmd]), cmd
    assert not any("--budget-mb" in spellings for spellings in flags.values())


def test_shipped_games_are_found_by_name_from_any_folder(tmp_path, monkeypatch, shot, shared_data):
    """`otrig test apex` finds games/apex.yaml (and its samples) as `otrig check apex` does,
    from a folder with no games/ in it."""
    monkeypatch.chdir(tmp_path)
    r = invoke("check", "apex", "--assets", str(shared_data))
    assert r.exit_code == 0, r.output
    assert "game apex" in r.output
    r = invoke("test", "apex", "--assets", str(shared_data), "--only", "t8cp8hhm")
    assert r.exit_code == 0, r.output
    assert "ammo.clip" in r.output and "7/7 fields pass" in r.output
    r = invoke("run", "echo", str(shot))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["source"]["file"] == str(shot)


BROKEN = {
    "schema.yaml": ("game: x\nregions: {r: {box: [1, 2]}}\n", "schema.yaml:2:15: regions.r.box: expected a list of 4 numbers"),
    "syntax.yaml": ("game: [\n", "syntax.yaml:2:1: YAML syntax error"),
    "missing.yaml": (None, "missing.yaml: file not found"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_game_file_error_exits_alike_from_every_command(tmp_path, shot, name):
    text, message = BROKEN[name]
    game = tmp_path / name
    if text is not None:
        game.write_text(text)
    runs = {
        "check": ["check", str(game)],
        **commands_with_viewport(tmp_path, shot, str(game)),
    }
    for cmd, args in runs.items():
        r = invoke(*args)
        assert (cmd, r.exit_code) == (cmd, GAME_FILE_ERROR), r.output
        assert message in r.output, (cmd, r.output)
        assert "Traceback" not in r.output
