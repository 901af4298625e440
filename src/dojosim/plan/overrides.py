"""Change one field of a System by a dotted path: ``chip.dram_bytes``, ``levels[0].link_bandwidth``,
``levels[tile].memory_pools[0].capacity_bytes``, ``chip.peak_flops.bf16``.

The system is dumped to a dict, the field set, and the dict validated back into a `System`, so
every check of the hardware schema still runs. Values may be SI numbers or human strings
("36 TB/s", "32 GiB"); the unit's dimension comes from the field's name.
"""
from __future__ import annotations

import re

from .. import units
from ..errors import SpecError

_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")

# Field-name endings -> unit dimension (the hardware schema names its fields this way).
_DIMS = (("_bytes", "bytes"), ("bandwidth", "bandwidth"), ("peak_flops", "flops"), ("_w", "power"),
         ("_usd", "money"), ("latency_s", "time"), ("children", "count"), ("count", "count"),
         ("oversubscription", "count"))


def tokens(path: str) -> list[str | int]:
    """``levels[0].link_bandwidth`` -> ["levels", 0, "link_bandwidth"]."""
    out: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(path):
        if m.start() != pos and path[pos:m.start()] != ".":
            raise SpecError(path, "cannot read this field path (write e.g. levels[0].link_bandwidth)")
        pos = m.end()
        name, index = m.groups()
        if index is not None:
            out.append(int(index) if index.lstrip("-").isdigit() else index)
        else:
            out.append(name)
    if not out or pos != len(path):
        raise SpecError(path, "cannot read this field path (write e.g. levels[0].link_bandwidth)")
    return out


def dimension(path_tokens: list) -> str | None:
    names = [t for t in path_tokens if isinstance(t, str)]
    if len(names) >= 2 and names[-2] == "peak_flops":
        return "flops"
    last = names[-1] if names else ""
    for suffix, dim in _DIMS:
        if last.endswith(suffix):
            return dim
    return None


def _value(value, path: str, toks: list):
    if isinstance(value, str):
        dim = dimension(toks)
        if dim is not None:
            return units.parse(value, dim, path=path)
    return value


def set_path(data, toks: list, value, path: str):
    """Set ``value`` at ``toks`` inside nested dicts/lists ``data`` (in place)."""
    node = data
    for i, tok in enumerate(toks):
        last = i == len(toks) - 1
        if isinstance(node, list):
            if isinstance(tok, str):  # a level (or pool) by its name
                match = [j for j, item in enumerate(node) if isinstance(item, dict) and item.get("name") == tok]
                if not match:
                    names = [item.get("name") for item in node if isinstance(item, dict)]
                    raise SpecError(path, f"no entry named {tok!r}; known: {', '.join(map(str, names))}")
                tok = match[0]
            if not -len(node) <= tok < len(node):
                raise SpecError(path, f"index {tok} out of range ({len(node)} entries)")
        elif isinstance(node, dict):
            if not isinstance(tok, str):
                raise SpecError(path, f"{tok!r} indexes a mapping; use a field name")
            if tok not in node and not (last and isinstance(node, dict) and toks[i - 1:i] == ["peak_flops"]):
                raise SpecError(path, f"unknown field {tok!r}; known: {', '.join(sorted(node))}")
        else:
            raise SpecError(path, f"{toks[i - 1]!r} has no fields")
        if last:
            node[tok] = value
        else:
            node = node[tok]


def apply_system_overrides(system, overrides: dict):
    """A new System with each ``{path: value}`` applied (paths relative to the System)."""
    if not overrides:
        return system
    from pydantic import ValidationError

    from ..errors import from_pydantic

    data = system.model_dump()
    for path, value in overrides.items():
        toks = tokens(path)
        set_path(data, toks, _value(value, f"system.{path}", toks), f"system.{path}")
    try:
        return type(system).model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, "system") from None
