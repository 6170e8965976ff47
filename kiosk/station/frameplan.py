"""Which ring frames get posed, and when: coarse-to-fine and within a time budget. Pure.

Pose cannot run at camera rate (a Pi 4 runs Lightning in ~186 ms, a Pi 5 in ~40 ms; the camera
delivers a frame every 8.3 ms), and the verdict must be on screen 1 s (Pi 5) / 2.5 s (Pi 4) after
the second landing (DESIGN.md section 7). So the station poses only the frames the metrics read,
and starts early enough that most of the work hides in the ~0.4 s contact and ~0.5 s flight:

1. **baseline**, before the drop: while the athlete waits on the box, one standing frame every
   ``baseline_period_s`` (the static FPPA/KASR, and the box level the video's contact needs);
   this costs nothing after the landing;
2. **coarse**, from the mat's contact edge: the fall (``fall_s`` before contact: the video's own
   contact time and the FPPA-at-contact line need it) and the contact phase, every ``stride``-th
   frame, posed as the frames arrive;
3. **fine**, once take-off is known: the coarse poses locate peak knee flexion and each leg's
   peak FPPA; every frame is then posed just before and after contact and around those peaks,
   where the verdict's values are read.

:func:`choose_plan` picks the densest level whose expected invocations fit the budget from the
measured per-invoke time; :func:`fine_order` lists the fine frames most decisive first, so a
deadline that cuts them short keeps the ones that matter most. With a mat the flight after
take-off and the second landing are never posed: the mat times them to the millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class FramePlan:
    """Frame choice for one trial. Times in seconds, frame counts at the camera's rate."""

    stride: int = 3                 # coarse: every stride-th frame over the fall and the contact
    ic_before: int = 7              # fine: frames just before contact (value_before's 50 ms line at 120 fps)
    ic_after: int = 2               # fine: frames from contact on
    peak_half: int = 3              # fine: frames each side of peak flexion and of each leg's peak FPPA
    fall_s: float = 0.1             # coarse posing starts this long before contact
    takeoff_pad_s: float = 0.02     # ... and runs to this long after take-off
    baseline_period_s: float = 0.1  # one standing frame this often while waiting for the drop
    baseline_lead_s: float = 0.3    # the first standing frame is this long before "go"
    baseline_keep_s: float = 1.0    # standing frames older than this before contact are dropped
    pre_s: float = 1.0              # the analysis clock starts this long before "go"
    video_fps: float = 30.0         # no mat: the whole capture at this rate

    # --- stage 1: standing baseline, before the drop ----------------------------------------------
    def baseline_pick(self, t_ns: np.ndarray, go_ns: int, last_ns: int | None, period_s: float) -> int | None:
        """The next standing frame to pose among ``t_ns`` (sorted), or None if none is due yet.

        The first is the frame nearest ``baseline_lead_s`` before go (so a quick drop still has
        standing frames); later ones are the newest frame once ``period_s`` has passed.
        """
        if not len(t_ns):
            return None
        if last_ns is None:
            want = go_ns - int(self.baseline_lead_s * 1e9)
            k = int(np.argmin(np.abs(t_ns - want)))
            return int(t_ns[k])
        newest = int(t_ns[-1])
        return newest if newest - last_ns >= int(period_s * 1e9) - 1_000_000 else None  # 1 ms timestamp jitter

    def baseline_keep(self, t_ns: Sequence[int], contact_ns: int) -> np.ndarray:
        """Which posed standing frames stay: the last ``baseline_keep_s`` before the fall."""
        t = np.asarray(t_ns, dtype=np.int64)
        return (t >= contact_ns - int((self.baseline_keep_s + self.fall_s) * 1e9)) & \
               (t < contact_ns - int(self.fall_s * 1e9))

    # --- stage 2: coarse over the fall and the contact -------------------------------------------
    def coarse_mask(self, t_ns: np.ndarray, contact_ns: int, takeoff_ns: int | None) -> np.ndarray:
        """Every ``stride``-th frame from ``fall_s`` before contact to just after take-off (to the
        newest frame while take-off is not known), counted from the first frame at contact, so
        the frame that shows the contact is always posed."""
        t = np.asarray(t_ns, dtype=np.int64)
        lo = contact_ns - int(self.fall_s * 1e9)
        inside = t >= lo
        if takeoff_ns is not None:
            inside &= t <= takeoff_ns + int(self.takeoff_pad_s * 1e9)
        anchor = int(np.searchsorted(t, contact_ns, side="left"))
        pos = np.arange(len(t)) - anchor
        return inside & (pos % max(self.stride, 1) == 0)

    # --- stage 3: fine around contact and the peaks ----------------------------------------------
    def fine_order(self, t_ns: np.ndarray, contact_ns: int, takeoff_ns: int | None, peaks_ns: Iterable[int],
                   done: Iterable[int] = ()) -> list[int]:
        """Timestamps to pose densely, most decisive first, leaving out those already posed.

        First the frames around contact, nearest first (FPPA and KASR at contact, the frames
        the video's contact time is fitted on), then those around each peak, nearest first.
        """
        t = np.asarray(t_ns, dtype=np.int64)
        if not len(t):
            return []
        posed = set(int(v) for v in done)
        stop = takeoff_ns + int(self.takeoff_pad_s * 1e9) if takeoff_ns is not None else int(t[-1])
        ranked: list[tuple[int, int, int]] = []  # (group, distance in frames, t)
        k = int(np.searchsorted(t, contact_ns, side="left"))
        for j in range(k - self.ic_before, k + self.ic_after):
            if 0 <= j < len(t):
                ranked.append((0, k - j if j < k else j - k + 1, int(t[j])))
        for c in peaks_ns:
            m = int(np.argmin(np.abs(t - int(c))))
            for j in range(m - self.peak_half, m + self.peak_half + 1):
                if 0 <= j < len(t) and contact_ns <= t[j] <= stop:
                    ranked.append((1, abs(j - m), int(t[j])))
        out: list[int] = []
        for _, _, v in sorted(ranked):
            if v not in posed:
                posed.add(v)
                out.append(v)
        return out

    # --- no mat ----------------------------------------------------------------------------------
    def video_mask(self, t_ns: np.ndarray) -> np.ndarray:
        """No mat, no contact edge: even sampling of the whole capture at ``video_fps``."""
        return every(np.asarray(t_ns, dtype=np.int64), self.video_fps)

    # --- budget ----------------------------------------------------------------------------------
    def expected_invocations(self, fps: float, contact_s: float = 0.45, absorb_s: float = 0.15) -> int:
        """Invocations of one trial with a typical landing (contact ``contact_s``, peak flexion
        ``absorb_s`` after contact; each leg's peak FPPA near it), baseline excluded: the figure
        the budget compares with."""
        period = 1.0 / fps
        t = np.round(np.arange(-0.5, contact_s + 0.2, period) * 1e9).astype(np.int64)
        contact, takeoff = 0, int(contact_s * 1e9)
        coarse = set(int(v) for v in t[self.coarse_mask(t, contact, takeoff)])
        peaks = (int(absorb_s * 1e9), int((absorb_s - 0.02) * 1e9), int((absorb_s + 0.03) * 1e9))
        fine = self.fine_order(t, contact, takeoff, peaks, coarse)
        return len(coarse) + len(fine)


