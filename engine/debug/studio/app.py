"""The studio's HTTP app: the page, its script and style, and the JSON endpoints it calls.

Nothing is named by a path: a picture is the index of one given on the command line (and a
video's time), the page's files are a fixed list from templates/. Every error is JSON
``{"error": {"code", "message"}}`` (engine.plugin.app's shape), bad parameters are 400s
that say what was expected, and a Host header that is not loopback is refused (a web page
that rebinds its own name to 127.0.0.1 cannot read the author's frames).
"""
from __future__ import annotations

import json
import logging
import math
import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import bottle
import cv2
import numpy as np

from engine.debug.perturb import VARIANTS
from engine.debug.studio.frames import Shots
from engine.debug.studio.geometry import box_yaml, reference_box
from engine.debug.studio.live import LiveGame
from engine.debug.studio.runview import run_view
from engine.debug.studio.stress import Superseded, matching_sample, stress_view
from engine.lang.errors import SourceError
from engine.lang.shipped import templates_dir
from engine.plugin.app import JSON_TYPE, error_body, error_response, is_loopback
from engine.plugin.reload import scrub_paths
from engine.vision.frame import HEIGHT, WIDTH
from engine.vision.probe import PERCENTILES, probe
from engine.vision.regions import IntBox

log = logging.getLogger("otrig.studio")

# The page's own files: route -> (file in templates/, content type). Nothing else is served.
PAGE_FILES = {
    "/": ("studio.html", "text/html; charset=utf-8"),
    "/studio.css": ("studio.css", "text/css; charset=utf-8"),
    "/studio.js": ("studio.js", "application/javascript; charset=utf-8"),
}
ANCHORS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")
# A long poll answers after this long even without a change (below browsers' and proxies'
# idle timeouts; the page asks again at once).
WAIT_SECONDS = 5.0
KEEP_RUNS = 16


