"""Contact-mat edges and the ``mat.csv`` file format (header ``t_s,pressed``, 1 = contact).

One row per change of state, times in seconds on the clip's (or camera's) clock. The synthetic
athlete writes these files, the simulated mat plays them, and ``jumpkiosk analyze --mat`` reads
them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import MediaError

HEADER = ("t_s", "pressed")


@dataclass(frozen=True)
class MatEdge:
    t: float        # seconds
    pressed: bool   # True: contact made (mat closed); False: contact released


def parse_mat_csv(text: str, source: str = "mat.csv") -> list[MatEdge]:
    """Parse and check a mat file: right header, times increasing, states alternating."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise MediaError(f"{source}: first line must be the header 't_s,pressed'")
    edges: list[MatEdge] = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise MediaError(f"{source}:{n}: expected 2 values 't_s,pressed', got {len(row)}")
        try:
            t = float(row[0])
        except ValueError:
            raise MediaError(f"{source}:{n}: time '{row[0]}' is not a number") from None
        if not math.isfinite(t):
            raise MediaError(f"{source}:{n}: time '{row[0]}' is not finite")
        if row[1].strip() not in ("0", "1"):
            raise MediaError(f"{source}:{n}: pressed must be 0 or 1, not '{row[1]}'")
        edge = MatEdge(t, row[1].strip() == "1")
        if edges and t < edges[-1].t:
            raise MediaError(f"{source}:{n}: times must not go backwards ({t} after {edges[-1].t})")
        if edges and edge.pressed == edges[-1].pressed:
            raise MediaError(f"{source}:{n}: two '{row[1].strip()}' rows in a row; each row is a change")
        edges.append(edge)
    return edges


def read_mat_csv(path: str | Path) -> list[MatEdge]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{p}: cannot read mat file ({exc})") from None
    return parse_mat_csv(text, str(p))


def format_mat_csv(edges: list[MatEdge]) -> str:
    lines = [",".join(HEADER)]
    lines += [f"{e.t:.6f},{1 if e.pressed else 0}" for e in edges]
    return "\n".join(lines) + "\n"