#: Plans from densest to leanest; :func:`choose_plan` takes the first that fits the budget.
LEVELS: tuple[FramePlan, ...] = (
    FramePlan(stride=3, ic_before=7, ic_after=2, peak_half=3),
    FramePlan(stride=4, ic_before=6, ic_after=2, peak_half=3),
    FramePlan(stride=4, ic_before=4, ic_after=2, peak_half=2),
    FramePlan(stride=6, ic_before=3, ic_after=2, peak_half=2),
    FramePlan(stride=8, ic_before=2, ic_after=1, peak_half=1),
    FramePlan(stride=12, ic_before=2, ic_after=1, peak_half=1),
)


@dataclass(frozen=True)
class Budget:
    """Time after the second landing, and what the work may hide in before it."""

    target_s: float = 1.0     # second landing -> verdict (DESIGN.md: 1 s on a Pi 5, 2.5 s on a Pi 4)
    overlap_s: float = 0.6    # contact + flight the work overlaps (DVJ: >= ~0.25 s + ~0.35 s)
    score_s: float = 0.05     # scoring after the last pose

    def max_invocations(self, invoke_s: float) -> int:
        """Pose invocations from contact on that keep the verdict within ``target_s``."""
        if invoke_s <= 0:
            return 10**6
        return max(int(math.floor((self.target_s + self.overlap_s - self.score_s) / invoke_s)), 0)


def choose_plan(invoke_s: float, fps: float, budget: Budget, levels: Sequence[FramePlan] = LEVELS,
                base: FramePlan | None = None) -> FramePlan:
    """The densest level whose expected invocations fit ``budget`` at ``invoke_s`` per pose (the
    leanest when none fits); strides are for 120 fps and scale with ``fps``. Timing fields
    (fall, baseline, video) come from ``base``."""
    cap = budget.max_invocations(invoke_s)
    scale = fps / 120.0
    chosen = None
    for lv in levels:
        plan = replace(base or FramePlan(), stride=max(1, round(lv.stride * scale)),
                       ic_before=max(2, round(lv.ic_before * scale)), ic_after=max(1, round(lv.ic_after * scale)),
                       peak_half=max(1, round(lv.peak_half * scale)))
        chosen = plan
        if plan.expected_invocations(fps) <= cap:
            return plan
    assert chosen is not None
    return chosen


def every(t_ns: np.ndarray, fps: float) -> np.ndarray:
    """Keep the first frame, then each frame at least 1/fps after the last kept one."""
    keep = np.zeros(len(t_ns), dtype=bool)
    step = int(1e9 / fps) - 1_000_000  # 1 ms slack for timestamp jitter
    last: int | None = None
    for i, t in enumerate(t_ns):
        if last is None or t - last >= step:
            keep[i] = True
            last = int(t)
    return keep
