"""Shared fixtures. Reference data lives beside the checkout at ../shared/data (read-only)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kiosk.keypoints import NUM_KEYPOINTS
from kiosk.pose.base import PoseEstimator
from kiosk.store.sample import result_json

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference data folder; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("reference data not found at ../shared/data (next to the checkout); "
                    "this test checks against it")
    return SHARED_DATA


def write_bar_clip(folder: Path, fps: float, edges, *, crf: int, background: int) -> Path:
    """A 1.6 s clip.mp4 (160x120) whose bright bar grows one pixel a frame (its length encodes
    the frame number), with ``edges`` as its mat.csv beside it, for station tests without a body."""
    import numpy as np

    from kiosk.matcsv import format_mat_csv
    from kiosk.media import VideoWriter

    path = folder / "clip.mp4"
    with VideoWriter(path, fps, 160, 120, crf=crf) as w:
        for k in range(int(1.6 * fps)):
            img = np.full((120, 160, 3), background, np.uint8)
            img[:, : 2 + k % 150] = 200
            w.write(img)
    (folder / "mat.csv").write_text(format_mat_csv(edges))
    return path


# --- web app fixtures (Flask tutorial style): a fresh state folder and database per test -------

@pytest.fixture()
def app(tmp_path: Path):
    """The app with coach pages and API, no station runtime, its store in a temporary folder."""
    from kiosk.config import config_from_dict
    from kiosk.web import create_app

    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state"), "name": "Test station",
                                        "timezone": "UTC"},
                            "web": {"secret_key": "test-" + "k" * 32}})
    app = create_app(cfg)
    app.config["TESTING"] = True
    yield app
    app.extensions["kiosk_store"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def store(app):
    return app.extensions["kiosk_store"]


COACH_PASSWORD = "correct horse battery"


def csrf_from(html: str) -> str:
    """The CSRF token a page's forms carry."""
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture()
def coach(client, store):
    """A logged-in coach ("anna"): returns the CSRF token for the client's posts."""
    store.create_coach("anna", COACH_PASSWORD)
    token = csrf_from(client.get("/coach/login").get_data(as_text=True))
    r = client.post("/coach/login", data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return csrf_from(client.get("/coach/roster").get_data(as_text=True))


class BarEstimator(PoseEstimator):
    """Keypoints from the frame itself (the bar's length in a clip from ``write_bar_clip``), so
    the station tests' poses depend on the real frames the runtime hands over."""

    def estimate(self, image: np.ndarray) -> np.ndarray:
        kps = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        kps[:, 0] = float((image[60, :, 0] > 100).sum())
        kps[:, 1] = 60.0
        kps[:, 2] = 0.9
        return kps


@dataclass
class SampleResult:
    verdict: str
    data: dict

    def to_json(self) -> dict:
        return self.data


def sample_analyzer(poses, edges, *, frame_size, sex) -> SampleResult:
    """A stored-result-shaped verdict for station tests that exercise the runtime, not the analysis."""
    data = result_json(random.Random(len(poses)))
    return SampleResult(data["verdict"], data)
