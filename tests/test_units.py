"""units.parse / units.format: human strings <-> SI floats, and their round trip."""
import math

import pytest
from hypothesis import given, strategies as st

from dojosim import units
from dojosim.errors import UnitError

CASES = [
    ("36 TB/s", "bandwidth", 36e12),
    ("400 Gb/s", "bandwidth", 50e9),
    ("9 PFLOPS", "flops", 9e15),
    ("362 TFLOP/s", "flops", 362e12),
    ("32 GiB", "bytes", 32 * 2**30),
    ("440 MB", "bytes", 440e6),
    ("15 kW", "power", 15e3),
    ("2 us", "time", 2e-6),
    ("100 ns", "time", 1e-7),
    ("1 day", "time", 86400.0),
    ("$25k", "money", 25e3),
    ("$1.5M", "money", 1.5e6),
    ("3.1e23 FLOP", "flop", 3.1e23),
    ("1,000", "count", 1000.0),
]


@pytest.mark.parametrize("text,dim,expected", CASES)
def test_parse_known_strings(text, dim, expected):
    assert units.parse(text, dim) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text,dim", [("36", "bandwidth"), ("36 TB", "bandwidth"), ("9 PB/s", "flops"),
                                      ("fast", "time"), ("15 kV", "power"), ("1e400 W", "power")])
def test_bad_units_raise_unit_error(text, dim):
    with pytest.raises(UnitError) as err:
        units.parse(text, dim, path="chip.tdp_w")
    assert err.value.path == "chip.tdp_w"


def test_bits_are_an_eighth_of_bytes():
    assert units.parse("1600 Gb/s", "bandwidth") == units.parse("200 GB/s", "bandwidth")


# format -> parse recovers the value for every dimension that has prefixes.
DIMS = ["bytes", "bandwidth", "flops", "flop", "power", "energy", "money", "time"]
values = st.floats(min_value=1e-9, max_value=1e24, allow_nan=False, allow_infinity=False)


@given(value=values, dim=st.sampled_from(DIMS))
def test_format_parse_round_trip(value, dim):
    text = units.format(value, dim, digits=15)
    assert math.isclose(units.parse(text, dim), value, rel_tol=1e-12), text


@given(value=st.floats(min_value=1e-3, max_value=1e21, allow_nan=False), dim=st.sampled_from(DIMS))
def test_parse_of_si_prefixed_strings(value, dim):
    # "<number> <SI unit>" with no prefix is the value itself
    base = {"bytes": "B", "bandwidth": "B/s", "flops": "FLOP/s", "flop": "FLOP", "power": "W",
            "energy": "J", "money": "USD", "time": "s"}[dim]
    assert math.isclose(units.parse(f"{value!r} {base}", dim), value, rel_tol=1e-15)


@given(n=st.integers(min_value=1, max_value=10**12))
def test_counts_parse_as_plain_numbers(n):
    assert units.parse(str(n), "count") == n
    assert units.parse(n, "count") == n
