"""Reading the user's YAML files (runs, systems, sweeps, fleets) safely, with one-line errors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` of ``text``; a syntax error is a `SpecError` at ``where`` with its line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(where, f"cannot read YAML{at}: {problem}") from None


def read_yaml(path: str | os.PathLike, where: str) -> Any:
    """The YAML document in the file ``path``; a missing file or bad YAML names ``where``."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(where, f"no such file: {str(p)!r}")
    return parse_yaml(p.read_text(encoding="utf-8"), where)


def check_mapping(data: Any, where: str, known: tuple[str, ...], expected: str) -> dict:
    """``data`` itself, when it is a mapping whose keys are all in ``known``; otherwise a
    `SpecError` at ``where`` ("expected …") or at the first unknown key."""
    if not isinstance(data, dict):
        raise SpecError(where, f"expected {expected}")
    for k in data:
        if k not in known:
            raise SpecError(f"{where}.{k}", f"unknown key; known: {', '.join(known)}")
    return data
