"""Crop tracking through a real landing: rendered athletes (exact joints), real MoveNet.

The TFLite Raspberry Pi example's torso-sized crop can cut the feet off in a deep, wide landing;
the kiosk's square must hold both true ankles on every frame from just before initial contact to
take-off, while actually cropping (not falling back to the whole frame).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.keypoints import LEFT_ANKLE, RIGHT_ANKLE
from kiosk.pose.crop import full_frame_region
from kiosk.pose.movenet import MoveNetEstimator, create_estimator


@pytest.fixture(scope="module")
def lightning() -> MoveNetEstimator:
    est = create_estimator("lightning", threads=2)
    yield est
    est.close()


@pytest.mark.parametrize("seed", [3, 11])
def test_ankles_stay_inside_the_crop_through_a_deep_wide_landing(lightning: MoveNetEstimator, seed: int) -> None:
    from kiosk.synth.clip import iter_frames
    from kiosk.synth.motion import make_events
    from kiosk.synth.params import SynthParams

    p = SynthParams(seed=seed, look_seed=seed, fps=30.0, depth_deg=95.0, stance_ratio=1.5,
                    valgus_left=15.0, valgus_right=12.0)
    ev = make_events(p)
    full = full_frame_region(p.width, p.height)
    lightning.reset()
    landing_err, cropped, frames = [], 0, 0
    for fr in iter_frames(p):
        kps = lightning.track(fr.image)
        region = lightning.last_region
        frames += 1
        cropped += region != full
        ankles = fr.joints[[LEFT_ANKLE, RIGHT_ANKLE]]
        assert region.contains(ankles).all(), f"t={fr.t:.3f}s: ankle outside the crop {region}"
        if ev.initial_contact - 0.05 <= fr.t <= ev.takeoff:
            landing_err.append(np.abs(kps[[LEFT_ANKLE, RIGHT_ANKLE], :2] - ankles).max())
    assert cropped >= 0.9 * frames  # the tracker really cropped around the athlete
    assert len(landing_err) >= 10
    assert np.median(landing_err) < 15.0, f"ankle error during the landing: median {np.median(landing_err):.1f} px"
