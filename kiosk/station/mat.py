"""The contact mat, the start button and the LED/buzzer cues, on gpiozero.

Timing is what matters here: 1 ms of flight-time error is ~1.2 mm of jump height, and the mat
edges choose which camera frames get analysed. gpiozero callbacks carry no timestamp and lgpio's
own debounce delays edges by the debounce time, so the mat runs with ``bounce_time=None``, stamps
every raw edge with ``time.monotonic_ns()`` (the camera's clock) the moment the callback runs,
and debounces in software, keeping the FIRST edge of a bounce train as the event time.

The debounce maths (:class:`Debouncer`, :func:`debounce`) is pure and tested on its own; the
GPIO classes only stamp edges and deliver them. gpiozero pin factories are imported lazily.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kiosk.errors import MatError
from kiosk.matcsv import MatEdge


@dataclass(frozen=True)
class MatEvent:
    """One debounced change of the mat: time on the monotonic clock (ns), True = contact."""

    t_ns: int
    pressed: bool


EdgeListener = Callable[[MatEvent], None]


class Debouncer:
    """Streaming software debounce that keeps the first edge of each bounce train.

    A train is a run of raw edges each less than ``window_ns`` after the previous one. When a
    train ends (a new edge arrives later than the window, or :meth:`close` is called once the
    line has been quiet), its final level decides: if it differs from the last reported level,
    one event is reported, stamped with the train's first edge toward that level; if the train
    returns to where it started it was a glitch and nothing is reported. Pure: it never reads a
    clock, callers pass the times.
    """

    def __init__(self, window_ns: int, initial: bool = False):
        self.window_ns = int(window_ns)
        self.level = initial                  # last reported (debounced) level
        self._train: list[tuple[int, bool]] = []

    @property
    def pending(self) -> bool:
        return bool(self._train)

    @property
    def last_raw_ns(self) -> int | None:
        return self._train[-1][0] if self._train else None

    def push(self, t_ns: int, pressed: bool) -> list[MatEvent]:
        """Add one raw edge; returns the event of the train this edge ended, if any."""
        out: list[MatEvent] = []
        if self._train and t_ns - self._train[-1][0] >= self.window_ns:
            out = self.close()
        if not self._train and pressed == self.level:
            # A repeated level after a settled train (a missed opposite edge): nothing changed.
            return out
        self._train.append((int(t_ns), bool(pressed)))
        return out

    def close(self) -> list[MatEvent]:
        """End the current train (the line has been quiet for the window)."""
        train, self._train = self._train, []
        if not train or train[-1][1] == self.level:
            return []
        final = train[-1][1]
        t_first = next(t for t, p in train if p == final)
        self.level = final
        return [MatEvent(t_first, final)]

    def due_ns(self) -> int | None:
        """Clock time at which the pending train can be closed, or None when nothing is pending."""
        return self._train[-1][0] + self.window_ns if self._train else None


def debounce(raw: Iterable[tuple[int, bool]], window_ns: int, initial: bool = False) -> list[MatEvent]:
    """Debounced events of a whole list of raw ``(t_ns, pressed)`` edges (see :class:`Debouncer`)."""
    d = Debouncer(window_ns, initial)
    out: list[MatEvent] = []
    for t, p in raw:
        out += d.push(t, p)
    return out + d.close()


def events_to_edges(events: Sequence[MatEvent], t0_ns: int) -> list[MatEdge]:
    """Mat events as :class:`kiosk.matcsv.MatEdge` in seconds from ``t0_ns`` (the analysis clock)."""
    return [MatEdge((e.t_ns - t0_ns) / 1e9, e.pressed) for e in events]


class Mat(ABC):
    """A contact mat: reports debounced edges to one listener; ``pressed`` is the current level."""

    #: False for the no-mat mode, where landing events come from the video.
    has_mat: bool = True

    def __init__(self) -> None:
        self._listener: EdgeListener | None = None
        self._fault_listener: Callable[[str | None], None] | None = None

    def set_listener(self, listener: EdgeListener | None) -> None:
        self._listener = listener

    def set_fault_listener(self, listener: Callable[[str | None], None] | None) -> None:
        """Called with a message when the mat is unplugged, and with None when it is back."""
        self._fault_listener = listener

    def _emit(self, events: Iterable[MatEvent]) -> None:
        for ev in events:
            if self._listener is not None:
                self._listener(ev)

    @property
    @abstractmethod
    def pressed(self) -> bool:
        """Debounced level now: True while someone stands on the mat."""

    @property
    def connected(self) -> bool:
        """False when the mat's cable is known to be unplugged (needs a sense wire)."""
        return True

    def start(self) -> None:
        """Begin delivering edges."""

    def close(self) -> None:
        """Release pins and threads."""


