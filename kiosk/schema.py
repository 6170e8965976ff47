"""``setting()``: a dataclass field that carries its doc and limits, for validated config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any


def setting(default: Any, doc: str, *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, source: str | None = None,
            check: Callable[[Any], str | None] | None = None) -> Any:
    """A config field with its one-line documentation, limits and (for thresholds) source.

    ``check(value)`` returns why a value cannot be meant (``"is not a known IANA time zone"``),
    or None when it is fine: for rules that choices and limits cannot say."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "source": source, "check": check}
    return field(default=default, metadata=meta)
