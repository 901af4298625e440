"""CFloat8 / CFloat16 codes against the whitepaper's definition, computed here in plain Python."""
import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, strategies as st  # noqa: E402

from dojosim.errors import SpecError  # noqa: E402
from dojosim.numerics import decode, encode, max_value, quantize, values  # noqa: E402

LAYOUT = {"1_4_3": (1, 4, 3), "1_5_2": (1, 5, 2), "shp": (1, 5, 10), "uhp": (0, 6, 10)}
BIASES8 = [0, 1, 15, 31, 48, 63]
READINGS = ["ieee", "literal"]


def expected(code: int, fmt: str, bias: int, reading: str) -> float:
    """The whitepaper's value of ``code``, with plain Python arithmetic (no torch, no library code)."""
    s_bits, e_bits, m_bits = LAYOUT[fmt]
    exp_field = (code >> m_bits) & ((1 << e_bits) - 1)
    man_field = code & ((1 << m_bits) - 1)
    negative = s_bits and (code >> (e_bits + m_bits)) & 1
    if exp_field == 0:  # zero or denormal: 0.m x 2^(1-bias) (IEEE) or 0.m x 2^(-bias) (literal)
        scale = (1 - bias) if reading == "ieee" else -bias
        mag = (man_field / 2 ** m_bits) * 2.0 ** scale
    else:  # every non-zero exponent is normal: no Inf/NaN encodings
        mag = (1 + man_field / 2 ** m_bits) * 2.0 ** (exp_field - bias)
    return -mag if negative else mag


def all_codes(fmt):
    n = 256 if fmt in ("1_4_3", "1_5_2") else 65536
    c = torch.arange(n, dtype=torch.int32)
    return c.to(torch.uint8 if n == 256 else torch.uint16)


def same_floats(got: list[float], want: list[float]) -> bool:
    return all(g == w and math.copysign(1, g) == math.copysign(1, w) for g, w in zip(got, want))


@pytest.mark.parametrize("fmt", ["1_4_3", "1_5_2"])
@pytest.mark.parametrize("bias", BIASES8)
@pytest.mark.parametrize("reading", READINGS)
def test_every_cfloat8_code_decodes_to_the_whitepaper_value_and_round_trips(fmt, bias, reading):
    codes = all_codes(fmt)
    got = decode(codes, fmt, bias, subnormals=reading)
    assert got.dtype == torch.float32
    want = [expected(c, fmt, bias, reading) for c in range(256)]
    assert same_floats(got.tolist(), want)
    back = encode(got, fmt, bias, subnormals=reading)
    assert back.dtype == torch.uint8
    assert torch.equal(back, codes)  # includes -0.0 -> 0x80 and +0.0 -> 0x00


@pytest.mark.parametrize("fmt, biases", [("shp", [0, 15, 40, 63]), ("uhp", [31])])
@pytest.mark.parametrize("reading", READINGS)
def test_every_cfloat16_code_decodes_and_round_trips(fmt, biases, reading):
    codes = all_codes(fmt)
    for bias in biases:
        got = decode(codes, fmt, bias, subnormals=reading)
        want = [expected(c, fmt, bias, reading) for c in range(65536)]
        assert same_floats(got.tolist(), want)
        back = encode(got, fmt, bias, subnormals=reading)
        assert back.dtype == torch.uint16
        assert torch.equal(back.to(torch.int32), codes.to(torch.int32))


def test_ranges_match_the_whitepaper_table():
    # 1_4_3: bias 0 -> [1.000b x 2^1, 1.111b x 2^15]; bias 63 -> [2^-62, 1.111b x 2^-48]
    v0 = values("1_4_3", 0)
    assert v0[0x08].item() == 2.0 and v0[0x7F].item() == 1.875 * 2 ** 15
    v63 = values("1_4_3", 63)
    assert v63[0x08].item() == 2.0 ** -62 and v63[0x7F].item() == 1.875 * 2 ** -48
    assert max_value("1_5_2", 0) == 1.75 * 2 ** 31
    assert values("1_5_2", 31)[0x04].item() == 2.0 ** -30 and max_value("1_5_2", 31) == 1.75