def make_pin_factory(name: str):  # -> gpiozero Factory | None
    """The gpiozero pin factory named in ``[mat] pin_factory``; None lets gpiozero choose."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if name == "lgpio":
        try:
            from gpiozero.pins.lgpio import LGPIOFactory
        except ImportError as exc:
            raise MatError("lgpio is not installed: on Raspberry Pi OS run `sudo apt install python3-lgpio`") from exc
        try:
            return LGPIOFactory()
        except Exception as exc:  # lgpio raises its own error types when no GPIO chip exists
            raise MatError(f"cannot open the GPIO chip ({exc}); is this a Raspberry Pi?") from None
    return None


#: What to install when gpiozero finds no pin library (its own message says only "Unable to load
#: any default pin factory!"). Named here once: the station's fault and doctor's FAIL line show it.
NO_GPIO_LIBRARY = ("no GPIO library: on Raspberry Pi OS run `sudo apt install python3-lgpio`; "
                   "off a Pi use [mat] kind = \"none\" (events from the video) or \"simulated\"")


def _button(pin: int, factory, what: str):
    import warnings

    from gpiozero import Button
    from gpiozero.exc import BadPinFactory, GPIOZeroError

    try:
        with warnings.catch_warnings():  # gpiozero warns once per factory it tries; the error says it all
            warnings.simplefilter("ignore")
            return Button(pin, pull_up=True, bounce_time=None, pin_factory=factory)
    except BadPinFactory:
        raise MatError(f"{what} on GPIO{pin}: {NO_GPIO_LIBRARY}") from None
    except GPIOZeroError as exc:
        raise MatError(f"{what} on GPIO{pin} cannot be opened ({exc}): check [mat] pin and that no other program holds it") from None
    except (OSError, RuntimeError, ImportError) as exc:
        raise MatError(f"no GPIO for the {what} ({exc}); use [mat] kind = \"simulated\" off a Pi") from None


class GpioMat(Mat):
    """A switch mat between a BCM GPIO pin and ground (internal pull-up: low = contact).

    ``sense_pin`` (optional) is a second wire looped to ground inside the mat's plug: reading
    high means the cable is out, which is otherwise indistinguishable from an empty mat.
    ``clock`` stamps raw edges; tests pass a manual clock.
    """

    def __init__(self, pin: int, *, debounce_ms: float = 10.0, pin_factory=None, sense_pin: int = -1,
                 clock: Callable[[], int] = time.monotonic_ns):
        super().__init__()
        self.pin_number = pin
        self._clock = clock
        self._lock = threading.Lock()
        self._button = _button(pin, pin_factory, "contact mat")
        self._sense = _button(sense_pin, pin_factory, "mat sense wire") if sense_pin >= 0 else None
        self._debouncer = Debouncer(int(debounce_ms * 1e6), initial=bool(self._button.is_pressed))
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._thread: threading.Thread | None = None
        self.raw_edges = 0

    # gpiozero calls these from its own thread (lgpio) or the caller's (MockFactory).
    def _on_press(self) -> None:
        self.on_raw_edge(True, self._clock())

    def _on_release(self) -> None:
        self.on_raw_edge(False, self._clock())

    def on_raw_edge(self, pressed: bool, t_ns: int) -> None:
        """Feed one raw edge stamped at ``t_ns``; debounced events go to the listener."""
        with self._lock:
            self.raw_edges += 1
            events = self._debouncer.push(t_ns, pressed)
            self._wake.notify()
        self._emit(events)

    def _closer(self) -> None:
        # Closes a bounce train once the line has been quiet for the window, by the same clock
        # that stamped the edges. Sleeps indefinitely while nothing is pending.
        while True:
            with self._lock:
                while not self._stop and not self._debouncer.pending:
                    self._wake.wait()
                if self._stop:
                    return
                due = self._debouncer.due_ns()
                now = self._clock()
                if due is not None and now >= due:
                    events = self._debouncer.close()
                else:
                    self._wake.wait(timeout=max(0.001, ((due or now) - now) / 1e9))
                    continue
            self._emit(events)

    def _on_sense(self, connected: bool) -> None:
        if self._fault_listener is not None:
            self._fault_listener(None if connected else "The contact mat is unplugged: check its cable")

    @property
    def pressed(self) -> bool:
        with self._lock:
            return self._debouncer.level

    @property
    def connected(self) -> bool:
        return self._sense is None or bool(self._sense.is_pressed)

    def start(self) -> None:
        self._button.when_pressed = self._on_press
        self._button.when_released = self._on_release
        if self._sense is not None:
            self._sense.when_pressed = lambda: self._on_sense(True)
            self._sense.when_released = lambda: self._on_sense(False)
        self._thread = threading.Thread(target=self._closer, name="mat-debounce", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._button.close()
        if self._sense is not None:
            self._sense.close()


class NoMat(Mat):
    """No mat wired: the start button begins a trial and the video decides the events."""

    has_mat = False

    @property
    def pressed(self) -> bool:
        return False


class SimulatedMat(Mat):
    """Plays a clip's ``mat.csv`` edges in real time, aligned with a replay camera's clock.

    :meth:`play` schedules the edges at ``origin_ns + t``; the replay camera calls it when the
    clip starts playing, so mat and frames share one time base exactly as on the station.
    Events carry the exact scheduled times (like kernel edge timestamps), not the wake-up times.
    ``speed`` is how many ``clock`` seconds pass per real second (the soak's accelerated clock):
    the wait for the next edge is the clock time left divided by it, so edges are not late.
    """

    def __init__(self, edges: Sequence[MatEdge], *, clock: Callable[[], int] = time.monotonic_ns,
                 speed: float = 1.0):
        super().__init__()
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.edges = list(edges)
        self._clock = clock
        self.speed = float(speed)
        self._level = False
        self._cond = threading.Condition()
        self._queue: list[MatEvent] = []
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def pressed(self) -> bool:
        return self._level

    def play(self, origin_ns: int, edges: Sequence[MatEdge] | None = None) -> None:
        """Schedule the clip's edges (or these ``edges``) from ``origin_ns``; a pending earlier run is dropped."""
        if edges is not None:
            self.edges = list(edges)
        with self._cond:
            self._queue = [MatEvent(origin_ns + int(round(e.t * 1e9)), e.pressed) for e in self.edges]
            if self._queue and self._queue[-1].pressed:
                from kiosk.station.camera import REST_S  # the replay camera shows the same walk-off

                self._queue.append(MatEvent(self._queue[-1].t_ns + int(REST_S * 1e9), False))
            if self._level and (not self._queue or self._queue[0].pressed):
                # the athlete is back on the box when a clip restarts: the mat opens first
                self._queue.insert(0, MatEvent(origin_ns, False))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._queue:
                    self._cond.wait()
                if self._stop:
                    return
                now = self._clock()
                ev = self._queue[0]
                if ev.t_ns > now:
                    self._cond.wait(timeout=(ev.t_ns - now) / 1e9 / self.speed)
                    continue
                self._queue.pop(0)
                self._level = ev.pressed
            self._emit([ev])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="simulated-mat", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


class StartButton:
    """A physical start button (to ground, pull-up); pressing it equals the on-screen Start."""

    def __init__(self, pin: int, on_press: Callable[[], None], *, pin_factory=None, hold_off_ms: float = 300.0,
                 clock: Callable[[], int] = time.monotonic_ns):
        self._button = _button(pin, pin_factory, "start button")
        self._on_press = on_press
        self._clock = clock
        self._hold_off_ns = int(hold_off_ms * 1e6)
        self._last: int | None = None
        self._button.when_pressed = self._pressed

    def _pressed(self) -> None:
        # A button bounces too; one press per hold-off is plenty for a person.
        now = self._clock()
        if self._last is not None and now - self._last < self._hold_off_ns:
            return
        self._last = now
        self._on_press()

    def close(self) -> None:
        self._button.close()


class Cues:
    """Optional LED and buzzer: a light while recording, beeps for countdown and result."""

    def __init__(self, led_pin: int = -1, buzzer_pin: int = -1, *, pin_factory=None, countdown_s: float = 3.0):
        self._led = self._buzzer = None
        self.countdown_s = countdown_s
        if led_pin >= 0 or buzzer_pin >= 0:
            from gpiozero import LED, Buzzer

            if led_pin >= 0:
                self._led = LED(led_pin, pin_factory=pin_factory)
            if buzzer_pin >= 0:
                self._buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)

    def on_state(self, state: str) -> None:
        """Follow the trial state: LED on while capturing, a short beep per countdown/result."""
        if self._led is not None:
            if state in ("countdown",):
                self._led.blink(on_time=0.15, off_time=0.15)
            elif state in ("awaiting_landing", "contact", "flight"):
                self._led.on()
            else:
                self._led.off()
        if self._buzzer is not None:
            if state == "countdown" and self.countdown_s >= 1:
                # one short beep per second of the count, heard from the box
                self._buzzer.beep(on_time=0.1, off_time=0.9, n=int(self.countdown_s))
            elif state == "awaiting_landing":
                self._buzzer.beep(on_time=0.4, off_time=0.1, n=1)   # Go: longer than the count
            elif state == "result":
                self._buzzer.beep(on_time=0.08, off_time=0.08, n=2)
            elif state == "fault":
                self._buzzer.beep(on_time=0.5, off_time=0.2, n=3)

    @property
    def led_lit(self) -> bool:
        return bool(self._led is not None and self._led.is_lit)

    def close(self) -> None:
        for dev in (self._led, self._buzzer):
            if dev is not None:
                dev.close()
