"""Train any ``nn.Module`` as Dojo would: CFloat8 operands, FP32 accumulation, FP32 master weights.

``emulate(model, policy)`` intercepts, during the model's forward, every matmul-like call --
``F.linear``, ``F.conv1d/2d/3d``, ``torch.matmul`` / ``@`` / ``mm`` / ``bmm`` and
``F.scaled_dot_product_attention`` (decomposed into its two matmuls) -- and

* forward: rounds both operands to their format (parameters: ``policy.weight``, default 1_4_3;
  other tensors, i.e. activations: ``policy.activation``, default 1_4_3), then runs the op in FP32
  on the rounded values, which is "CFloat8 operands expanded to FP32" as the whitepaper puts it;
* backward: rounds the gradient arriving at the op's output to ``policy.grad`` (default 1_5_2);
  autograd then multiplies it with the saved *rounded* operands in FP32, so both backward matmuls
  (dX = dY W, dW = dY^T X) also take CFloat8 operands;
* the rounding of the operands is straight-through for autograd, so the FP32 master weights get
  the FP32-accumulated gradient and the optimizer updates them in FP32.

Each rounding picks its tensor's bias from ``policy.bias`` (see `bias.py`), keyed by the slot
"<module name>#<op index in that module>:<operand>", so each weight, activation and gradient has
its own bias history. Not intercepted: ops inside Python-level torch functions that dispatch as a
whole (``F.multi_head_attention_forward``, i.e. ``nn.MultiheadAttention`` / ``nn.Transformer``);
they run in FP32 and are counted in `emulation_state(model)["unemulated"]`. Norms, softmax,
elementwise ops and the optimizer stay FP32, as on an FP32-accumulating datapath.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import SpecError, UnknownNameError
from .bias import AmaxHistory, BiasPolicy
from .formats import FORMATS, ROUNDINGS, SUBNORMAL_READINGS, quantize

OPERAND_FORMATS = tuple(FORMATS) + ("bf16", "fp32")


@dataclass(kw_only=True)
class EmulationPolicy:
    """Which format each operand is rounded to, how, and how its bias is chosen."""

    weight: str = "1_4_3"
    activation: str = "1_4_3"
    grad: str = "1_5_2"
    rounding: str = "nearest"  # for every conversion: 'nearest' or 'stochastic'
    bias: BiasPolicy = field(default_factory=AmaxHistory)
    seed: int = 0  # seeds the stochastic-rounding generator: same seed, same run
    subnormals: str = "ieee"
    name: str = "cfp8"

    def __post_init__(self):
        for role in ("weight", "activation", "grad"):
            if getattr(self, role) not in OPERAND_FORMATS:
                raise UnknownNameError(f"policy.{role}", getattr(self, role), OPERAND_FORMATS, "format")
        if self.rounding not in ROUNDINGS:
            raise UnknownNameError("policy.rounding", self.rounding, ROUNDINGS, "rounding mode")
        if self.subnormals not in SUBNORMAL_READINGS:
            raise UnknownNameError("policy.subnormals", self.subnormals, SUBNORMAL_READINGS, "reading")


def preset(name: str, seed: int = 0) -> EmulationPolicy:
    """The policies of the experiment: 'fp32', 'bf16', 'cfp8-nearest', 'cfp8-stochastic'."""
    table = {
        "fp32": dict(weight="fp32", activation="fp32", grad="fp32"),
        "bf16": dict(weight="bf16", activation="bf16", grad="bf16"),
        "cfp8-nearest": dict(rounding="nearest"),
        "cfp8-stochastic": dict(rounding="stochastic"),
    }
    if name not in table:
        raise UnknownNameError("policy", name, table, what="precision policy")
    return EmulationPolicy(name=name, seed=seed, **table[name])


class _Emulator:
    """State of one emulated model: the policy, the RNGs, and where in the forward we are."""

    def __init__(self, policy: EmulationPolicy):
        self.policy = policy
        self.generators: dict[torch.device, torch.Generator] = {}
        self.stack: list[tuple[str, list[int]]] = []
        self.quantized_ops = 0
        self.unemulated: dict[str, int] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        if device not in self.generators:
            self.generators[device] = torch.Generator(device=device).manual_seed(self.policy.seed)
        return self.generators[device]

    def round(self, x: torch.Tensor, fmt: str, key: str) -> torch.Tensor:
        if fmt == "fp32":
            return x
        if fmt == "bf16":  # torch's conversion rounds to nearest even
            return x.to(torch.bfloat16).to(x.dtype)
        absmax = float(x.detach().abs().amax()) if x.numel() else 0.0
        bias = self.policy.bias.choose(key, absmax, fmt)
        gen = self.generator(x.device) if self.policy.rounding == "stochastic" else None
        return quantize(x.detach(), fmt, bias, self.policy.rounding, gen,
                        subnormals=self.policy.subnormals)

    def next_key(self, kind: str) -> str:
        name, counter = self.stack[-1] if self.stack else ("", [0])
        index = counter[0]
        counter[0] += 1
        return f"{name or '<model>'}#{index}:{kind}"

    def operand(self, t, key: str):
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            return t
        is_weight = isinstance(t, nn.Parameter)
        fmt = self.policy.weight if is_weight else self.policy.activation
        key = f"{key}:{'weight' if is_weight else 'act'}"
        if torch.is_grad_enabled() and t.requires_grad:
            return _RoundOperand.apply(t, self, fmt, key)
        return self.round(t, fmt, key)

    def run(self, func, kind: str, args: tuple, kwargs: dict):
        """``func(*args)`` with rounded operands and a rounding point for the output's gradient."""
        key = self.next_key(kind)
        a = self.operand(args[0], f"{key}.0")
        b = self.operand(args[1], f"{key}.1")
        out = func(a, b, *args[2:], **kwargs)
        self.quantized_ops += 1
        if isinstance(out, torch.Tensor) and out.requires_grad and torch.is_grad_enabled():
            out = _RoundGradOutput.apply(out, self, self.policy.grad, f"{key}:grad")
        return out

    def sdpa(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
             enable_gqa=False):
        """F.scaled_dot_product_attention as its two matmuls, each emulated; softmax in FP32."""
        if enable_gqa and k.size(-3) != q.size(-3):
            rep = q.size(-3) // k.size(-3)
            k, v = k.repeat_interleave(rep, dim=-3), v.repeat_interleave(rep, dim=-3)
        scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
        s = self.run(torch.matmul, "sdpa_qk", (q, k.transpose(-2, -1)), {}) * scale
        if is_causal:
            keep = torch.ones(s.size(-2), s.size(-1), dtype=torch.bool, device=s.device).tril()
            s = s.masked_fill(~keep, float("-inf"))
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else s + attn_mask
        p = torch.softmax(s, dim=-1)
        if dropout_p:
            p = F.dropout(p, dropout_p)
        return self.run(torch.matmul, "sdpa_pv", (p, v), {})


