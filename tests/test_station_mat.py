"""Mat debounce maths, and the GPIO mat/button wiring through gpiozero's MockFactory."""

from __future__ import annotations

import random
import threading

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.matcsv import MatEdge
from kiosk.station.mat import Cues, Debouncer, GpioMat, MatEvent, SimulatedMat, StartButton, debounce

MS = 1_000_000


def bounce_train(t0: int, to: bool, offsets_ms: list[float]) -> list[tuple[int, bool]]:
    """Edges toward ``to`` at t0, then alternating at the given offsets, ending at ``to``."""
    edges = [(t0, to)]
    level = to
    for off in offsets_ms:
        level = not level
        edges.append((t0 + int(off * MS), level))
    assert edges[-1][1] == to, "a bounce train must settle on its target level"
    return edges


def test_first_edge_of_each_bounce_train_is_kept():
    contact, takeoff, landing = 1_000 * MS, 1_320 * MS, 1_780 * MS
    raw = (bounce_train(contact, True, [1, 2.5, 4, 5])
           + bounce_train(takeoff, False, [1.2, 3])
           + bounce_train(landing, True, [0.8, 1.6, 3.9, 4.2]))
    assert debounce(raw, 10 * MS) == [MatEvent(contact, True), MatEvent(takeoff, False), MatEvent(landing, True)]


def test_glitch_returning_to_level_is_ignored_and_repeats_are_harmless():
    raw = [(0, True), (200 * MS, False), (202 * MS, True), (500 * MS, True), (900 * MS, False)]
    assert debounce(raw, 10 * MS) == [MatEvent(0, True), MatEvent(900 * MS, False)]


def test_train_longer_than_window_splits_only_at_quiet_gaps():
    # bounces every 4 ms for 20 ms with a 10 ms window: one train, one event
    raw = bounce_train(0, True, [4, 8, 12, 16, 20, 24])
    assert debounce(raw, 10 * MS) == [MatEvent(0, True)]


@pytest.mark.parametrize("seed", range(20))
def test_random_bounces_recover_true_edges(seed: int):
    rng = random.Random(seed)
    t, level, truth, raw = 0, False, [], []
    for _ in range(12):
        t += rng.randint(150, 700) * MS
        level = not level
        truth.append(MatEvent(t, level))
        n = rng.choice([0, 2, 4])
        offs = sorted(rng.uniform(0.2, 5.0) for _ in range(n))
        raw += bounce_train(t, level, offs)
    assert debounce(raw, 10 * MS) == truth


def test_streaming_close_only_when_quiet():
    d = Debouncer(10 * MS)
    assert d.push(0, True) == []
    assert d.due_ns() == 10 * MS
    assert d.push(2 * MS, False) == []
    assert d.push(3 * MS, True) == []
    assert d.due_ns() == 13 * MS
    assert d.close() == [MatEvent(0, True)]
    assert d.level is True and not d.pending


class ManualClock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def _drive(pin, clock: ManualClock, edges: list[tuple[int, bool]]) -> None:
    for t, pressed in edges:
        clock.t = t
        (pin.drive_low if pressed else pin.drive_high)()  # switch to ground: low = contact


def test_gpio_mat_through_mock_pins_with_bounce_trains(factory):
    clock = ManualClock()
    mat = GpioMat(17, debounce_ms=10, pin_factory=factory, clock=clock)
    got: list[MatEvent] = []
    three = threading.Event()

    def listener(ev: MatEvent) -> None:
        got.append(ev)
        if len(got) == 3:
            three.set()

    mat.set_listener(listener)
    mat.start()
    try:
        assert mat.pressed is False  # pull-up, nobody on the mat
        pin = factory.pin(17)
        contact, takeoff, landing = 5_000 * MS, 5_290 * MS, 5_800 * MS
        _drive(pin, clock, bounce_train(contact, True, [1, 2, 3.5, 5]))
        _drive(pin, clock, bounce_train(takeoff, False, [1.5, 2.2]))
        _drive(pin, clock, bounce_train(landing, True, [1, 4.8]))
        clock.t = landing + 50 * MS  # quiet long enough: the closer thread ends the last train
        assert three.wait(5.0), f"only got {got}"
        assert got == [MatEvent(contact, True), MatEvent(takeoff, False), MatEvent(landing, True)]
        assert mat.pressed is True
        assert mat.raw_edges == 5 + 3 + 3
    finally:
        mat.close()


def test_sense_wire_reports_unplugged(factory):
    mat = GpioMat(17, pin_factory=factory, sense_pin=22)
    faults: list[str | None] = []
    mat.set_fault_listener(faults.append)
    sense = factory.pin(22)
    sense.drive_low()  # plug in: loop to ground
    mat.start()
    try:
        assert mat.connected
        sense.drive_high()
        assert not mat.connected
        assert faults and "unplugged" in faults[-1]
        sense.drive_low()
        assert faults[-1] is None
    finally:
        mat.close()


def test_start_button_presses_once_per_hold_off(factory):
    clock = ManualClock()
    presses: list[int] = []
    btn = StartButton(27, lambda: presses.append(clock.t), pin_factory=factory, clock=clock)
    pin = factory.pin(27)
    for t_ms, low in [(0, True), (1, False), (2, True), (3, False), (1000, True), (1100, False)]:
        clock.t = t_ms * MS
        (pin.drive_low if low else pin.drive_high)()
    btn.close()
    assert presses == [0, 1000 * MS]


def test_cues_follow_state(factory):
    cues = Cues(led_pin=5, buzzer_pin=6, pin_factory=factory)
    cues.on_state("awaiting_landing")
    assert cues.led_lit
    cues.on_state("result")
    assert not cues.led_lit
    cues.close()


def test_buzzer_beeps_through_the_countdown(factory):
    """One beep per countdown second: heard from the box, where the screen cannot be read."""
    cues = Cues(buzzer_pin=6, pin_factory=factory, countdown_s=2.0)
    pin = factory.pin(6)
    pin.clear_states()
    cues.on_state("countdown")
    cues._buzzer._blink_thread.join(timeout=10)          # the beeper ends after its beeps
    highs = [s.state for s in pin.states].count(True)
    cues.close()
    assert highs == 2


def test_simulated_mat_plays_edges_at_origin_plus_t():
    clock = ManualClock()
    mat = SimulatedMat([MatEdge(0.5, True), MatEdge(0.8, False), MatEdge(1.3, True)], clock=clock)
    got: list[MatEvent] = []
    done = threading.Event()

    def listener(ev: MatEvent) -> None:
        got.append(ev)
        if len(got) == 3:
            done.set()

    mat.set_listener(listener)
    mat.start()
    try:
        clock.t = 10 * 10**9
        mat.play(10 * 10**9)
        clock.t = 12 * 10**9  # the whole clip is due
        with mat._cond:
            mat._cond.notify()
        assert done.wait(5.0)
        assert [(e.t_ns - 10 * 10**9, e.pressed) for e in got] == [(500 * MS, True), (800 * MS, False), (1300 * MS, True)]
        assert mat.pressed
    finally:
        mat.close()
