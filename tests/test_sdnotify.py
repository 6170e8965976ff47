"""kiosk.sdnotify against real AF_UNIX datagram sockets, as systemd's notify socket is."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from kiosk.sdnotify import NotifyError, Watchdog, notify, watchdog_interval


@pytest.fixture
def listener(tmp_path: Path):
    """A bound datagram socket standing in for systemd; yields (NOTIFY_SOCKET value, recv)."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)

    def recv() -> str:
        return sock.recv(4096).decode()

    yield str(path), recv, sock
    sock.close()


def _pending(sock: socket.socket) -> list[str]:
    """Every datagram already queued, without waiting."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2.0)
    return out


def test_no_socket_is_a_silent_no_op():
    assert notify("READY=1", environ={}) is False
    wd = Watchdog(environ={})
    assert not wd.enabled
    assert wd.ready("up") is False
    assert wd.ping(force=True) is False
    assert wd.status("busy") is False
    assert wd.stopping() is False


def test_ready_watchdog_status_stopping_arrive(listener):
    addr, recv, sock = listener
    ticks = iter([0.0, 1.0, 6.0, 20.0, 21.0])
    wd = Watchdog(environ={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "30000000"}, clock=lambda: next(ticks))
    assert wd.interval == 30.0
    assert wd.ready("serving on :8080") is True
    assert recv() == "READY=1\nSTATUS=serving on :8080"
    # 1 s after ready: too soon (interval/2 = 15 s), nothing is sent.
    assert wd.ping() is False
    assert wd.ping() is False  # t=6
    assert wd.ping() is True   # t=20, 20 s after ready
    assert recv() == "WATCHDOG=1"
    assert wd.ping(force=True) is True  # t=21, forced
    assert recv() == "WATCHDOG=1"
    assert wd.status("camera\nunplugged") is True
    assert recv() == "STATUS=camera unplugged"
    assert wd.status("camera unplugged") is False  # unchanged: not re-sent
    assert wd.stopping("shutting down") is True
    assert recv() == "STOPPING=1\nSTATUS=shutting down"
    assert _pending(sock) == []


def test_abstract_socket(tmp_path: Path):
    name = f"jumpkiosk-test-{os.getpid()}-{tmp_path.name}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_status_from_many_threads_arrives_whole(listener):
    addr, recv, sock = listener
    wd = Watchdog(environ={"NOTIFY_SOCKET": addr})
    # 8 < net.unix.max_dgram_qlen (10): all fit the queue unread.
    threads = [threading.Thread(target=wd.status, args=(f"trial {i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = _pending(sock)
    assert got and all(m.startswith("STATUS=trial ") for m in got)
    assert len(got) <= 8


def test_full_queue_times_out_instead_of_hanging(listener):
    addr, recv, sock = listener
    sent = [notify(f"STATUS={i}", environ={"NOTIFY_SOCKET": addr}, timeout=0.05) for i in range(30)]
    assert sent[0] is True
    assert sent[-1] is False  # nobody read: the queue filled and the send gave up


def test_gone_socket_does_not_raise(tmp_path: Path):
    assert notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}) is False


def test_bad_address_is_refused():
    with pytest.raises(NotifyError, match="neither a path"):
        Watchdog(environ={"NOTIFY_SOCKET": "relative.sock"})


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "junk"}, None),
    ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
    ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
])
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env) == expected


def test_without_watchdog_ping_sends_nothing(listener):
    addr, recv, sock = listener
    wd = Watchdog(environ={"NOTIFY_SOCKET": addr})
    assert wd.interval is None
    assert wd.ping(force=True) is False
    assert _pending(sock) == []
