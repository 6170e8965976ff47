"""``setting()``: a dataclass field that carries its doc and limits, for validated config."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def setting(default: Any, doc: str, *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, source: str | None = None) -> Any:
    """A config field with its one-line documentation, limits and (for thresholds) source."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "source": source}
    return field(default=default, metadata=meta)
