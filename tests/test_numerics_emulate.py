"""Bias policies, and training under emulation: operands rounded forward and backward, FP32 masters."""
import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, strategies as st  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dojosim.errors import SpecError, UnknownNameError  # noqa: E402
from dojosim.numerics import (AmaxHistory, CurrentAbsmax, EmulationPolicy, FixedBias,  # noqa: E402
                              emulate, emulation_state, fit_bias, make_policy, max_value,
                              quantize, unemulate)


@pytest.mark.parametrize("fmt", ["1_4_3", "1_5_2", "shp"])
@given(absmax=st.floats(1e-25, 1e9), margin=st.integers(0, 3))
def test_fit_bias_is_the_finest_bias_that_still_covers_the_absmax(fmt, absmax, margin):
    b = fit_bias(absmax, fmt, margin)
    need = absmax * 2 ** margin
    # covers the absmax, unless even the coarsest bias (0) cannot: then saturation is unavoidable
    assert max_value(fmt, b) >= need or (b == 0 and max_value(fmt, 0) < need)
    if b < 63:
        assert max_value(fmt, b + 1) < need


def test_fit_bias_edge_cases():
    assert fit_bias(0.0, "1_4_3") == 63 and fit_bias(math.nan, "1_4_3") == 63
    assert fit_bias(1e30, "1_4_3") == 0
    assert fit_bias(1.875, "1_4_3") == 15 and fit_bias(1.876, "1_4_3") == 14  # 1.111b x 2^(15-15)
    assert fit_bias(123.0, "uhp") == 31


def test_history_policy_uses_the_past_not_the_present():
    p = AmaxHistory(length=2)
    assert p.choose("w", 1.0, "1_4_3") == fit_bias(1.0, "1_4_3")  # no history: own absmax
    assert p.choose("w", 100.0, "1_4_3") == fit_bias(1.0, "1_4_3")  # delayed: still 1.0's
    assert p.choose("w", 1.0, "1_4_3") == fit_bias(100.0, "1_4_3")
    assert p.choose("w", 1.0, "1_4_3") == fit_bias(100.0, "1_4_3")  # 100 still in the window of 2
    assert p.choose("w", 1.0, "1_4_3") == fit_bias(1.0, "1_4_3")  # ... and now it has left
    assert p.choose("other", 8.0, "1_4_3") == fit_bias(8.0, "1_4_3")  # slots are independent
    assert CurrentAbsmax(margin=1).choose("x", 1.0, "1_4_3") == fit_bias(2.0, "1_4_3")
    assert FixedBias(bias=9).choose("x", 1e6, "1_5_2") == 9


def test_policy_and_preset_names_are_checked():
    with pytest.raises(UnknownNameError):
        make_policy("newest")
    with pytest.raises(SpecError):
        FixedBias(bias=64)
    with pytest.raises(SpecError, match="policy.grad"):
        EmulationPolicy(grad="fp8")
    with pytest.raises(SpecError, match="policy"):
        emulate(nn.Linear(2, 2), "int4")


def _q(x, fmt):
    """Round-to-nearest at the bias CurrentAbsmax picks: the reference for one emulated op."""
    return quantize(x.detach(), fmt, fit_bias(float(x.detach().abs().max()), fmt))


def test_linear_forward_and_backward_take_cfp8_operands_and_accumulate_in_fp32():
    torch.manual_seed(0)
    lin = nn.Linear(16, 8)
    x = torch.randn(4, 16, requires_grad=True)
    gy = torch.randn(4, 8)
    emulate(lin, EmulationPolicy(bias=CurrentAbsmax()))
    y = lin(x)
    y.backward(gy)
    xq, wq, gq = _q(x, "1_4_3"), _q(lin.weight, "1_4_3"), _q(gy, "1_5_2")
    assert torch.equal(y, F.linear(xq, wq, lin.bias))
    assert torch.equal(x.grad, gq @ wq)
    assert torch.equal(lin.weight.grad, gq.t() @ xq)
    assert torch.equal(lin.bias.grad, gq.sum(0))
    assert lin.weight.dtype == torch.float32


def test_conv2d_forward_and_backward_take_cfp8_operands():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    emulate(conv, EmulationPolicy(bias=CurrentAbsmax()))
    y = conv(x)
    gy = torch.randn_like(y)
    y.backward(gy)
    xq = _q(x, "1_4_3").requires_grad_()
    wq = _q(conv.weight, "1_4_3").requires_grad_()
    ref = F.conv2d(xq, wq, conv.bias, padding=1)
    assert torch.equal(y, ref)
    ref.backward(_q(gy, "1_5_2"))
    assert torch.allclose(x.grad, xq.grad, rtol=0, atol=1e-6)
    assert torch.allclose(conv.weight.grad, wq.grad, rtol=0, atol=1e-6)


class Attn(nn.Module):
    """Matmuls written as functions, not modules: the emulation must still see them."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        q = self.proj(x)
        a = torch.softmax(q @ x.transpose(1, 2), dim=-1)
        return torch.bmm(a, x) + F.scaled_dot_product_attention(q, x, x)


def test_functional_matmuls_and_sdpa_are_emulated_and_named_by_module():
    torch.manual_seed(2)
    m = Attn()
    x = torch.randn(2, 5, 8)
    ref = m(x)
    emulate(m, "cfp8-nearest")
    out = m(x)
    out.sum().backward()
    state = emulation_state(m)
    assert state["quantized_ops"] == 5  # proj, @, bmm, and the two matmuls inside sdpa
    assert "proj#0:linear.1:weight" in state["biases"]
    assert any(k.endswith("sdpa_qk:grad") for k in state["biases"])
    err = (out - ref).abs().max().item()
    assert 0 < err < 0.5  # rounded, but still the same function
    unemulate(m)
    assert torch.equal(m(x), ref)


def test_master_weights_stay_fp32_and_small_updates_are_not_lost():
    torch.manual_seed(3)
    lin = nn.Linear(4, 4, bias=False)
    emulate(lin, "cfp8-nearest")
    before = lin.weight.detach().clone()
    opt = torch.optim.SGD(lin.parameters(), lr=1e-6)
    lin(torch.randn(3, 4)).sum().backward()
    opt.step()
    delta = (lin.weight.detach() - before).abs()
    assert lin.weight.dtype == torch.float32
    assert 0 < delta.max().item() < 1e-4  # far below a CFP8 quantum of ~1/16 at these magnitudes


def test_stochastic_emulation_is_reproducible_from_the_seed():
    def grads(seed):
        torch.manual_seed(4)
        m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
        emulate(m, EmulationPolicy(rounding="stochastic", seed=seed))
        m(torch.ones(16, 8)).sum().backward()
        return torch.cat([p.grad.flatten() for p in m.parameters()])

    assert torch.equal(grads(0), grads(0))
    assert not torch.equal(grads(0), grads(1))


def test_nn_multihead_attention_is_reported_as_unemulated_and_double_emulation_refused():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    emulate(m)
    x = torch.randn(1, 3, 8)
    m(x, x, x)
    assert emulation_state(m)["unemulated"] == {"multi_head_attention_forward": 1}
    with pytest.raises(SpecError, match="already emulated"):
        emulate(m)
