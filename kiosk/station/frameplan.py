"""Which ring frames get posed, and when: dense where the verdict is read, within a time budget. Pure.

Pose cannot run at camera rate (a Pi 4 runs Lightning in ~186 ms, a Pi 5 in ~40 ms; the camera
delivers a frame every 8.3 ms), and the verdict must be on screen 1 s (Pi 5) / 2.5 s (Pi 4) after
the second landing (DESIGN.md section 7). So the station poses only the frames the metrics read,
and starts early enough that most of the work hides in the ~0.4 s contact and ~0.5 s flight:

1. **baseline**, before the drop: standing frames while the athlete waits on the box (a few
   from the ring just before "go", then the newest frame every period); this costs nothing
   after the landing. The static FPPA is their median, so at least ``min_standing`` are kept;
2. **dense**, first thing at the mat's contact edge: EVERY frame from ``ic_before_s`` before the
   edge to ``ic_after_s`` after it. The FPPA and KASR at contact are read from a line through the
   last 50 ms before contact, and the video's own contact time (the mat cross-check) from the
   end of the fall: both need every frame, and those frames are already in the ring;
3. **coarse**, as frames arrive: every ``stride``-th frame from contact to just after take-off;
4. **fine**, once take-off is known: the poses so far locate peak knee flexion (a parabola
   through the hip height, so sparse samples place it between them) and each leg's peak FPPA;
   every frame within ``peak_half`` of each is posed, so the values read there (and the
   smoothing around them) see what posing every frame would. The peaks are located once more
   when those are in, and filled around again.

The time budget may thin the plan but never below what the analysis needs to judge the camera
rather than the plan: every frame around contact, and ``min_peak_half`` frames each side of
peak flexion (:meth:`FramePlan.essential`). Those are posed past the deadline if need be (the
runtime records how many): a late verdict beats a RETAKE the athlete did not cause.

Every frame is analysed with the camera's real frame rate (``analyze_trial(source_fps=)``): a
sparse plan is not a slow camera. :func:`choose_plan` picks the densest level whose expected
invocations fit the budget from the measured per-invoke time; :func:`FramePlan.fine_order` lists
the fine frames most decisive first, so a deadline that cuts them short keeps the ones that
matter most. With a mat the flight after take-off and the second landing are never posed: the
mat times them to the millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

#: Timestamps of one camera frame may jitter by this much (ns) around the nominal period.
_JITTER_NS = 1_000_000


@dataclass(frozen=True)
class FramePlan:
    """Frame choice for one trial. Times in seconds, frame counts at the camera's rate."""

    stride: int = 1                 # coarse: every stride-th frame over the contact (1: every frame)
    peak_half: int = 7              # fine: frames each side of peak flexion and of each leg's peak FPPA
    min_peak_half: int = 3          # frames each side of peak flexion posed even past the deadline
    ic_before_s: float = 0.06       # dense: every frame from this long before the contact edge
    ic_after_s: float = 0.02        # ... to this long after it
    takeoff_pad_s: float = 0.02     # coarse and fine posing runs to this long after take-off
    baseline_period_s: float = 0.05 # one standing frame this often while waiting for the drop
    baseline_lead_s: float = 0.5    # at "go": standing frames from the ring over this long before it ...
    baseline_lead_n: int = 3        # ... this many of them
    baseline_keep_s: float = 1.25   # standing frames older than this before the fall are dropped
    baseline_gap_s: float = 0.25    # ... and those this close to contact (the step-off and fall)
    min_standing: int = 6           # the period is short enough to keep at least this many
    pre_s: float = 1.0              # the analysis clock starts this long before "go"
    video_fps: float = 30.0         # no mat: the whole capture at this rate

    @property
    def fall_s(self) -> float:
        """How long before contact the posed frames start (the capture must be whole from there)."""
        return self.ic_before_s

    # --- stage 1: standing baseline, before the drop ----------------------------------------------
    def baseline_lead(self, t_ns: np.ndarray, go_ns: int) -> list[int]:
        """Standing frames to pose at "go" from the ring: ``baseline_lead_n`` spread over the
        ``baseline_lead_s`` before it (the athlete stood still through the countdown), so a drop
        right after "go" still has a static baseline."""
        t = np.asarray(t_ns, dtype=np.int64)
        t = t[t <= go_ns]
        if not len(t) or self.baseline_lead_n <= 0:
            return []
        want = go_ns - np.linspace(self.baseline_lead_s, 0.0, self.baseline_lead_n) * 1e9
        picks = t[np.clip(np.searchsorted(t, want), 0, len(t) - 1)]
        return sorted(set(int(v) for v in picks))

    def baseline_pick(self, t_ns: np.ndarray, last_ns: int | None, period_s: float) -> int | None:
        """The newest frame among ``t_ns`` (sorted) once ``period_s`` has passed since the last
        standing frame posed (``last_ns``), else None."""
        if not len(t_ns):
            return None
        newest = int(t_ns[-1])
        if last_ns is None or newest - last_ns >= int(period_s * 1e9) - _JITTER_NS:
            return newest
        return None

    def baseline_period(self, invoke_s: float) -> float:
        """Seconds between standing frames: ``baseline_period_s``, or back to back when a pose
        takes longer. Waiting for the drop the worker has nothing else to do (the preview does not
        pose then), and a Pi 4 needs every pose it can get to keep ``min_standing`` frames."""
        return max(self.baseline_period_s, 1.05 * invoke_s)

    def baseline_keep(self, t_ns: Sequence[int], contact_ns: int) -> np.ndarray:
        """Which posed standing frames stay: those within ``baseline_keep_s`` before the fall.
        The analysis reads the last still second on the box, which ends ~0.4 s before contact;
        frames of the step-off and the ~0.25 s fall were posed with a crop that lags the falling
        body, and the dense frames before contact replace them."""
        t = np.asarray(t_ns, dtype=np.int64)
        start = contact_ns - int(max(self.baseline_gap_s, self.ic_before_s) * 1e9)
        return (t >= start - int(self.baseline_keep_s * 1e9)) & (t < start)

    # --- stage 2: dense around the contact edge --------------------------------------------------
    def dense_mask(self, t_ns: np.ndarray, contact_ns: int) -> np.ndarray:
        """Every frame from ``ic_before_s`` before the mat's contact edge to ``ic_after_s`` after it."""
        t = np.asarray(t_ns, dtype=np.int64)
        return (t >= contact_ns - int(self.ic_before_s * 1e9)) & (t <= contact_ns + int(self.ic_after_s * 1e9))

    # --- stage 3: coarse over the contact --------------------------------------------------------
    def coarse_mask(self, t_ns: np.ndarray, contact_ns: int, takeoff_ns: int | None) -> np.ndarray:
        """Every ``stride``-th frame from contact to just after take-off (to the newest frame
        while take-off is not known), counted from the first frame at contact."""
        t = np.asarray(t_ns, dtype=np.int64)
        inside = t >= contact_ns
        if takeoff_ns is not None:
            inside &= t <= takeoff_ns + int(self.takeoff_pad_s * 1e9)
        anchor = int(np.searchsorted(t, contact_ns, side="left"))
        pos = np.arange(len(t)) - anchor
        return inside & (pos % max(self.stride, 1) == 0)

    # --- stage 4: fine around the peaks ----------------------------------------------------------
    def fine_order(self, t_ns: np.ndarray, contact_ns: int, takeoff_ns: int | None, peaks_ns: Iterable[int],
                   done: Iterable[int] = ()) -> list[int]:
        """Timestamps to pose densely around each located peak, most decisive first (each peak's
        own frame, then outward, peaks interleaved), leaving out those already posed. Each new
        frame has a posed neighbour at most ``stride`` frames away to crop around."""
        t = np.asarray(t_ns, dtype=np.int64)
        if not len(t):
            return []
        posed = set(int(v) for v in done)
        stop = takeoff_ns + int(self.takeoff_pad_s * 1e9) if takeoff_ns is not None else int(t[-1])
        ranked: list[tuple[int, int, int]] = []  # (distance in frames, peak rank, t)
        for rank, c in enumerate(peaks_ns):
            m = int(np.argmin(np.abs(t - int(c))))
            for j in range(m - self.peak_half, m + self.peak_half + 1):
                if 0 <= j < len(t) and contact_ns <= t[j] <= stop:
                    ranked.append((abs(j - m), rank, int(t[j])))
        out: list[int] = []
        for _, _, v in sorted(ranked):
            if v not in posed:
                posed.add(v)
                out.append(v)
        return out

    def essential(self, t_ns: np.ndarray, contact_ns: int, takeoff_ns: int | None, peak_ns: int | None) -> set[int]:
        """The frames within ``min_peak_half`` of peak flexion: the least the analysis needs
        there (the values at peak flexion, the visibility check on the frames around it, the
        camera gate's peak time), so they are posed even when that makes the verdict late. A
        slower verdict on a Pi 4 is better than a RETAKE the camera did not cause."""
        if peak_ns is None:
            return set()
        return set(FramePlan(peak_half=self.min_peak_half, takeoff_pad_s=self.takeoff_pad_s)
                   .fine_order(t_ns, contact_ns, takeoff_ns, [peak_ns]))

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
        first = set(int(v) for v in t[self.dense_mask(t, contact) | self.coarse_mask(t, contact, takeoff)])
        peaks = (int(absorb_s * 1e9), int((absorb_s - 0.02) * 1e9), int((absorb_s + 0.03) * 1e9))
        fine = self.fine_order(t, contact, takeoff, peaks, first)
        return len(first) + len(fine)