class _RoundOperand(torch.autograd.Function):
    """Forward: round to the operand's format. Backward: pass the gradient through unchanged, so
    the FP32 master tensor receives the (FP32-accumulated) gradient of its rounded copy."""

    @staticmethod
    def forward(ctx, x, emu, fmt, key):
        return emu.round(x, fmt, key)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None, None


class _RoundGradOutput(torch.autograd.Function):
    """Forward: identity. Backward: round the gradient arriving at a matmul's output (1_5_2)."""

    @staticmethod
    def forward(ctx, y, emu, fmt, key):
        ctx.emu, ctx.fmt, ctx.key = emu, fmt, key
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        return ctx.emu.round(grad, ctx.fmt, ctx.key), None, None, None


_KINDS = {
    F.linear: "linear",
    F.conv1d: "conv", F.conv2d: "conv", F.conv3d: "conv",
    torch.matmul: "matmul", torch.Tensor.matmul: "matmul", torch.Tensor.__matmul__: "matmul",
    torch.mm: "matmul", torch.Tensor.mm: "matmul", torch.bmm: "matmul", torch.Tensor.bmm: "matmul",
    torch.Tensor.__rmatmul__: "rmatmul",
    F.scaled_dot_product_attention: "sdpa",
}
# Python-level functions that contain matmuls but dispatch as a whole (see module docstring).
_OPAQUE = {F.multi_head_attention_forward: "multi_head_attention_forward"}


class _EmulationMode(TorchFunctionMode):
    def __init__(self, emu: _Emulator):
        super().__init__()
        self.emu = emu

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _KINDS.get(func)
        if kind == "sdpa":
            return self.emu.sdpa(*args, **kwargs)
        if kind == "rmatmul":
            return self.emu.run(torch.matmul, "matmul", (args[1], args[0]), kwargs)
        if kind is not None and len(args) >= 2:
            return self.emu.run(func, kind, args, kwargs)
        if func in _OPAQUE:
            name = _OPAQUE[func]
            self.emu.unemulated[name] = self.emu.unemulated.get(name, 0) + 1
        return func(*args, **kwargs)


def emulate(model: nn.Module, policy: EmulationPolicy | str | None = None) -> nn.Module:
    """Make ``model`` (in place) run its matmuls and convolutions on rounded operands; returns it.

    ``policy`` is an `EmulationPolicy`, a preset name (see `preset`), or None for the default
    (weights and activations 1_4_3, gradients 1_5_2, round to nearest, amax-history bias).
    """
    if not isinstance(model, nn.Module):
        raise SpecError("model", f"must be a torch.nn.Module, got {type(model).__name__}")
    if hasattr(model, "_dojosim_emulator"):
        raise SpecError("model", "is already emulated; call unemulate(model) first")
    if policy is None:
        policy = EmulationPolicy()
    elif isinstance(policy, str):
        policy = preset(policy)
    emu = _Emulator(policy)
    handles = []

    def leave(mod, args, out):  # a forward hook must return None, or it replaces the output
        if emu.stack:
            emu.stack.pop()

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(
            lambda mod, args, name=name: emu.stack.append((name, [0])) and None))
        handles.append(module.register_forward_hook(leave))
    inner = model.forward

    @functools.wraps(inner)
    def forward(*args, **kwargs):
        # the root's pre-hook already ran: keep only its frame (a previous forward may have raised)
        del emu.stack[:-1]
        with _EmulationMode(emu):
            return inner(*args, **kwargs)

    model.forward = forward
    model._dojosim_emulator = emu
    emu.handles = handles
    return model


def unemulate(model: nn.Module) -> nn.Module:
    """Undo `emulate`: plain FP32 again."""
    emu = getattr(model, "_dojosim_emulator", None)
    if emu is None:
        return model
    for h in emu.handles:
        h.remove()
    del model.forward
    del model._dojosim_emulator
    return model


def emulation_state(model: nn.Module) -> dict:
    """What the emulation did: the policy name, the bias last chosen for each slot, the number of
    emulated op calls, and the matmul-holding calls that ran unemulated."""
    emu = getattr(model, "_dojosim_emulator", None)
    if emu is None:
        raise SpecError("model", "is not emulated")
    return {"policy": emu.policy.name, "biases": dict(emu.policy.bias.chosen),
            "quantized_ops": emu.quantized_ops, "unemulated": dict(emu.unemulated)}
