"""Tesla's configurable floats, bit-exact in torch: CFloat8_1_4_3, CFloat8_1_5_2, CFloat16 SHP and UHP.

Source: Tesla, "A Guide to Tesla's Configurable Floating Point Formats & Arithmetic" (Oct 2021),
summarised with page references in ``docs/sources.md`` §5.

What the whitepaper fixes, and this module implements:

* CFloat8_1_4_3 (S EEEE MMM) and CFloat8_1_5_2 (S EEEEE MM), exponent bias an unsigned 6-bit
  integer 0..63 chosen per tensor. Every non-zero exponent field 1..2^e-1 is a normal number
  1.m x 2^(exp - bias): there is no Inf/NaN encoding, so overflow saturates to +-max.
  (The range table agrees: 1_4_3 at bias 0 spans 1.000b x 2^1 .. 1.111b x 2^15.)
* CFloat16 SHP (S, 5 exponent, 10 mantissa bits, configurable 6-bit bias, denormals, no Inf/NaN:
  overflow or an Inf/NaN operand clamps to the maximum) and UHP (no sign, 6 exponent, 10 mantissa).
* Round-to-nearest (ties to even, as in IEEE 754) and stochastic rounding, reproducible from a seed.

Where the whitepaper is ambiguous, the reading chosen here (see docs/numerics.md):

* **Denormal exponent.** The text says a zero exponent field with mantissa m is +-0.m x 2^(-bias).
  IEEE 754 puts denormals at 0.m x 2^(1-bias), which continues the spacing of the smallest binade
  down to zero. We default to the IEEE reading (``subnormals='ieee'``) because the same page says
  "gradual underflow is supported": with the literal 2^(-bias) the largest denormal is
  0.875 x 2^(-bias) (1_4_3) and the smallest normal 2 x 2^(-bias), a gap 9 quanta wide where the
  spacing jumps -- not gradual. The literal reading is available as ``subnormals='literal'``;
  both encode/decode round-trip exactly, and rounding in the gap picks the nearer of its two ends.
* **UHP bias.** The table cell reads "31" where SHP's reads "configurable". 31 is also the IEEE bias
  for 6 exponent bits (2^(6-1) - 1), so we read it as a fixed bias of 31; any other bias is refused.
  UHP denormals follow the same rule as the other formats (the whitepaper's sentence is cut off).
  Negative inputs to the unsigned format clamp to zero, its smallest value.
* **NaN input.** No CFloat encodes NaN. Following SHP's stated rule (an Inf/NaN operand clamps to
  the maximum) every format maps NaN to +max and +-Inf to +-max.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..errors import SpecError, UnknownNameError


@dataclass(frozen=True)
class Format:
    """Bit layout of one configurable-float format."""

    name: str
    signed: bool
    exp_bits: int
    man_bits: int
    fixed_bias: int | None = None  # UHP: the whitepaper's table gives 31 (our reading: fixed)

    @property
    def bits(self) -> int:
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def n_codes(self) -> int:
        return 1 << self.bits

    @property
    def max_exp_field(self) -> int:
        return (1 << self.exp_bits) - 1

    @property
    def code_dtype(self) -> torch.dtype:
        return torch.uint8 if self.bits == 8 else torch.uint16


FORMATS: dict[str, Format] = {
    "1_4_3": Format("1_4_3", True, 4, 3),
    "1_5_2": Format("1_5_2", True, 5, 2),
    "shp": Format("shp", True, 5, 10),
    "uhp": Format("uhp", False, 6, 10, fixed_bias=31),
}
SUBNORMAL_READINGS = ("ieee", "literal")
ROUNDINGS = ("nearest", "stochastic")
MAX_BIAS = 63  # the bias is an unsigned 6-bit integer


def get_format(fmt: str | Format) -> Format:
    """The `Format` named ``fmt`` ('1_4_3', '1_5_2', 'shp' or 'uhp')."""
    if isinstance(fmt, Format):
        return fmt
    if fmt not in FORMATS:
        raise UnknownNameError("fmt", str(fmt), FORMATS, what="format")
    return FORMATS[fmt]


def check_bias(fmt: str | Format, bias: int | None) -> int:
    """The bias to use for ``fmt``: 0..63, or UHP's fixed 31 (``None`` means the fixed one)."""
    f = get_format(fmt)
    if f.fixed_bias is not None:
        if bias is not None and int(bias) != f.fixed_bias:
            raise SpecError("bias", f"format {f.name} has a fixed bias of {f.fixed_bias}, got {bias}")
        return f.fixed_bias
    if bias is None or isinstance(bias, bool) or int(bias) != bias or not 0 <= int(bias) <= MAX_BIAS:
        raise SpecError("bias", f"must be an integer 0..{MAX_BIAS} for format {f.name}, got {bias!r}")
    return int(bias)


