"""The peak-FPPA limit that applies to one athlete, and the plain words for why.

This is the one place the limit is decided: the verdict, the session, the station, the coach
pages and the exports all read the :class:`Limit` a result carries, and never work it out again.

Herrington & Munro 2010 measured drop-jump FPPA at peak knee flexion in 100 healthy adults aged
18-28: females 7-13 deg, males 3-8 deg. The upper end of the athlete's own range is the limit.
Without a recorded sex ("prefer not to say", or nothing entered) the female range is used: it is
the more lenient of the two, so nobody is flagged only because a field was left empty. Both
ranges are adult ranges; for athletes under 18 the result says so, since no drop-jump FPPA range
for adolescents exists to put in its place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kiosk.analysis.thresholds import Thresholds

#: The athlete's sex as the kiosk keeps it; "prefer_not_to_say" is an answer, None is no answer.
SEXES = ("female", "male", "prefer_not_to_say")
ADULT_AGE = 18


@dataclass(frozen=True)
class Limit:
    """The peak-FPPA limit used for one result, what it was decided from, and why."""

    peak_fppa_deg: float
    range: str                 # "female" or "male": the reference range the limit is the top of
    sex: str | None            # as recorded: one of SEXES, or None
    age: int | None            # years reached in the test's calendar year, when the birth year is known
    adult_reference: bool      # the reference range is an adult one and the athlete is under 18 (or age unknown)
    why: str                   # one plain sentence for every screen and export

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> Limit:
        return cls(peak_fppa_deg=float(obj["peak_fppa_deg"]), range=str(obj["range"]), sex=obj.get("sex"),
                   age=obj.get("age"), adult_reference=bool(obj.get("adult_reference", False)), why=str(obj["why"]))


def normalise_sex(value: str | None) -> str | None:
    """One of :data:`SEXES` or None, from what a form, a CLI option or an old record holds."""
    s = (value or "").strip().lower().replace(" ", "_").replace("-", "_")
    if s in ("f", "female", "woman", "girl"):
        return "female"
    if s in ("m", "male", "man", "boy"):
        return "male"
    if s in ("prefer_not_to_say", "not_given", "undisclosed", "unknown"):
        return "prefer_not_to_say"
    return None


def age_in_year(birth_year: int | str | None, year: int | None) -> int | None:
    """The age an athlete born in ``birth_year`` reaches in calendar ``year`` (None when either is
    unknown or the pair makes no sense). The kiosk asks the birth year only, so this can be one
    year more than the age on the test day."""
    try:
        b = int(birth_year) if birth_year not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if b is None or year is None or not 0 <= year - b <= 120:
        return None
    return int(year - b)


def applied_limit(th: Thresholds, sex: str | None, age: int | None = None) -> Limit:
    """The peak-FPPA limit for this athlete and the sentence that says which one and why."""
    s = normalise_sex(sex)
    if s == "male":
        value, rng, why = th.peak_fppa_male_deg, "male", f"male: the male range (up to {th.peak_fppa_male_deg:g}°) was used"
    elif s == "female":
        value, rng, why = th.peak_fppa_female_deg, "female", \
            f"female: the female range (up to {th.peak_fppa_female_deg:g}°) was used"
    elif s == "prefer_not_to_say":
        value, rng = th.peak_fppa_female_deg, "female"
        why = (f"prefer not to say: the female range (up to {th.peak_fppa_female_deg:g}°) was used, "
               "the more lenient of the two")
    else:
        value, rng = th.peak_fppa_female_deg, "female"
        why = (f"sex not recorded: the female range (up to {th.peak_fppa_female_deg:g}°) was used, "
               "the more lenient of the two")
    if age is None:
        adult, why = True, why + "; adult reference range: age not recorded"
    elif age < ADULT_AGE:
        adult, why = True, why + f"; adult reference range: under {ADULT_AGE}"
    else:
        adult, why = False, why + "; adult reference range"
    return Limit(peak_fppa_deg=float(value), range=rng, sex=s, age=age, adult_reference=adult, why=why)
