"""Quantities: parse the strings humans write ("36 TB/s", "9 PFLOPS", "32 GiB", "15 kW",
"400 Gb/s", "2 us") into SI floats, and format SI floats back for display.

Inside dojosim every number is SI: bytes, bytes/s, FLOP, FLOP/s, W, J, s, USD.
Lower-case ``b`` is a bit, upper-case ``B`` a byte, so "400 Gb/s" is 50e9 bytes/s.
"""
from __future__ import annotations

import math
import re

from .errors import UnitError

DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21}
BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
SMALL = {"m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12}

# dimension -> {unit suffix: factor to SI}; prefixes are applied on top of these base units.
_BASE_UNITS: dict[str, dict[str, float]] = {
    "bytes": {"B": 1.0, "byte": 1.0, "bytes": 1.0, "b": 0.125, "bit": 0.125, "bits": 0.125},
    "bandwidth": {"B/s": 1.0, "Bps": 1.0, "b/s": 0.125, "bps": 0.125, "bit/s": 0.125},
    "flops": {"FLOPS": 1.0, "FLOP/s": 1.0, "flops": 1.0, "flop/s": 1.0, "OPS": 1.0, "OP/s": 1.0},
    "flop": {"FLOP": 1.0, "flop": 1.0, "FLOPs": 1.0},
    "power": {"W": 1.0, "watt": 1.0, "watts": 1.0},
    "energy": {"J": 1.0, "Wh": 3600.0},
    "time": {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
             "day": 86400.0, "days": 86400.0},
    "money": {"USD": 1.0, "$": 1.0},
    "count": {"": 1.0},
}
DIMENSIONS = tuple(_BASE_UNITS)

_NUMBER = r"[-+]?(?:\d+(?:[_,]\d{3})*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*(\$)?\s*({_NUMBER})\s*([A-Za-zµ/$]*(?:/[A-Za-z]+)?)\s*$")


def _factor(unit: str, dim: str) -> float | None:
    """SI factor of ``unit`` in dimension ``dim``, or None when it is not such a unit."""
    for base, f in _BASE_UNITS[dim].items():
        if unit == base:
            return f
        if base and unit.endswith(base):
            prefix = unit[: -len(base)]
            for table in (BINARY, DECIMAL) + ((SMALL,) if dim == "time" else ()):
                if prefix in table:
                    return table[prefix] * f
    return None


def parse(text: str | float | int, dim: str, *, path: str = "") -> float:
    """Parse ``text`` as a quantity of dimension ``dim`` and return it in SI units.

    Plain numbers are taken as SI already; a string must carry a unit of that dimension
    (except ``count`` and ``money``, where a bare number or "$25k" is fine).
    """
    if dim not in _BASE_UNITS:
        raise ValueError(f"unknown dimension {dim!r}")
    if isinstance(text, bool):
        raise UnitError(path, f"expected a {dim} quantity, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _PATTERN.match(str(text))
        if not m:
            raise UnitError(path, f"cannot read {text!r} as a {dim} quantity (e.g. {example(dim)!r})")
        dollar, num, unit = m.groups()
        number = float(num.replace("_", "").replace(",", ""))
        if dollar or dim == "money":
            factor = _MONEY_SCALE.get(unit) if unit not in ("USD", "$") else 1.0
            if unit.endswith("USD") and unit[:-3] in _MONEY_SCALE:
                factor = _MONEY_SCALE[unit[:-3]]
        elif unit == "" and dim != "count":
            raise UnitError(path, f"{text!r} has no unit; write it like {example(dim)!r}")
        else:
            factor = _factor(unit, dim)
        if factor is None:
            raise UnitError(path, f"{unit!r} is not a {dim} unit (e.g. {example(dim)!r})")
        value = number * factor
    if not math.isfinite(value):
        raise UnitError(path, f"{text!r} is not a finite number")
    return value


# "$11B" is eleven billion dollars (B is not a byte here); K/M/G/T as usual.
_MONEY_SCALE = {**DECIMAL, "B": 1e9, "bn": 1e9}

_EXAMPLES = {"bytes": "32 GiB", "bandwidth": "36 TB/s", "flops": "9 PFLOPS", "flop": "3.1e23 FLOP",
             "power": "15 kW", "energy": "3.6 MJ", "time": "2 us", "money": "$25k", "count": "1000"}


def example(dim: str) -> str:
    return _EXAMPLES[dim]


_DISPLAY = {"bytes": "B", "bandwidth": "B/s", "flops": "FLOP/s", "flop": "FLOP", "power": "W",
            "energy": "J", "money": "USD", "count": ""}


def format(value: float, dim: str, digits: int = 4, *, binary: bool = False) -> str:  # noqa: A001 - mirrors parse
    """Human string for an SI value: format(9.05e15, 'flops') -> '9.05 PFLOP/s'.

    ``binary=True`` shows bytes in powers of 1024 (GiB), the convention vendors use for HBM:
    an "80 GB" H100 holds 80 GiB."""
    if dim == "time":
        return format_time(value, digits)
    unit = _DISPLAY[dim]
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    if binary and dim == "bytes":
        exp = max(0, min(int(math.floor(math.log(abs(value), 1024))), 6))
        prefix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp]
        return f"{value / 1024 ** exp:.{digits}g} {prefix}B"
    exp = int(math.floor(math.log10(abs(value)) / 3))
    exp = max(0, min(exp, 7))
    prefix = ["", "k", "M", "G", "T", "P", "E", "Z"][exp]
    if dim == "money":
        # Money reads in the business scale: $25K, $1.2M, $11B, $3T.
        scale = {"k": "K", "G": "B"}.get(prefix, prefix)
        return f"${value / 10 ** (3 * exp):.{digits}g}{scale}"
    return f"{value / 10 ** (3 * exp):.{digits}g} {prefix}{unit}".strip()


def format_time(seconds: float, digits: int = 4) -> str:
    if seconds == 0 or not math.isfinite(seconds):
        return f"{seconds:g} s"
    for unit, f in (("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * f:
            return f"{seconds / f:.{digits}g} {unit}"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= f:
            return f"{seconds / f:.{digits}g} {unit}"
    return f"{seconds:.{digits}g} s"


def format_gib(value: float, digits: int = 4) -> str:
    """Bytes in binary units, as vendors state HBM: format_gib(80 * 2**30) -> '80 GiB'."""
    return format(value, "bytes", digits, binary=True)


_COUNT_SCALE = (("T", 1e12), ("B", 1e9), ("M", 1e6))


def format_number(value: float, digits: int = 4) -> str:
    """A plain number to ``digits`` significant figures that never needs an exponent below a
    million: 6757.3 -> '6,757', 0.23671 -> '0.2367', 1.465e8 -> '146.5M'."""
    if not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    for suffix, f in _COUNT_SCALE:
        if abs(value) >= f:
            return f"{value / f:.{digits}g}{suffix}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"
