"""``jumpkiosk analyze`` end to end: real clips and photos, real MoveNet, real output files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.cli import main
from kiosk.keypoints import KEYPOINT_NAMES, KP
from kiosk.media import VideoWriter, open_source, read_image
from kiosk.pose.base import estimate_frames
from kiosk.pose.recorded import RecordedEstimator


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The first 15 frames of the TF.js reference clip, re-encoded (keeps the test quick)."""
    out = tmp_path_factory.mktemp("clips") / "pose_short.mp4"
    info, frames = open_source(shared_data / "tfjs-movenet-reference" / "pose_1.mp4")
    with VideoWriter(out, info.fps or 30.0, info.width, info.height, crf=18) as vw:
        for f in frames:
            if f.index >= 15:
                break
            vw.write(f.image)
    return out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_keypoints_json_layout(short_clip: Path, shared_data: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    photo = shared_data / "tf-pose-test" / "image1.png"
    out = tmp_path / "kp.json"
    code, stdout, err = _run(capsys, str(short_clip), str(photo), "--model", "lightning", "--threads", "2",
                             "--keypoints-out", str(out))
    assert code == 0, err
    assert "wrote" in stdout
    doc = json.loads(out.read_text())
    assert doc["model"] == "lightning" and doc["keypoint_names"] == list(KEYPOINT_NAMES)
    clip, still = doc["sources"]
    assert {"path", "fps", "width", "height", "frames"} <= set(clip)
    assert (clip["fps"], clip["width"], clip["height"]) == (30.0, 576, 576)
    assert [f["index"] for f in clip["frames"]] == list(range(15))
    np.testing.assert_allclose([f["t"] for f in clip["frames"]], np.arange(15) / 30.0, atol=1e-5)
    for f in clip["frames"]:
        kps = np.array(f["keypoints"])
        assert kps.shape == (17, 3) and (kps[:, 2] >= 0).all() and (kps[:, 2] <= 1).all()
    assert still["fps"] is None and (still["width"], still["height"]) == (384, 640)
    assert len(still["frames"]) == 1 and still["frames"][0]["t"] == 0.0
    lhip, rhip = (still["frames"][0]["keypoints"][KP[n]] for n in ("left_hip", "right_hip"))
    assert lhip[0] > rhip[0]

    # The file replays through RecordedEstimator to the same poses, without the model.
    replay = RecordedEstimator.from_file(out, source=short_clip.name)
    _, frames = open_source(short_clip)
    poses = estimate_frames(replay, frames)
    np.testing.assert_allclose(np.stack([p.keypoints for p in poses]),
                               np.array([f["keypoints"] for f in clip["frames"]]), atol=1e-6)


def test_summary_without_outputs(short_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(short_clip), "--threads", "2")
    assert code == 0, err
    line = out.strip()
    assert line.startswith(str(short_clip)) and "15 frames" in line and "576x576" in line
    scores = {g: float(line.split(f"{g} ")[1].split(",")[0].split()[0]) for g in ("hips", "knees", "ankles")}
    assert all(0.3 < v <= 1.0 for v in scores.values()), scores


def test_overlay_video_and_photo(short_clip: Path, shared_data: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "overlay.mp4"
    code, _, err = _run(capsys, str(short_clip), "--threads", "2", "--overlay-out", str(out))
    assert code == 0, err
    info, frames = open_source(out)
    drawn = list(frames)
    assert (info.width, info.height) == (576, 576) and len(drawn) == 15
    _, src_frames = open_source(short_clip)
    src = next(iter(src_frames)).image
    assert np.abs(drawn[0].image.astype(int) - src.astype(int)).mean() > 0.5  # something was drawn

    photo = shared_data / "tf-pose-test" / "image2.jpeg"
    png = tmp_path / "overlay.png"
    code, _, err = _run(capsys, str(photo), "--model", "thunder", "--threads", "2", "--overlay-out", str(png))
    assert code == 0, err
    img = read_image(png)
    assert img.shape == read_image(photo).shape


@pytest.mark.parametrize("case", ["missing", "empty", "text_as_mp4", "truncated", "zero_frames"])
def test_bad_inputs_exit_nonzero_with_one_line(case: str, short_clip: Path, tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    if case == "missing":
        path = tmp_path / "missing.mp4"
    elif case == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif case == "text_as_mp4":
        path = tmp_path / "readme.mp4"
        path.write_text("not a video at all\n")
    elif case == "truncated":
        path = tmp_path / "cut.mp4"
        path.write_bytes(short_clip.read_bytes()[: short_clip.stat().st_size // 4])
    else:  # a valid container whose video stream holds no frames
        import av

        path = tmp_path / "noframes.avi"
        with av.open(str(path), "w") as c:
            s = c.add_stream("mpeg4", rate=30)
            s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
            c.start_encoding()
    kp = tmp_path / "kp.json"
    code, out, err = _run(capfd, str(path), "--threads", "1", "--keypoints-out", str(kp))
    assert code == 2
    lines = err.strip().splitlines()  # fd-level: the runtime's native log lines count too
    assert len(lines) == 1 and lines[0].startswith("jumpkiosk: error: ") and path.name in lines[0], err
    expected = {"missing": "no such file", "empty": "file is empty", "text_as_mp4": "not a video",
                "truncated": "not a video", "zero_frames": "no frames"}[case]
    assert expected in lines[0]
    assert not kp.exists()  # nothing half-written


def test_bad_output_options_fail_before_inference(short_clip: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "second.mp4"
    shutil.copy(short_clip, other)
    code, _, err = _run(capsys, str(short_clip), str(other), "--overlay-out", str(tmp_path / "o.mp4"))
    assert code == 2 and "--overlay-out takes one input" in err
    code, _, err = _run(capsys, str(short_clip), "--overlay-out", str(tmp_path / "o.png"))
    assert code == 2 and "must be mp4" in err
    code, _, err = _run(capsys, str(short_clip), "--keypoints-out", str(tmp_path / "no" / "such" / "kp.json"))
    assert code == 2 and "does not exist" in err
    code, _, err = _run(capsys, str(short_clip), "--threads", "0")
    assert code == 2 and "--threads" in err
