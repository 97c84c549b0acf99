"""`otrig probe`: measure a box of a screenshot before writing its step (colours, ink, an inrange)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cli.cut import locate, parse_box
from cli.options import INPUT_ERROR, PixelBox, ViewportOpt, fail
from engine.vision.regions import Anchor, IntBox

if TYPE_CHECKING:
    import numpy as np

    from engine.vision.probe import Probe


def probe(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="A screenshot (any size; resized to 1920x1080 like "
                                         "a frame).")],
    box: Annotated[Optional[PixelBox], typer.Option(
        "--box", parser=parse_box, metavar="X,Y,W,H", show_default=False,
        help="The box to measure: the game's reference pixels mapped like a region with --game, else pixels of "
             "the 1920x1080 frame.")] = None,
    game: Annotated[Optional[str], typer.Option("--game", "-g", metavar="GAME", help="The game file (or shipped "
                                                "game's name) whose region to measure, or whose reference pixels "
                                                "--box is in.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Region name in the game file.")] = None,
    anchor: Annotated[Optional[Anchor], typer.Option(
        "--anchor", show_default=False, help="With --box and --game: the edge or corner the box sticks to on "
                                             "other aspect ratios (default: center).")] = None,
    viewport: ViewportOpt = None,
    index: Annotated[int, typer.Option("--index", help="Which box of a multi-box region (0-based).")] = 0,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG of the box's surroundings, enlarged, with the "
                                         "box (green) and the ink found in it (red) drawn.")] = Path("probe.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the measurements as one JSON object.")] = False,
) -> None:
    """Measure a box of a screenshot: colour percentiles (BGR and HSV), the text's ink, an
    `inrange` prep op that keeps the ink (widened as far as the background allows, so that other
    captures of the text still fall inside) and what share of the background it lets in, and the
    ink's boxes (to size a region around the text).

    \b
      otrig probe shot.png --box 1729,961,54,37
      otrig probe shot.png --game games/apex.yaml --region clip
    """
    from engine.vision.probe import probe as measure

    at = locate("probe", image, game=game, region=region, box=box, anchor=anchor, viewport=viewport, index=index)
    img, where = at.image, at.boxes[0]
    result = measure(img, where)
    _draw(img, result, output)
    typer.echo(json.dumps(_as_json(result, output)) if as_json else _as_text(result, output))


def _as_json(p: Probe, png: Path) -> dict[str, object]:
    return {
        "box": list(p.box), "percentiles": {c: list(v) for c, v in p.percentiles.items()},
        "ink": {"bright": p.ink_bright, "share": round(p.ink_share, 4), "otsu": p.otsu,
                "boxes": [list(b) for b in p.ink_boxes], "bounds": list(p.ink_bounds) if p.ink_bounds else None},
        "inrange": None if p.inrange is None else {
            "yaml": p.inrange.yaml(), "ranges": [[list(lo), list(hi)] for lo, hi in p.inrange.ranges],
            "ink_kept": round(p.inrange.ink_kept, 4), "background_kept": round(p.inrange.background_kept, 4)},
        "png": str(png),
    }


def _as_text(p: Probe, png: Path) -> str:
    from engine.vision.probe import PERCENTILES

    x, y, w, h = p.box
    lines = [f"box {x},{y},{w},{h} (frame pixels)", "",
             "channel  " + "  ".join(f"p{q:<3}" for q in PERCENTILES)]
    for c, values in p.percentiles.items():
        lines.append(f"{c:<7}  " + "  ".join(f"{v:>4}" for v in values))
    lines.append("")
    if p.inrange is None:
        lines.append("ink: none told apart (the box is one flat colour)")
    else:
        lines.append(f"ink: {'bright on dark' if p.ink_bright else 'dark on bright'}, {p.ink_share:.0%} of the box "
                     f"(grey cut at {p.otsu}: polarity: {'bright' if p.ink_bright else 'dark'})")
        r = p.inrange
        lines.append(f"inrange keeping it: {r.yaml()}")
        lines.append(f"  keeps {r.ink_kept:.0%} of the ink and {r.background_kept:.0%} of the background"
                     + ("  <- the background shares the text's colours: prefer grey + threshold/polarity"
                        if r.background_kept > 0.10 else ""))
        if p.ink_bounds is not None:
            bx, by, bw, bh = p.ink_bounds
            lines.append(f"ink bounds: {bx},{by},{bw},{bh} ({len(p.ink_boxes)} blobs; text height {bh} px)")
            lines.extend(f"  blob {b[0]},{b[1]},{b[2]},{b[3]}" for b in p.ink_boxes[:12])
            if len(p.ink_boxes) > 12:
                lines.append(f"  ... and {len(p.ink_boxes) - 12} more")
    lines.append(f"picture: {png}")
    return "\n".join(lines)


def _draw(img: np.ndarray, p: Probe, out: Path) -> None:
    """The box with a margin around it, enlarged to about 800 px wide, box and ink drawn."""
    import cv2

    x, y, w, h = p.box
    m = max(8, max(w, h) // 2)
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(img.shape[1], x + w + m), min(img.shape[0], y + h + m)
    k = max(1, min(8, 800 // max(1, x1 - x0)))
    view = cv2.resize(img[y0:y1, x0:x1], None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)

    def rect(b: IntBox, colour: tuple[int, int, int]) -> None:
        bx, by, bw, bh = b
        cv2.rectangle(view, ((bx - x0) * k, (by - y0) * k), ((bx - x0 + bw) * k - 1, (by - y0 + bh) * k - 1),
                      colour, 1)

    for b in p.ink_boxes:
        rect(b, (0, 0, 255))
    rect(p.box, (0, 255, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), view):
        raise fail("probe", f"{out}: could not write (is the suffix an image type?)", INPUT_ERROR)