#: Plans from densest to leanest (frame counts at 120 fps); :func:`choose_plan` takes the first
#: that fits the budget. Every level poses every frame around the contact edge; the fine window
#: around a peak covers the +-60 ms the smoothing reads where the budget allows.
LEVELS: tuple[FramePlan, ...] = (
    FramePlan(stride=1, peak_half=7),
    FramePlan(stride=2, peak_half=7),
    FramePlan(stride=3, peak_half=6),
    FramePlan(stride=4, peak_half=5),
    FramePlan(stride=6, peak_half=4),
    FramePlan(stride=8, peak_half=2),
    FramePlan(stride=12, peak_half=1),
)


@dataclass(frozen=True)
class Budget:
    """Time after the second landing, and what the work may hide in before it.

    Everything the station does between the last landing pose and the verdict on screen is
    reserved first (:meth:`reserve_s`): the scoring (``analyze_trial`` on the posed frames, twice
    with the landing re-read), the second-person probes (``probe_poses`` whole-frame poses with
    the athlete masked out, :func:`kiosk.pose.landing.probe_other_person`), and storing the trial
    (the recorder commits it before the verdict shows). The landing poses get what is left."""

    target_s: float | None = 1.0  # second landing -> verdict (DESIGN.md: 1 s Pi 5, 2.5 s Pi 4); None: by hardware
    overlap_s: float = 0.6        # contact + flight the work overlaps (DVJ: >= ~0.25 s + ~0.35 s)
    score_s: float = 0.05         # scoring after the last pose
    probe_poses: int = 4          # second-person probes after the last pose (kiosk.pose.landing.probe_positions)
    store_s: float = 0.05         # storing the trial before its verdict shows

    def reserve_s(self, invoke_s: float) -> float:
        """Seconds after the last landing pose that the verdict still needs."""
        return self.score_s + self.store_s + self.probe_poses * max(invoke_s, 0.0)

    def max_invocations(self, invoke_s: float) -> int:
        """Landing pose invocations from contact on that keep the verdict within ``target_s``
        with everything after them (:meth:`reserve_s`) counted."""
        if invoke_s <= 0:
            return 10**6
        target = self.target_s if self.target_s is not None else 1.0
        return max(int(math.floor((target + self.overlap_s - self.reserve_s(invoke_s)) / invoke_s)), 0)


