"""A really full disk (a small tmpfs filled to ENOSPC): a coach can still log in to prune, because
the store keeps a space reserve and frees it when the disk fills."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.config import config_from_dict
from kiosk.store.db import RESERVE_NAME
from kiosk.web import create_app


@pytest.fixture()
def small_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="jk-full-", dir="/tmp"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        folder.rmdir()


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(bytes(256 * 1024))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # the last partial block too
    try:
        with open(folder / "filler2", "wb") as fh:
            while True:
                fh.write(b"x" * 512)
                fh.flush()
    except OSError:
        pass


def test_a_coach_can_log_in_on_a_full_disk(small_disk: Path) -> None:
    from conftest import COACH_PASSWORD, csrf_from

    state = small_disk / "state"
    cfg = config_from_dict({"station": {"state_dir": str(state), "name": "Full"}, "web": {"secret_key": "d" * 40},
                            "store": {"min_free_mb": 10}})
    app = create_app(cfg)
    store = app.extensions["kiosk_store"]
    try:
        assert (state / RESERVE_NAME).is_file()  # held while there is room
        store.create_coach("anna", COACH_PASSWORD)
        client = app.test_client()
        token = csrf_from(client.get("/coach/login").get_data(as_text=True))
        _fill(small_disk)
        r = client.post("/coach/login", data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token})
        assert r.status_code == 302, r.get_data(as_text=True)[:300]
        assert not (state / RESERVE_NAME).exists()  # it made the room
        assert client.get("/coach/").status_code in (200, 302)
    finally:
        store.close()
