"""Finding game art: relative to the game file, its `assets:` folders, `--assets` and
`OTRIG_ASSETS`. Paths may not climb out of those roots."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Protocol

from engine.lang.yamlsrc import KeyPath, Located


class AssetContext(Protocol):
    """What a lookup needs from the load in progress: the roots, and the source for errors."""

    @property
    def src(self) -> Located: ...

    @property
    def asset_roots(self) -> list[Path]: ...


def asset_roots(game_dir: Path, file_assets: list[str], extra: list[str | Path]) -> list[Path]:
    roots = [game_dir.resolve()]
    roots += [(game_dir / a).resolve() for a in file_assets]
    roots += [Path(a).expanduser().resolve() for a in extra]
    env = os.environ.get("OTRIG_ASSETS")
    if env:
        roots += [Path(p).expanduser().resolve() for p in env.split(os.pathsep) if p]
    seen: list[Path] = []
    for r in roots:
        if r not in seen:
            seen.append(r)
    return seen


def _check_relative(pattern: str, ctx: AssetContext, path: KeyPath) -> None:
    p = Path(pattern)
    if p.is_absolute() or ".." in p.parts:
        raise ctx.src.error(path, f"asset path {pattern!r} must be relative to the asset roots, without '..'")


def resolve_glob(pattern: str, ctx: AssetContext, path: KeyPath, suffixes: tuple[str, ...] = (".png",)) -> list[Path]:
    """Files matching ``pattern`` (a glob or folder) in the first asset root that has any."""
    _check_relative(pattern, ctx, path)
    for root in ctx.asset_roots:
        target = root / pattern
        if target.is_dir():
            files = sorted(f for f in target.iterdir() if f.suffix.lower() in suffixes)
        else:
            files = sorted(Path(f) for f in glob.glob(str(target)) if Path(f).suffix.lower() in suffixes)
        files = [f for f in files if _inside(f, root)]
        if files:
            return files
    roots = ", ".join(str(r) for r in ctx.asset_roots)
    raise ctx.src.error(path, f"no {'/'.join(suffixes)} files match {pattern!r} in the asset roots ({roots}); "
                              f"cut templates from your own screenshots with `otrig cut` and pass --assets DIR")


def resolve_dir(name: str, ctx: AssetContext, path: KeyPath) -> Path:
    _check_relative(name, ctx, path)
    for root in ctx.asset_roots:
        if (root / name).is_dir():
            return root / name
    raise ctx.src.error(path, f"folder {name!r} not found in the asset roots")


def _inside(f: Path, root: Path) -> bool:
    try:
        f.resolve().relative_to(root)
        return True
    except ValueError:
        return False