def choose_plan(invoke_s: float, fps: float, budget: Budget, levels: Sequence[FramePlan] = LEVELS,
                base: FramePlan | None = None) -> FramePlan:
    """The densest level whose expected invocations fit ``budget`` at ``invoke_s`` per pose (the
    leanest when none fits); strides and fine widths are for 120 fps and scale with ``fps``.
    Timing fields (dense window, baseline, video) come from ``base``."""
    cap = budget.max_invocations(invoke_s)
    scale = fps / 120.0
    chosen = None
    for lv in levels:
        plan = replace(base or FramePlan(), stride=max(1, round(lv.stride * scale)),
                       peak_half=max(1, round(lv.peak_half * scale)),
                       min_peak_half=max(1, round((base or FramePlan()).min_peak_half * scale)))
        chosen = plan
        if plan.expected_invocations(fps) <= cap:
            return plan
    assert chosen is not None
    return chosen


def every(t_ns: np.ndarray, fps: float) -> np.ndarray:
    """Keep the first frame, then each frame at least 1/fps after the last kept one."""
    keep = np.zeros(len(t_ns), dtype=bool)
    step = int(1e9 / fps) - _JITTER_NS
    last: int | None = None
    for i, t in enumerate(t_ns):
        if last is None or t - last >= step:
            keep[i] = True
            last = int(t)
    return keep
