"""Tesseract, in process: one API object per (thread, configuration), created once and reused.

``tesserocr`` (its wheel bundles libtesseract) costs a few ms per small crop; ``pytesseract``
starts a process per call (~100 ms). ``pytesseract`` is kept only as the fallback where
``tesserocr`` cannot be imported. The API objects are not thread-safe, so each server thread
gets its own.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # pragma: no cover - depends on the platform's wheels
    import tesserocr
except ImportError:  # pragma: no cover
    tesserocr = None

_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


class OcrUnavailable(Exception):
    """Neither tesserocr nor the tesseract program can be used."""


def default_tessdata() -> str | None:
    env = os.environ.get("TESSDATA_PREFIX")
    if env and Path(env).is_dir():
        return env
    for c in _TESSDATA_CANDIDATES:
        if (Path(c) / "eng.traineddata").exists():
            return c
    return None


def backend_name() -> str:
    return "tesserocr" if tesserocr is not None else "pytesseract"


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "eng"
    psm: int = 7
    whitelist: str | None = None
    tessdata: str | None = None  # folder with <lang>.traineddata; None = the system's


# Tesseract APIs per setting: as many as OCR reads can run at once to any use (this machine
# has 2 cores; tesserocr releases the GIL while it reads), at most 4.
APIS = max(1, min(4, os.cpu_count() or 1))


class OcrEngine:
    """Reads text from a prepared crop. Holds per-thread Tesseract APIs for one config."""

    def __init__(self, config: OcrConfig, apis: int = APIS):
        self.config = config
        self.apis = max(1, apis)
        self.tessdata = config.tessdata or default_tessdata()
        # A pool rather than one API per thread: API objects are not thread-safe and cost
        # ~90 ms and ~12 MB each. All are built at load time (warm); a read waits for a free
        # one, never builds one inside a frame's time budget (a server's new worker threads
        # did, and ran out of budget on their first frames: issue 16).
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        self._built = 0  # APIs made so far (in the pool or in use)
        self._lock = threading.Lock()
        if tesserocr is None and shutil.which("tesseract") is None:
            raise OcrUnavailable("Tesseract is not installed: install the Debian package tesseract-ocr "
                                 "(or pip install tesserocr)")
        if self.tessdata is None:
            raise OcrUnavailable("no tessdata folder found: install tesseract-ocr-eng or set TESSDATA_PREFIX")
        lang_file = Path(self.tessdata) / f"{config.lang.split('+')[0]}.traineddata"
        if not lang_file.exists():
            raise OcrUnavailable(f"no traineddata for language '{config.lang}' in {self.tessdata}")

    def _new_api(self):  # noqa: ANN202 - tesserocr has no type stubs
        api = tesserocr.PyTessBaseAPI(path=self.tessdata, lang=self.config.lang, psm=self.config.psm,
                                      oem=tesserocr.OEM.LSTM_ONLY)
        if self.config.whitelist:
            api.SetVariable("tessedit_char_whitelist", self.config.whitelist)
        return api

    def warm(self) -> None:
        """Create the pool's APIs now (load time), so no frame pays for one."""
        if tesserocr is not None:
            with self._lock:
                n, self._built = self.apis - self._built, self.apis
            for _ in range(n):
                self._pool.put(self._new_api())

    def read(self, img: np.ndarray) -> tuple[str, float]:
        """Text and mean confidence (0-100) of a grey or BGR crop."""
        if img.size == 0:
            return "", 0.0
        if img.ndim == 3:
            img = img[:, :, ::-1]  # Tesseract wants RGB
        img = np.ascontiguousarray(img)
        if tesserocr is None:
            return self._read_subprocess(img)
        try:
            api = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                build = self._built < self.apis  # not warmed: the first ones are built on demand
                if build:
                    self._built += 1
            if not build:
                api = self._pool.get()  # wait for a free one: a read takes 2-7 ms
            else:
                try:
                    api = self._new_api()
                except BaseException:
                    with self._lock:  # the slot stays free for the next try
                        self._built -= 1
                    raise
        try:
            h, w = img.shape[:2]
            bpp = 1 if img.ndim == 2 else 3
            api.SetImageBytes(img.tobytes(), w, h, bpp, w * bpp)
            text = api.GetUTF8Text()
            conf = _symbol_confidence(api)
        finally:
            self._pool.put(api)
        return text.strip(), max(conf, 0.0)

    def _read_subprocess(self, img: np.ndarray) -> tuple[str, float]:  # pragma: no cover - fallback
        import pytesseract
        cfg = f"--psm {self.config.psm} --oem 1 --tessdata-dir {self.tessdata}"
        if self.config.whitelist:
            cfg += f" -c tessedit_char_whitelist={self.config.whitelist}"
        try:
            data = pytesseract.image_to_data(img, lang=self.config.lang, config=cfg,
                                             output_type=pytesseract.Output.DICT)
        except (pytesseract.TesseractError, subprocess.SubprocessError) as e:
            raise RuntimeError(f"tesseract failed: {e}") from None
        words = [w for w, c in zip(data["text"], data["conf"]) if str(w).strip()]
        confs = [float(c) for w, c in zip(data["text"], data["conf"]) if str(w).strip() and float(c) >= 0]
        return " ".join(words), (sum(confs) / len(confs) if confs else 0.0)


def _symbol_confidence(api) -> float:  # noqa: ANN001 - tesserocr has no type stubs
    """Mean confidence of the characters read.

    Tesseract's word confidence collapses to ~0 under a character whitelist (the LSTM's
    rejected alternatives count against the word) even when every character is read at 90+:
    "100" whitelisted to digits scores 0. The characters' own confidences do not.
    """
    it = api.GetIterator()
    if it is None:
        return float(api.MeanTextConf())
    level = tesserocr.RIL.SYMBOL
    confs = [r.Confidence(level) for r in tesserocr.iterate_level(it, level)]
    confs = [c for c in confs if c >= 0]
    return sum(confs) / len(confs) if confs else float(api.MeanTextConf())