class BadRequest(Exception):
    """A request parameter that cannot be used; answered 400 with the message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(kw_only=True)
class Studio:
    """What the page works on: the live game, the pictures, and recent results."""

    live: LiveGame
    shots: Shots
    roots: tuple[Path, ...] = ()    # asset roots: where the samples' pictures are looked up
    # (what, id(game), shot, t) -> (game, view): the entry holds its game, so no other game can
    # take that id while it is cached
    _runs: OrderedDict[tuple[Any, ...], tuple[object, dict[str, Any]]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self) -> dict[str, Any]:
        live, game = self.live, self.live.game
        return {"game": game.name, "version": str(game.version), "file": live.source.path.name,
                "generation": live.generation, "good_generation": live.good_generation,
                "errors": live.errors_json(),
                "shots": [s.to_json() for s in self.shots.shots], "anchors": list(ANCHORS),
                "variants": {v.name: v.help for v in VARIANTS.values()},
                "reference": list(game.spec.reference)}

    def cached(self, game: object, key: tuple[Any, ...], make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        key = (id(game), *key)
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self._runs.move_to_end(key)
                return hit[1]
        made = make()
        with self._lock:
            self._runs[key] = (game, made)
            while len(self._runs) > KEEP_RUNS:
                self._runs.popitem(last=False)
        return made

    def run(self, shot: int, t: float) -> dict[str, Any]:
        # The generation is read before the game: a save landing between the two labels the
        # new game with the old generation, so the page's watcher runs it again; read the
        # other way round, an old game's run went out as the new save's and was never re-run.
        generation = self.live.generation
        game = self.live.game  # one snapshot: a save now is the next run's
        image, frame, t = self.shots.read(shot, t)
        view = self.cached(game, ("run", shot, t), lambda: run_view(game, image, frame))
        return {**self.state(), **view, "generation": generation, "shot": shot, "t": t,
                "stale": bool(self.live.last_config_error)}

    def stress(self, shot: int, t: float) -> dict[str, Any]:
        game = self.live.game
        image, frame, t = self.shots.read(shot, t)
        s = self.shots.shot(shot)
        sample = matching_sample(self.live.source.path, self.roots, s.path,
                                 frame.get("frame_no") if s.kind == "video" else None, self.live.source.viewport)
        try:
            view = self.cached(game, ("stress", shot, t),
                               lambda: stress_view(game, image, frame, sample, lambda: self.live.game is game))
        except Superseded:
            # a 200, not an error status: the page asked for something that is simply out of
            # date (and Chromium logs every 4xx as a console error)
            return {"superseded": True, "shot": shot, "t": t, "generation": self.live.generation}
        return {**view, "superseded": False, "shot": shot, "t": t, "generation": self.live.generation}

    def pixel(self, shot: int, t: float, x: int, y: int) -> dict[str, Any]:
        image, _, t = self.shots.read(shot, t)
        bgr = image[y, x]
        hsv = cv2.cvtColor(np.ascontiguousarray(image[y:y + 1, x:x + 1]), cv2.COLOR_BGR2HSV)[0, 0]
        return {"x": x, "y": y, "bgr": [int(v) for v in bgr], "hsv": [int(v) for v in hsv]}

    def box(self, shot: int, t: float, box: IntBox, anchor: str) -> dict[str, Any]:
        game = self.live.game
        image, frame, t = self.shots.read(shot, t)
        geo = game.graph.geometry(frame)
        ref = reference_box(game.graph.mapper, box, anchor, geo)
        p = probe(image, box)
        return {
            "box": list(box), "anchor": anchor, "reference": list(ref), "yaml": box_yaml(ref),
            "lands": list(game.graph.mapper.map(ref, anchor, geo)),  # the reference box mapped back
            "probe": {
                "percentiles": list(PERCENTILES), "channels": {c: list(v) for c, v in p.percentiles.items()},
                "ink_bright": p.ink_bright, "ink_share": round(p.ink_share, 4), "otsu": p.otsu,
                "ink_boxes": [list(b) for b in p.ink_boxes], "ink_bounds": list(p.ink_bounds) if p.ink_bounds else None,
                "inrange": None if p.inrange is None else {
                    "yaml": p.inrange.yaml(), "ink_kept": round(p.inrange.ink_kept, 4),
                    "background_kept": round(p.inrange.background_kept, 4)},
            },
        }

    def frame_jpeg(self, shot: int, t: float) -> bytes:
        image, _, _ = self.shots.read(shot, t)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise BadRequest("encode_failed", "the frame could not be encoded as JPEG", 500)
        return data.tobytes()


# ----------------------------------------------------------------------------- parameters

def _int(q: Any, name: str, lo: int, hi: int, default: int | None = None) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest("missing_parameter", f"give ?{name}= (a whole number from {lo} to {hi})")
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest("bad_parameter", f"{name}={raw!r} is not a whole number (expected {lo} to {hi})") from None
    if not lo <= v <= hi:
        raise BadRequest("bad_parameter", f"{name}={v} is outside {lo} to {hi}")
    return v


def _time(q: Any) -> float:
    raw = q.get("t") or "0"
    try:
        t = float(raw)
    except ValueError:
        raise BadRequest("bad_parameter", f"t={raw!r} is not a time in seconds") from None
    if not (math.isfinite(t) and t >= 0):
        raise BadRequest("bad_parameter", f"t={raw!r}: a time is a finite number of seconds, 0 or more")
    return t


def parse_box(raw: str | None) -> IntBox:
    """``X,Y,W,H`` in pixels of the 1920x1080 frame, with an area, inside it."""
    example = f"expected box=X,Y,W,H in pixels of the {WIDTH}x{HEIGHT} frame, e.g. box=1720,956,66,50"
    if not raw:
        raise BadRequest("missing_parameter", f"give ?box= ({example})")
    try:
        x, y, w, h = (int(p) for p in raw.split(","))
    except ValueError:
        raise BadRequest("bad_box", f"box={raw!r} is not four whole numbers ({example})") from None
    if w <= 0 or h <= 0:
        raise BadRequest("bad_box", f"box={raw!r} has no area: W and H must be above 0 ({example})")
    if x < 0 or y < 0 or x + w > WIDTH or y + h > HEIGHT:
        raise BadRequest("bad_box", f"box={raw!r} reaches outside the frame: X,Y >= 0, X+W <= {WIDTH}, "
                                    f"Y+H <= {HEIGHT}")
    return x, y, w, h


def host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8080`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


# ----------------------------------------------------------------------------- the app

class StudioApp:
    """The studio as a WSGI app. Routes are registered on a Bottle app used for its request
    handling; every answer, errors included, is JSON except the page's own files."""

    def __init__(self, studio: Studio, page_dir: Path | None = None):
        self.studio = studio
        self.page_dir = page_dir or templates_dir()
        self.routes = bottle.Bottle(catchall=True)
        self.routes.route("/<path:path>", method="ANY", callback=self.dispatch)
        self.routes.route("/", method="ANY", callback=self.dispatch)
        self.routes.default_error_handler = self.json_error

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body: Iterable[bytes] = self.routes(environ, start_response)
        return body

    def dispatch(self, path: str = "") -> Any:
        route = "/" + path
        method = bottle.request.method
        host = host_name(bottle.request.get_header("Host") or "")
        if host and not is_loopback(host):
            return error_response(403, "not_loopback", f"the studio answers requests for 127.0.0.1 or localhost "
                                                       f"only, not for Host {host!r}")
        if method not in ("GET", "HEAD"):
            return error_response(405, "method_not_allowed", f"{method} is not allowed; the studio only reads (GET)",
                                  headers={"Allow": "GET, HEAD"})
        try:
            if route in PAGE_FILES:
                return self.page_file(route)
            handler = self.api.get(route)
            if handler is None:
                return error_response(404, "not_found", f"no such route {route!r}; the page is at /, its data "
                                                        f"under /api/ ({', '.join(sorted(self.api))})")
            return handler(self, bottle.request.query)
        except BadRequest as e:
            return error_response(e.status, e.code, str(e))
        except IndexError as e:  # a picture index past the list
            return error_response(404, "no_such_picture", str(e))
        except SourceError as e:
            return error_response(422, "unreadable_picture", scrub_paths(str(e)))
        except Exception as e:  # noqa: BLE001 - a failure is JSON with a message, never a traceback page
            log.error("studio request %s failed:\n%s", route, traceback.format_exc())
            return error_response(500, "internal_error", f"{type(e).__name__}: {scrub_paths(str(e))}; "
                                                         f"see the studio's log")

    def page_file(self, route: str) -> bottle.HTTPResponse:
        name, ctype = PAGE_FILES[route]
        body = (self.page_dir / name).read_bytes()
        return bottle.HTTPResponse(body, status=200, headers={"Content-Type": ctype, "Cache-Control": "no-store"})

    # -- /api/... -----------------------------------------------------------------------
    def _shot_t(self, q: Any) -> tuple[int, float]:
        return _int(q, "shot", 0, len(self.studio.shots.shots) - 1, default=0), _time(q)

    def api_state(self, q: Any) -> bytes:
        return _json(self.studio.state())

    def api_wait(self, q: Any) -> bytes:
        since = _int(q, "since", 0, 2**31, default=0)
        self.studio.live.wait(since, WAIT_SECONDS)
        return _json(self.studio.state())

    def api_run(self, q: Any) -> bytes:
        return _json(self.studio.run(*self._shot_t(q)))

    def api_stress(self, q: Any) -> bytes:
        return _json(self.studio.stress(*self._shot_t(q)))

    def api_pixel(self, q: Any) -> bytes:
        shot, t = self._shot_t(q)
        return _json(self.studio.pixel(shot, t, _int(q, "x", 0, WIDTH - 1), _int(q, "y", 0, HEIGHT - 1)))

    def api_box(self, q: Any) -> bytes:
        shot, t = self._shot_t(q)
        anchor = q.get("anchor") or "center"
        if anchor not in ANCHORS:
            raise BadRequest("bad_anchor", f"anchor={anchor!r} is not one of {', '.join(ANCHORS)}")
        return _json(self.studio.box(shot, t, parse_box(q.get("box")), anchor))

    def api_frame(self, q: Any) -> bottle.HTTPResponse:
        body = self.studio.frame_jpeg(*self._shot_t(q))
        # no-store: the same URL is another picture once the studio restarts with other shots
        return bottle.HTTPResponse(body, status=200, headers={"Content-Type": "image/jpeg",
                                                              "Cache-Control": "no-store"})

    api: dict[str, Callable[[StudioApp, Any], Any]] = {
        "/api/state": api_state, "/api/wait": api_wait, "/api/run": api_run, "/api/stress": api_stress,
        "/api/pixel": api_pixel, "/api/box": api_box, "/api/frame": api_frame,
    }

    def json_error(self, err: bottle.HTTPError) -> bytes:
        bottle.response.content_type = JSON_TYPE
        if err.status_code >= 500:
            log.error("studio internal error: %s", err.traceback or err.body)
            return error_body(err.status_code, "internal_error", "the studio failed; see its log")
        return error_body(err.status_code, "http_error", str(err.body))


def _json(doc: dict[str, Any]) -> bytes:
    bottle.response.content_type = JSON_TYPE
    bottle.response.set_header("Cache-Control", "no-store")
    return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
