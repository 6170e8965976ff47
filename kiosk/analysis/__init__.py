"""Landing analysis: phases, metrics, gates, verdicts and sessions. Pure: no I/O, no clock reads.

Entry points: :func:`analyze_trial` (one jump -> :class:`TrialResult`) and
:func:`summarize_session` (trials -> :class:`SessionResult`). Guidance text for the result
screen is data (``guidance.json``), loaded by :mod:`kiosk.analysis.guidance`.
"""

from kiosk.analysis.result import SCORING_VERSION, SessionResult, TrialResult
from kiosk.analysis.session import summarize_session
from kiosk.analysis.thresholds import Thresholds
from kiosk.analysis.trial import analyze_trial

__all__ = ["SCORING_VERSION", "SessionResult", "Thresholds", "TrialResult", "analyze_trial", "summarize_session"]
