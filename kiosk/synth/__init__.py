"""The synthetic athlete: a rendered drop vertical jump with exact joints, FPPA, KASR and mat events.

``sample_params(seed, **overrides)`` picks a trial, ``iter_frames(params)`` yields frames with
their true joints, ``render_clip(params, folder)`` writes ``clip.mp4``, ``mat.csv`` and
``truth.json``. Importing this package imports neither OpenCV nor PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk.synth.params import SynthParams, sample_params

if TYPE_CHECKING:
    from kiosk.synth.clip import SynthFrame, Truth

__all__ = ["SynthParams", "sample_params", "render_clip", "iter_frames", "Truth", "SynthFrame"]


def __getattr__(name: str) -> Any:
    # the renderer needs OpenCV and PyAV: load it on first use only
    if name in ("render_clip", "iter_frames", "Truth", "SynthFrame", "ClipRenderer"):
        from kiosk.synth import clip

        return getattr(clip, name)
    raise AttributeError(name)