def neighbours(fmt, bias, reading):
    """(lo, hi, lo_code, hi_code) for every pair of adjacent positive values."""
    table = values(fmt, bias, reading).double()
    n_pos = table.numel() // 2 if LAYOUT[fmt][0] else table.numel()
    pos = table[:n_pos]
    idx = torch.arange(n_pos - 1)
    return pos[:-1], pos[1:], idx, idx + 1


@pytest.mark.parametrize("fmt, bias", [("1_4_3", 0), ("1_4_3", 40), ("1_5_2", 10), ("1_5_2", 63),
                                       ("shp", 20), ("uhp", 31)])
@pytest.mark.parametrize("reading", READINGS)
def test_rounding_boundaries_ties_to_even_and_just_off_the_midpoint(fmt, bias, reading):
    lo, hi, lo_c, hi_c = neighbours(fmt, bias, reading)
    mid = ((lo + hi) / 2).float()
    assert torch.equal(mid.double(), (lo + hi) / 2)  # midpoints are exact in float32
    even = torch.where(lo_c % 2 == 0, lo_c, hi_c)
    enc = lambda x: encode(x, fmt, bias, subnormals=reading).to(torch.int64)  # noqa: E731
    assert torch.equal(enc(mid), even)
    assert torch.equal(enc(torch.nextafter(mid, torch.tensor(math.inf))), hi_c)
    assert torch.equal(enc(torch.nextafter(mid, torch.tensor(0.0))), lo_c)
    if LAYOUT[fmt][0]:  # the mirror image below zero carries the sign bit
        sign = 1 << (sum(LAYOUT[fmt]) - 1)
        assert torch.equal(enc(-mid), even + sign)


@pytest.mark.parametrize("fmt, bias", [("1_4_3", 7), ("1_5_2", 30), ("shp", 15)])
def test_overflow_saturates_and_nan_inf_clamp(fmt, bias):
    top = max_value(fmt, bias)
    sign = 1 << (sum(LAYOUT[fmt]) - 1)
    x = torch.tensor([top, top * 1.01, top * 4, 1e30, math.inf, -top * 3, -math.inf, math.nan])
    c = encode(x, fmt, bias).to(torch.int64).tolist()
    top_code = sign - 1
    assert c == [top_code] * 5 + [top_code + sign] * 2 + [top_code]
    assert quantize(x, fmt, bias).abs().max().item() == top


def test_underflow_keeps_the_sign_of_zero_and_rounds_half_the_smallest_denormal_to_even():
    tiny = values("1_4_3", 20)[1].item()  # smallest denormal
    x = torch.tensor([tiny / 2, -tiny / 2, tiny * 0.51, -1e-30, 0.0, -0.0])
    q = quantize(x, "1_4_3", 20)
    assert q.tolist() == [0.0, -0.0, tiny, -0.0, 0.0, -0.0]
    assert [math.copysign(1, v) for v in q.tolist()] == [1, -1, 1, -1, 1, -1]


def test_uhp_is_unsigned_with_fixed_bias_31():
    assert encode(torch.tensor([-3.0, -0.0]), "uhp", 31).tolist() == [0, 0]
    assert encode(torch.tensor([1.0]), "uhp", None).tolist() == [31 << 10]
    with pytest.raises(SpecError, match="fixed bias of 31"):
        encode(torch.tensor([1.0]), "uhp", 30)


@pytest.mark.parametrize("reading", READINGS)
@given(st.lists(st.floats(-2.0 ** 17, 2.0 ** 17, width=32, allow_subnormal=False), min_size=1, max_size=50),
       st.integers(0, 12))
def test_nearest_is_the_closest_table_value_with_ties_to_even(reading, xs, bias):
    # Reference by brute force over the whole table, independent of the frexp arithmetic.
    x = torch.tensor(xs, dtype=torch.float32)
    table = values("1_4_3", bias, reading).double()
    top = table[:128].max()
    xc = x.double().clamp(-top, top)
    dist = (xc[:, None] - table[None, :]).abs()
    best = dist.min(dim=1, keepdim=True).values
    codes = torch.arange(256)
    # among equally near codes prefer the even one; for x == 0 any zero code matches by value
    cand = torch.where(dist == best, codes[None, :] % 2, 2).argmin(dim=1)
    got = quantize(x, "1_4_3", bias, subnormals=reading).double()
    assert torch.equal(got.abs(), table[cand].abs())


