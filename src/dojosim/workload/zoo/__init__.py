"""The model zoo: named families and presets, each an analytic builder and a torch module.

`build(name, **overrides)` returns the op graph without torch; `torch_module(name, ...)` the
real `nn.Module` (torch imported lazily), `example_inputs(name, batch, ...)` inputs for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ... import limits
from ...errors import SpecError, UnknownNameError
from ..graph import Model
from . import transformer as _tf


@dataclass(frozen=True)
class Family:
    name: str
    kind: str                     # transformer | moe | cnn | vit | fsd | occupancy
    description: str
    defaults: dict
    builder: Callable[[dict, str], Model]
    torch_factory: str            # "module:function" inside dojosim.workload.zoo
    run_keys: dict = field(default_factory=dict)  # run-format key -> config key


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    overrides: dict
    description: str
    source: str


FAMILIES: dict[str, Family] = {}
PRESETS: dict[str, Preset] = {}

_TF_RUN_KEYS = {k: k for k in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "seq_len")}


def _family(name, kind, description, defaults, builder, torch_factory, run_keys) -> None:
    FAMILIES[name] = Family(name, kind, description, defaults, builder, torch_factory, run_keys)


def _preset(name, family, overrides, description, source) -> None:
    PRESETS[name] = Preset(name, family, overrides, description, source)


_family("gpt", "transformer", "GPT-2/3 / Megatron decoder: LayerNorm, GELU, MHA, learned positions, tied output",
        _tf.GPT_DEFAULTS, lambda c, n: _tf.build_transformer(c, n, "gpt"), "nn_transformer:gpt", _TF_RUN_KEYS)
_family("llama", "transformer", "Llama decoder: RMSNorm, SwiGLU, RoPE, grouped-query attention",
        _tf.LLAMA_DEFAULTS, lambda c, n: _tf.build_transformer(c, n, "llama"), "nn_transformer:llama",
        _TF_RUN_KEYS)
_family("moe", "moe", "Mixture-of-experts Llama-style decoder: top-k routed SwiGLU experts, capacity factor",
        _tf.MOE_DEFAULTS, lambda c, n: _tf.build_transformer(c, n, "moe"), "nn_transformer:moe",
        {**_TF_RUN_KEYS, "experts": "experts", "top_k": "top_k"})

_preset("gpt3-175b", "gpt", {"layers": 96, "hidden": 12288, "heads": 96, "seq_len": 2048, "vocab": 50257},
        "GPT-3 175B", "Brown et al. 2020, Table 2.1 (174.6B parameters)")
_preset("megatron-1t", "gpt", {"layers": 128, "hidden": 25600, "heads": 160, "seq_len": 2048, "vocab": 51200},
        "Megatron-LM 1T", "Narayanan et al. SC'21, Table 1 (1008B parameters)")
_preset("llama3-8b", "llama", {}, "Llama-3 8B", "Meta Llama 3 model card / config.json (8.03B parameters)")
_preset("llama3-70b", "llama", {"layers": 80, "hidden": 8192, "heads": 64, "kv_heads": 8, "ffn": 28672},
        "Llama-3 70B", "Meta Llama 3 model card / config.json (70.6B parameters)")
_preset("llama3-405b", "llama", {"layers": 126, "hidden": 16384, "heads": 128, "kv_heads": 8, "ffn": 53248},
        "Llama-3.1 405B", "Llama 3 Herd of Models, Table 3 (405B parameters)")
_preset("mixtral-8x7b", "moe", {}, "Mixtral 8x7B", "Jiang et al. 2024 / config.json (46.7B parameters)")


def _register_optional() -> None:
    """Families defined in modules that may not exist yet in a partial checkout."""
    import importlib

    for mod in ("cnn", "vit", "fsd"):  # each defines register(family, preset)
        try:
            m = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as err:  # pragma: no cover - only in a partial tree
            if err.name != f"{__name__}.{mod}":
                raise
            continue
        m.register(_family, _preset)


_register_optional()


def names() -> list[str]:
    return sorted(set(FAMILIES) | set(PRESETS))


def resolve(name: str, path: str = "model") -> tuple[Family, dict, Preset | None]:
    """The family, base configuration and preset (if any) of a zoo name."""
    if isinstance(name, str) and name not in PRESETS and name not in FAMILIES:
        name = name.strip().lower()  # "GPT3-175B" and "ResNet50" are the same models
    if name in PRESETS:
        p = PRESETS[name]
        fam = FAMILIES[p.family]
        return fam, {**fam.defaults, **p.overrides}, p
    if name in FAMILIES:
        fam = FAMILIES[name]
        return fam, dict(fam.defaults), None
    raise UnknownNameError(path, str(name), names(), what="zoo model")


def coerce(key: str, value: Any, default: Any, path: str) -> Any:
    """Check one override against the type of its default; strings from the CLI are parsed."""
    where = f"{path}.{key}" if path else key
    if value is None:
        return None
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise SpecError(where, f"expected true or false, got {value!r}")
    if isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise SpecError(where, f"expected a list of integers, got {value!r}")
        return tuple(coerce(key, v, 1, path) for v in items)
    if isinstance(default, float):
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise SpecError(where, f"expected a number, got {value!r}") from None
        if not math.isfinite(v):
            raise SpecError(where, f"must be a finite number, got {value!r}")
        if v < 0:
            raise SpecError(where, f"must not be negative, got {value!r}")
        return v
    if isinstance(default, str):
        return str(value)
    # int (or None default: the ints like kv_heads / ffn that default to a derived value)
    what = "a non-negative index" if key in INDEX_SETTINGS else "a positive integer"
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(where, f"expected {what}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(f) or f != int(f) or f < (0 if key in INDEX_SETTINGS else 1):
        raise SpecError(where, f"expected {what}, got {value!r}")
    if f > limits.MAX_MODEL_SIZE:
        raise SpecError(where, f"{value} is above the limit of {limits.MAX_MODEL_SIZE:,} (dojosim.limits)")
    return int(f)


# Integer settings that are 0-based indices rather than sizes (the builder checks their range).
INDEX_SETTINGS = frozenset({"bev_level"})


def configure(name: str, overrides: dict, path: str = "") -> tuple[Family, dict, str]:
    """The full configuration of ``name`` with ``overrides`` applied and checked."""
    fam, cfg, _ = resolve(name, path or "model")
    for key, value in overrides.items():
        if key not in fam.defaults:
            where = f"{path}.{key}" if path else key
            raise SpecError(where, f"unknown setting for {name!r}; known: {', '.join(sorted(fam.defaults))}")
        v = coerce(key, value, fam.defaults[key], path)
        if v is not None:
            cfg[key] = v
    return fam, cfg, name if name in PRESETS or name in FAMILIES else name.strip().lower()


def build(name: str, *, _path: str = "", **overrides) -> Model:
    """The op graph of zoo model ``name`` (a family or a preset) with ``overrides`` applied."""
    if not isinstance(name, str):
        raise SpecError(f"{_path}.model" if _path else "model", f"expected a zoo model name, got {name!r}")
    fam, cfg, label = configure(name, overrides, _path)
    try:
        return fam.builder(cfg, label)
    except SpecError as err:
        if not _path:
            raise
        # a plain copy: SpecError.prefixed cannot copy an exception with two init arguments
        raise SpecError(f"{_path}.{err.path}" if err.path else _path, err.reason) from None


def list_models() -> list[dict]:
    """Every family and preset: name, family, description, defaults (and source for presets)."""
    out = [{"name": f.name, "family": f.name, "kind": f.kind, "description": f.description,
            "defaults": dict(f.defaults), "source": "dojosim zoo family"} for f in FAMILIES.values()]
    for p in PRESETS.values():
        fam = FAMILIES[p.family]
        out.append({"name": p.name, "family": p.family, "kind": fam.kind, "description": p.description,
                    "defaults": {**fam.defaults, **p.overrides}, "source": p.source})
    return sorted(out, key=lambda r: (r["family"], r["name"] != r["family"], r["name"]))


RUN_KEYS = ("model", "layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "seq_len", "experts", "top_k",
            "image_size")


def from_run(workload: dict, path: str = "workload") -> Model:
    """The op graph of a run file's ``workload:`` block (see docs/validation.md).

    ``model`` is a zoo family or preset; the other keys override its defaults, None keeps them.
    A common key the model does not have (e.g. ``experts`` for a dense GPT) must be None; any
    setting of the family may also be given by its own name (``frames: 16`` for fsd).
    """
    if not isinstance(workload, dict):
        raise SpecError(path, "expected a mapping with at least a 'model' key")
    if "model" not in workload or not workload["model"]:
        raise SpecError(f"{path}.model", "missing: name a zoo model, e.g. gpt, llama, resnet50")
    name = str(workload["model"])
    fam, _, _ = resolve(name, f"{path}.model")
    overrides = {}
    for key, value in workload.items():
        # beyond the common keys, any setting of the model's family (e.g. frames for fsd)
        if key in RUN_KEYS:
            continue
        if key not in fam.defaults:
            known = sorted(set(RUN_KEYS) | set(fam.defaults))
            raise SpecError(f"{path}.{key}", f"unknown key for {name!r}; known: {', '.join(known)}")
        if value is not None:
            overrides[key] = value
    for key in RUN_KEYS[1:]:
        value = workload.get(key)
        if value is None:
            continue
        if key not in fam.run_keys:
            raise SpecError(f"{path}.{key}", f"not a setting of {name!r} (leave it null)")
        overrides[fam.run_keys[key]] = value
    written = {fam.run_keys[k]: k for k in RUN_KEYS[1:] if workload.get(k) is not None and k in fam.run_keys}
    try:
        return build(name, _path=path, **overrides)
    except SpecError as err:
        # name the key the user wrote (e.g. "layers"), not the builder's own name ("depth")
        back = {f"{path}.{cfg_key}": f"{path}.{run_key}" for cfg_key, run_key in written.items()}
        if err.path in back:
            raise SpecError(back[err.path], err.reason) from None
        raise


def _factory(name: str):
    import importlib

    fam, _, _ = resolve(name)
    mod, func = fam.torch_factory.split(":")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), func)


def torch_module(name: str, **overrides):
    """The real ``torch.nn.Module`` of zoo model ``name`` (torch is imported only here).

    Parameters are created on torch's current default device: build big models under
    ``with torch.device("meta"):`` to trace them without memory.
    """
    build(name, **overrides)  # the analytic builder checks the settings (one SpecError, named)
    fam, cfg, _ = configure(name, overrides)
    return _factory(name)(cfg).module()


def example_inputs(name: str, batch: int = 1, *, device: str = "cpu", **overrides) -> tuple:
    """Inputs for ``torch_module(name, **overrides)``: a tuple of tensors, batch first.

    ``device="meta"`` gives shapes without memory (what the tracer needs); the FSD default's
    clip is ~1 GB of float32 per sample on the CPU.
    """
    return example_inputs_on(name, batch, device, **overrides)


def example_inputs_on(name: str, batch: int, device: str, **overrides) -> tuple:
    fam, cfg, _ = configure(name, overrides)
    if batch < 1:
        raise SpecError("batch", f"expected a positive integer, got {batch!r}")
    inputs = _factory(name)(cfg).inputs(batch, "meta" if device == "meta" else "cpu")
    return inputs if device in ("cpu", "meta") else tuple(t.to(device) for t in inputs)
