"""Capture variants for `otrig test --stress`: the same frames as another capture would give them.

A game file tuned on a handful of screenshots can depend on their exact pixels. Other
captures of the same game differ in predictable ways: heavier compression, a lower capture
resolution scaled up, a picture shifted by a pixel or two, sensor or encoder noise, a darker
picture. Re-reading the golden samples under each tells a game author which fields are
fragile, and, more important, which ones then read a wrong value instead of null.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

Frame = np.ndarray


def _jpeg(quality: int) -> Callable[[Frame], Frame]:
    def apply(img: Frame) -> Frame:
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        return img if decoded is None else decoded
    return apply


def _from_720p(img: Frame) -> Frame:
    h, w = img.shape[:2]
    small = cv2.resize(img, (w * 2 // 3, h * 2 // 3), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _via_1440p(img: Frame) -> Frame:
    # a 2560x1440 capture resized to the protocol's 1920x1080 by the sender (INTER_AREA, as
    # otrig extract does): edges resampled twice
    h, w = img.shape[:2]
    big = cv2.resize(img, (w * 4 // 3, h * 4 // 3), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)


def _shift(dx: int, dy: int) -> Callable[[Frame], Frame]:
    def apply(img: Frame) -> Frame:
        h, w = img.shape[:2]
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return apply


def _noise(sigma: float) -> Callable[[Frame], Frame]:
    def apply(img: Frame) -> Frame:
        rng = np.random.default_rng(0)  # the same noise every run: results are comparable
        noisy = img.astype(np.int16) + rng.normal(0, sigma, img.shape).astype(np.int16)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    return apply


def _gain(factor: float) -> Callable[[Frame], Frame]:
    return lambda img: cv2.convertScaleAbs(img, alpha=factor)


@dataclass(frozen=True)
class Variant:
    name: str
    help: str
    apply: Callable[[Frame], Frame]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("jpeg60", "JPEG at quality 60 (a compressed screenshot or stream)", _jpeg(60)),
    Variant("jpeg40", "JPEG at quality 40 (a heavily compressed stream grab)", _jpeg(40)),
    Variant("720p", "captured at 1280x720 and scaled up to 1920x1080", _from_720p),
    Variant("1440p", "captured at 2560x1440 and scaled down to 1920x1080", _via_1440p),
    Variant("shift+2", "the picture 2 px right and down (a capture cropped differently)", _shift(2, 2)),
    Variant("shift-2", "the picture 2 px left and up", _shift(-2, -2)),
    Variant("noise4", "Gaussian noise, sigma 4 grey levels", _noise(4.0)),
    Variant("dim85", "15% darker (another gamma, HDR tone mapping, a dim scene)", _gain(0.85)),
)}


def parse_variants(text: str) -> list[Variant]:
    """``all`` or a comma-separated list of variant names."""
    if text.strip() == "all":
        return list(VARIANTS.values())
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown capture variant {', '.join(unknown) or repr(text)}; "
                         f"expected all or some of: {', '.join(VARIANTS)}")
    return [VARIANTS[n] for n in names]