@pytest.mark.parametrize("fmt, bias", [("1_4_3", 3), ("1_5_2", 20), ("shp", 10)])
def test_stochastic_rounding_is_unbiased_and_picks_a_neighbour(fmt, bias):
    gen = torch.Generator().manual_seed(1234)
    lo, hi, _, _ = neighbours(fmt, bias, "ieee")
    pick = torch.randint(0, lo.numel(), (64,), generator=gen)
    frac = torch.rand(64, generator=gen, dtype=torch.float64)
    x = (lo[pick] + frac * (hi[pick] - lo[pick])).float()
    x = torch.cat([x, -x])
    n = 4000
    q = quantize(x.repeat(n, 1), fmt, bias, "stochastic", torch.Generator().manual_seed(7)).double()
    a, b = torch.cat([lo[pick]] * 2), torch.cat([hi[pick]] * 2)
    assert bool(((q.abs() == a) | (q.abs() == b)).all())
    p = (x.double().abs() - a) / (b - a)
    se = (b - a) * torch.sqrt(p * (1 - p) / n) + 1e-30
    z = (q.mean(dim=0) - x.double()) / se
    assert z.abs().max().item() < 4.5  # 128 tests: a 4.5-sigma miss has odds ~1e-3 overall


def test_stochastic_rounding_is_reproducible_and_leaves_exact_values_alone():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a = encode(x, "1_4_3", 10, "stochastic", g(5))
    assert torch.equal(a, encode(x, "1_4_3", 10, "stochastic", g(5)))
    assert not torch.equal(a, encode(x, "1_4_3", 10, "stochastic", g(6)))
    exact = values("1_4_3", 10)
    assert torch.equal(encode(exact, "1_4_3", 10, "stochastic", g(1)), torch.arange(256).to(torch.uint8))


def test_quantize_keeps_dtype_and_float64_and_bf16_inputs_round_the_same():
    # float32-representable inputs: a float64 -> float32 cast could otherwise land on a midpoint
    x = torch.linspace(-300, 300, 1001, dtype=torch.float32).double()
    q64 = quantize(x, "1_4_3", 8)
    assert q64.dtype == torch.float64
    assert torch.equal(q64.float(), quantize(x.float(), "1_4_3", 8))
    xb = x.to(torch.bfloat16)
    assert quantize(xb, "1_5_2", 8).dtype == torch.bfloat16


@pytest.mark.parametrize("call, field", [
    (lambda: encode(torch.ones(2), "1_6_1", 0), "fmt"),
    (lambda: encode(torch.ones(2), "1_4_3", 64), "bias"),
    (lambda: encode(torch.ones(2), "1_4_3", -1), "bias"),
    (lambda: encode(torch.ones(2), "1_4_3", 3, rounding="up"), "rounding"),
    (lambda: encode(torch.ones(2), "1_4_3", 3, subnormals="ibm"), "subnormals"),
    (lambda: decode(torch.tensor([70000]), "shp", 3), "codes"),
    (lambda: decode(torch.ones(2), "shp", 3), "codes"),
])
def test_bad_arguments_raise_spec_errors_naming_the_field(call, field):
    with pytest.raises(SpecError) as err:
        call()
    assert err.value.path == field


@pytest.mark.parametrize("fmt, bias", [("1_4_3", 0), ("1_4_3", 33), ("1_5_2", 63), ("shp", 5), ("uhp", 31)])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_fast_quantize_equals_decode_of_encode(fmt, bias, rounding):
    g = torch.Generator().manual_seed(3)
    top = max_value(fmt, bias)
    x = torch.cat([torch.randn(5000, generator=g) * top / 4,
                   torch.exp(torch.empty(5000).uniform_(-60, 0, generator=g)) * top * torch.sign(torch.randn(5000, generator=g)),
                   values(fmt, bias), torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, top * 3])])
    fast = quantize(x, fmt, bias, rounding, torch.Generator().manual_seed(9))
    slow = decode(encode(x, fmt, bias, rounding, torch.Generator().manual_seed(9)), fmt, bias)
    assert torch.equal(fast, slow)
    assert torch.equal(torch.signbit(fast), torch.signbit(slow))
