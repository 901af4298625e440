"""Preset systems shipped as YAML inside the package, and `load_system` for presets and files.

A preset file holds either one system (a mapping with ``name``), or a family:
``{definitions: {...anchors...}, systems: {name: spec, ...}}`` so related presets share level
definitions through YAML anchors and ``<<:`` merge keys. Files are read with ``yaml.safe_load``.
"""
from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any


from ..errors import SpecError, UnknownNameError
from .devices import with_devices
from .schema import Chip, Source, System
from ..yamlfile import parse_yaml, read_text
from .spec import read_system

_FAMILY_KEYS = ("definitions", "systems", "description")


def _specs_in(doc: Any, where: str) -> dict[str, dict]:
    """name -> raw spec for one preset file (single system or family)."""
    if isinstance(doc, dict) and "systems" in doc and "name" not in doc:
        extra = [k for k in doc if k not in _FAMILY_KEYS]
        if extra:
            raise SpecError(f"{where}.{extra[0]}", f"unknown key; expected one of: {', '.join(_FAMILY_KEYS)}")
        out = {}
        for name, spec in (doc["systems"] or {}).items():
            if isinstance(spec, dict):
                spec = {"name": name, **{k: v for k, v in spec.items() if k != "name"}}
            out[str(name)] = spec
        return out
    if isinstance(doc, dict) and isinstance(doc.get("name"), str):
        return {doc["name"]: doc}
    raise SpecError(where, "expected a system (a mapping with name, chip, levels) or a family (systems: {...})")


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, dict]:
    """All preset specs by name (raw, as read from YAML)."""
    found: dict[str, dict] = {}
    folder = resources.files("dojosim.hardware") / "presets"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        doc = parse_yaml(entry.read_text(encoding="utf-8"), entry.name)
        for name, spec in _specs_in(doc, entry.name).items():
            if name in found:
                raise RuntimeError(f"preset {name!r} defined twice (second time in {entry.name})")
            found[name] = spec
    return found


def list_presets() -> list[str]:
    """Names of the built-in presets, sorted."""
    return sorted(_registry())


def _resolve_chip(name: str, path: str) -> tuple[Chip, dict[str, Source]]:
    """``chip: h100-dgx`` in a user file: borrow that preset's chip and its sources."""
    sys = _preset(name, path)
    return sys.chip, {k: v for k, v in sys.sources.items() if k.startswith("chip")}


@functools.lru_cache(maxsize=64)
def _preset_cached(name: str) -> System:
    return read_system(_registry()[name], preset=name, resolve_chip=_resolve_chip)


def _preset(name: str, path: str = "system") -> System:
    if name not in _registry():
        raise UnknownNameError(path, name, list_presets(), what="preset")
    # a deep copy: callers may edit their system (sweeps do) without touching the cache
    return _preset_cached(name).model_copy(deep=True)


def _looks_like_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or os.sep in ref or "/" in ref


def load_file(path: str | os.PathLike) -> System:
    """A user's system described in a YAML file, in the preset schema."""
    p = Path(path)
    doc = parse_yaml(read_text(p, "system"), p.name)
    specs = _specs_in(doc, p.name)
    if len(specs) != 1:
        raise SpecError("systems", f"{p.name} holds {len(specs)} systems; a file for `show` must hold one")
    (spec,) = specs.values()
    return read_system(spec, preset=str(p), resolve_chip=_resolve_chip)


def load_system(ref: str | os.PathLike, devices: int | None = None) -> System:
    """A preset by name, or a YAML file by path; resized to ``devices`` accelerators if given."""
    if not isinstance(ref, (str, os.PathLike)) or not os.fspath(ref):
        raise SpecError("system", f"expected a preset name or a system file path, got {ref!r}")
    ref_s = os.fspath(ref)
    try:
        is_file = Path(ref_s).is_file()
    except OSError:  # a name too long for a path: it can only be a (wrong) preset name
        is_file = False
    if _looks_like_path(ref_s) or (is_file and ref_s not in _registry()):
        system = load_file(ref_s)
    else:
        system = _preset(ref_s)
    if devices is not None:
        system = with_devices(system, devices)
    return system