def _check_subnormals(subnormals: str) -> str:
    if subnormals not in SUBNORMAL_READINGS:
        raise UnknownNameError("subnormals", str(subnormals), SUBNORMAL_READINGS, what="reading")
    return subnormals


def subnormal_exponent(bias: int, subnormals: str = "ieee") -> int:
    """E in denormal = 0.m x 2^E: ``1 - bias`` (IEEE reading) or ``-bias`` (whitepaper's literal text)."""
    return (1 - bias) if _check_subnormals(subnormals) == "ieee" else -bias


def max_value(fmt: str | Format, bias: int | None) -> float:
    """Largest finite magnitude: 1.11..1b x 2^(2^e - 1 - bias)."""
    f = get_format(fmt)
    b = check_bias(f, bias)
    return (2.0 - 2.0 ** -f.man_bits) * 2.0 ** (f.max_exp_field - b)


def min_normal(fmt: str | Format, bias: int | None) -> float:
    """Smallest normal magnitude: 1.0 x 2^(1 - bias)."""
    return 2.0 ** (1 - check_bias(fmt, bias))


def _pow2(k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Exact 2**k for integer tensor ``k`` in the normal range of ``dtype``, built from the bits
    (pow/exp2 kernels are only promised to within an ulp)."""
    if dtype == torch.float64:
        return ((k.to(torch.int64) + 1023) << 52).view(torch.float64)
    return ((k.to(torch.int32) + 127) << 23).view(torch.float32)


@functools.lru_cache(maxsize=512)
def _table(name: str, bias: int, subnormals: str, device: torch.device) -> torch.Tensor:
    f = FORMATS[name]
    codes = torch.arange(f.n_codes, dtype=torch.int64, device=device)
    mag = codes & ((1 << (f.exp_bits + f.man_bits)) - 1)
    expf = mag >> f.man_bits
    manf = (mag & ((1 << f.man_bits) - 1)).to(torch.float64)
    normal = (manf + (1 << f.man_bits)) * _pow2(expf - bias - f.man_bits, torch.float64)
    sub = manf * _pow2(torch.full_like(expf, subnormal_exponent(bias, subnormals) - f.man_bits),
                       torch.float64)
    value = torch.where(expf > 0, normal, sub)
    if f.signed:
        negative = (codes >> (f.bits - 1)).bool()
        value = torch.where(negative, -value, value)  # -(0.0) gives the -0.0 of code 0x80
    return value.to(torch.float32)  # exact: every value has <= 11 significant bits, |exp| < 126


def values(fmt: str | Format, bias: int | None, subnormals: str = "ieee",
           device: torch.device | str = "cpu") -> torch.Tensor:
    """The float32 value of every code of ``fmt`` at ``bias``, indexed by code (a lookup table)."""
    f = get_format(fmt)
    return _table(f.name, check_bias(f, bias), _check_subnormals(subnormals), torch.device(device))


def decode(codes: torch.Tensor, fmt: str | Format, bias: int | None, *,
           subnormals: str = "ieee") -> torch.Tensor:
    """Values (float32) of integer ``codes`` of format ``fmt`` at exponent ``bias``."""
    f = get_format(fmt)
    if not isinstance(codes, torch.Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise SpecError("codes", "must be an integer tensor (uint8 / uint16 codes)")
    table = values(f, bias, subnormals, codes.device)
    idx = codes.to(torch.int64)
    if codes.dtype != torch.uint8 or f.bits != 8:
        if idx.numel() and bool(((idx < 0) | (idx >= f.n_codes)).any()):
            raise SpecError("codes", f"out of range for the {f.bits}-bit format {f.name}")
    return table[idx]


def _check_rounding(rounding: str) -> str:
    if rounding not in ROUNDINGS:
        raise UnknownNameError("rounding", str(rounding), ROUNDINGS, what="rounding mode")
    return rounding


def encode(x: torch.Tensor, fmt: str | Format, bias: int | None, rounding: str = "nearest",
           generator: torch.Generator | None = None, *, subnormals: str = "ieee") -> torch.Tensor:
    """Codes (uint8 for CFloat8, uint16 for CFloat16) of ``x`` rounded into ``fmt`` at ``bias``.

    ``rounding='nearest'`` rounds to nearest, ties to the even code; ``'stochastic'`` rounds up with
    probability equal to the distance from the value below (in units of the gap), drawing uniforms
    from ``generator`` (or torch's global RNG), so the same seed gives the same codes.
    """
    f = get_format(fmt)
    b = check_bias(f, bias)
    _check_subnormals(subnormals)
    _check_rounding(rounding)
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise SpecError("x", "must be a floating-point tensor")
    work = x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)
    top = max_value(f, b)
    nan = torch.isnan(work)
    negative = torch.signbit(work) & ~nan
    # Saturate before rounding: no Inf/NaN codes exist, and NaN clamps to +max like SHP's rule.
    mag = torch.where(nan, torch.full_like(work, top), work.abs()).clamp(max=top)
    if not f.signed:
        mag = torch.where(negative, torch.zeros_like(mag), mag)  # unsigned: clamp to 0
    code = _round_magnitude(mag, f, b, subnormals, rounding, generator)
    if f.signed:
        code = code | (negative.to(torch.int32) << (f.bits - 1))
    return code.to(f.code_dtype)


def _round_magnitude(a: torch.Tensor, f: Format, bias: int, subnormals: str, rounding: str,
                     generator: torch.Generator | None) -> torch.Tensor:
    """int32 code of the magnitude ``a`` (0 <= a <= max), rounded.

    Writes a = t x 2^q, where 2^q is the spacing of representable values around a, so floor(t)
    is the code's integer mantissa and t - floor(t) the exact fraction of the gap (both exact in
    binary floating point, because q is a power of two).
    """
    m = f.man_bits
    _, ex = torch.frexp(a)
    e = ex.to(torch.int32) - 1  # floor(log2 a) for a > 0
    normal = a >= 2.0 ** (1 - bias)
    q = torch.where(normal, e - m, torch.full_like(e, subnormal_exponent(bias, subnormals) - m))
    t = a * _pow2(-q, a.dtype)
    lo = torch.floor(t)
    # normal: exp field (e + bias), mantissa field lo - 2^m  ->  ((e + bias - 1) << m) + lo
    code = torch.where(normal, (e + bias - 1) << m, torch.zeros_like(e)) + lo.to(torch.int32)
    frac_num = t - lo
    width = None
    if subnormals == "literal":
        # Between the largest denormal (2^m - 1 units of 2^(-bias-m)) and the smallest normal
        # (2^(m+1) units) the gap is 2^m + 1 units wide: round between those two ends.
        gap = ~normal & (t >= (1 << m) - 1)
        code = torch.where(gap, torch.full_like(code, (1 << m) - 1), code)
        frac_num = torch.where(gap, t - ((1 << m) - 1), frac_num)
        width = torch.where(gap, torch.full_like(t, (1 << m) + 1), torch.ones_like(t))
    if rounding == "nearest":
        twice = 2 * frac_num
        w = 1.0 if width is None else width
        up = (twice > w) | ((twice == w) & ((code & 1) == 1))
    else:
        u = torch.rand(a.shape, generator=generator, device=a.device, dtype=a.dtype)
        up = (u < frac_num) if width is None else (u * width < frac_num)
    return code + up.to(torch.int32)


def quantize(x: torch.Tensor, fmt: str | Format, bias: int | None, rounding: str = "nearest",
             generator: torch.Generator | None = None, *, subnormals: str = "ieee") -> torch.Tensor:
    """``x`` rounded to the nearest (or a stochastic neighbour) value of ``fmt``, in x's dtype."""
    if subnormals != "ieee" or not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        codes = encode(x, fmt, bias, rounding, generator, subnormals=subnormals)
        return decode(codes, fmt, bias, subnormals=subnormals).to(x.dtype)
    return _quantize_ieee(x, get_format(fmt), check_bias(fmt, bias), _check_rounding(rounding), generator)


def _quantize_ieee(x: torch.Tensor, f: Format, bias: int, rounding: str,
                   generator: torch.Generator | None) -> torch.Tensor:
    """`quantize` without going through codes: the emulation's hot path, about a third of the
    passes over memory. Same arithmetic as `_round_magnitude` (a = t x 2^q, round t to an integer)
    and the same uniforms drawn in the same order, so it returns exactly decode(encode(x)); the
    tests check that. floor(log2 a) is read from the float's exponent bits (cheaper than frexp);
    float32 denormal inputs read as 2^-127, which is below every format's smallest denormal and
    so lands on the same spacing."""
    work = x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)
    if work.dtype == torch.float64:
        ibits, mbits, ebias = torch.int64, 52, 1023
    else:
        ibits, mbits, ebias = torch.int32, 23, 127
    top = max_value(f, bias)
    a = work.abs().clamp(max=top)  # NaN stays NaN here and is mapped to +max at the end
    e = (a.view(ibits) >> mbits) - ebias
    q = (e - f.man_bits).clamp(min=1 - bias - f.man_bits)  # below the smallest normal: fixed spacing
    t = a * ((ebias - q) << mbits).view(work.dtype)  # a / 2^q, exact
    if rounding == "nearest":
        r = torch.round(t)  # half to even: an even integer mantissa is an even code
    else:
        lo = torch.floor(t)
        u = torch.rand(a.shape, generator=generator, device=a.device, dtype=a.dtype)
        r = lo + (u < (t - lo)).to(a.dtype)
    out = r * ((q + ebias) << mbits).view(work.dtype)
    if f.signed:
        out = torch.copysign(out, work)
    else:
        out = out.masked_fill(torch.signbit(work) & ~torch.isnan(work), 0.0)
    return torch.nan_to_num(out, nan=top).to(x.dtype)
