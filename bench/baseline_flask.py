"""The original tool's plugin path, as the bench's baseline: a Flask echo server that reads
the ``image`` part with ``request.files['image'].read()``, views it with ``np.frombuffer``
and returns the frame JSON. Clients post to it with ``requests.post(url, files=...)``.

    .venv/bin/python bench/baseline_flask.py --port 5001      # 127.0.0.1 only
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from flask import Flask, Response, request

app = Flask(__name__)


@app.route("/", methods=["POST"])
def frame() -> Response:
    data = request.files["image"].read()
    image = np.frombuffer(data, dtype=np.uint8).reshape((1080, 1920, 3))
    meta = json.loads(request.files["frame"].read())
    meta["bench"] = {"mean": int(image[540, 960, 0])}
    return Response(json.dumps(meta), mimetype="application/json")


def post_original(url: str, image: np.ndarray, frame: dict) -> dict:
    """How the original tool posted a frame: ``requests.post`` with ``files=`` (a new
    connection per frame, the body assembled in memory)."""
    import requests
    r = requests.post(url, files={"image": ("image", image.tobytes()), "frame": ("frame", json.dumps(frame))})
    r.raise_for_status()
    return r.json()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=a.port, threaded=True)


if __name__ == "__main__":
    main()
