"""The import rule: each layer of the engine imports only the layers below it.

    lang <- vision <- steps <- runtime <- media, plugin, debug <- cli
    (media: lang, vision only; batch: runtime and media, for cli)

Checked on the source text (every `import engine.x` / `from engine.x import`, lazy imports
inside functions included), so a violation fails here before it becomes a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "lang": set(),
    "vision": {"lang"},
    "steps": {"lang", "vision"},
    "runtime": {"lang", "vision", "steps"},
    "media": {"lang", "vision"},
    "plugin": {"lang", "vision", "steps", "runtime", "media"},
    "debug": {"lang", "vision", "steps", "runtime", "media", "plugin"},
    # runs games (runtime) on sources (media) across a Dask cluster; media may not import runtime
    "batch": {"lang", "vision", "steps", "runtime", "media"},
    "cli": {"lang", "vision", "steps", "runtime", "media", "plugin", "debug", "batch", "engine"},
}


def _layer(module_file: Path) -> str:
    rel = module_file.relative_to(ROOT).parts
    return rel[0] if rel[0] == "cli" else (rel[1] if len(rel) > 2 else "engine")


def _imported_layers(tree: ast.AST) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names] if node.module == "engine" else [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "engine" and len(parts) > 1:
                found.add((parts[1], node.lineno))
            elif parts[0] == "cli":
                found.add(("cli", node.lineno))
    return found


def _modules() -> list[Path]:
    files = sorted((ROOT / "engine").rglob("*.py")) + sorted((ROOT / "cli").rglob("*.py"))
    return [f for f in files if f.parent != ROOT / "engine" or f.name != "__init__.py"]


def test_every_layer_is_known() -> None:
    layers = {p.name for p in (ROOT / "engine").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert layers == set(ALLOWED) - {"cli"}, "a new engine sub-package needs its place in ALLOWED"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(module: Path) -> None:
    layer = _layer(module)
    tree = ast.parse(module.read_text(encoding="utf-8"))
    bad = [f"{module.relative_to(ROOT)}:{line}: {layer} imports {target}"
           for target, line in sorted(_imported_layers(tree), key=lambda t: t[1])
           if target != layer and target in ALLOWED and target not in ALLOWED[layer]]
    assert not bad, "\n".join(bad)


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    tree = ast.parse("def f():\n    from engine.plugin.protocol import build_answer\n")
    assert ("plugin", 2) in _imported_layers(tree)
