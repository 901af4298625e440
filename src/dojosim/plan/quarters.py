"""Calendar quarters ("2024Q3") as integers, so plans can count and interpolate over them."""
from __future__ import annotations

import re

from ..errors import SpecError

QUARTER_S = 365.25 / 4 * 86400          # seconds in an average quarter
_Q = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


def parse_quarter(text, path: str) -> int:
    """"2024Q3" (or "2024-Q3") -> 4 * 2024 + 2."""
    m = _Q.match(str(text)) if isinstance(text, str) else None
    if not m:
        raise SpecError(path, f"expected a quarter like 2024Q3, got {text!r}")
    return 4 * int(m.group(1)) + int(m.group(2)) - 1


def quarter_name(q: int) -> str:
    return f"{q // 4}Q{q % 4 + 1}"


def quarter_year(q: int) -> float:
    """The quarter's start as a fractional year (2024Q3 -> 2024.5), for plot axes."""
    return q / 4


def step_series(points: dict[int, float], quarters: list[int], before: float | None = None) -> list[float]:
    """Value in force at each quarter: the latest point at or before it (``before`` if none)."""
    keys = sorted(points)
    out = []
    for q in quarters:
        past = [k for k in keys if k <= q]
        out.append(points[past[-1]] if past else (before if before is not None else points[keys[0]]))
    return out
