"""The one reader of the user's YAML files (runs, systems, sweeps, fleets, cases, plans).

Every user file goes through `read_yaml` (or `parse_yaml` for text already in hand), which
gives a one-line `SpecError` instead of a traceback or a hang for every way a file can be bad:

- it is missing, not a regular file, larger than `limits.MAX_FILE_BYTES`, or not UTF-8;
- its YAML is invalid, or tags a Python object (`yaml.safe_load` rules: no file runs code);
- a mapping repeats a key (YAML says keys are unique; PyYAML silently keeps the last);
- it nests deeper than `limits.MAX_YAML_DEPTH`, or its aliases expand to more than
  `limits.MAX_YAML_NODES` nodes (a 1 kB "alias bomb" otherwise grows to gigabytes once copied
  or serialised) or refer to themselves.

`check_mapping` is the strict unknown-key check that every level of every file uses.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from . import limits
from .errors import SpecError


class _TooBig(yaml.YAMLError):
    """A limit of `limits` crossed while composing; carries the one-line reason."""

    def __init__(self, reason: str, mark=None):
        super().__init__(reason)
        self.problem = reason
        self.problem_mark = mark


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` plus a nesting-depth bound and duplicate-key rejection."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > limits.MAX_YAML_DEPTH:
                raise _TooBig(f"nested deeper than {limits.MAX_YAML_DEPTH} levels "
                              "(dojosim.limits.MAX_YAML_DEPTH)", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise _TooBig(f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root) -> None:
    """Count the nodes and depth of the tree ``root`` expands to once aliases are copied."""
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def walk(node) -> tuple[int, int]:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise _TooBig("an alias refers to itself (recursive YAML structure)", node.start_mark)
        active.add(key)
        size, depth = 1, 0
        children: list = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            s, d = walk(child)
            size += s
            depth = max(depth, d)
            if size > limits.MAX_YAML_NODES:
                raise _TooBig(f"aliases expand it to more than {limits.MAX_YAML_NODES:,} nodes "
                              "(dojosim.limits.MAX_YAML_NODES)", node.start_mark)
        depth += 1
        if depth > limits.MAX_YAML_DEPTH:
            raise _TooBig(f"aliases nest it deeper than {limits.MAX_YAML_DEPTH} levels "
                          "(dojosim.limits.MAX_YAML_DEPTH)", node.start_mark)
        active.discard(key)
        memo[key] = (size, depth)
        return memo[key]

    walk(root)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document in ``text``; anything wrong is a `SpecError` at ``where`` with its line."""
    if not isinstance(text, str):
        raise SpecError(where, f"expected YAML text, got {type(text).__name__}")
    try:
        loader = StrictLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character the YAML spec does not allow
        line = text[:exc.position].count("\n") + 1
        raise SpecError(where, f"cannot read YAML at line {line}: character #x{exc.character:04x} "
                               "is not allowed in YAML text") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, _TooBig):
            raise SpecError(where, f"{problem}{at}") from None
        raise SpecError(where, f"cannot read YAML{at}: {problem}") from None
    except RecursionError:  # belt and braces: the depth bound should stop this first
        raise SpecError(where, "cannot read YAML: nested too deeply") from None
    finally:
        loader.dispose()


def read_text(path: str | os.PathLike, where: str, max_bytes: int | None = None) -> str:
    """The UTF-8 text of the user file ``path``, bounded in size; one-line errors name ``where``."""
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(where, f"expected a file path, got {type(path).__name__}")
    limit = limits.MAX_FILE_BYTES if max_bytes is None else max_bytes
    p = Path(path)
    if "\x00" in str(p):
        raise SpecError(where, "a file path cannot contain a NUL byte")
    try:
        if not p.exists():
            raise SpecError(where, f"no such file: {str(p)!r}")
        if not p.is_file():
            raise SpecError(where, f"not a regular file: {str(p)!r}")
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SpecError(where, f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise SpecError(where, f"{str(p)!r} is larger than {limit:,} bytes (dojosim.limits.MAX_FILE_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(where, f"{str(p)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line})") from None


def read_yaml(path: str | os.PathLike, where: str) -> Any:
    """The YAML document in the file ``path``; a missing file or bad YAML names ``where``."""
    return parse_yaml(read_text(path, where), where)


def check_mapping(data: Any, where: str, known: tuple[str, ...], expected: str) -> dict:
    """``data`` itself, when it is a mapping whose keys are all in ``known``; otherwise a
    `SpecError` at ``where`` ("expected …") or at the first unknown key."""
    if not isinstance(data, dict):
        raise SpecError(where, f"expected {expected}")
    for k in data:
        if k not in known:
            raise SpecError(f"{where}.{k}", f"unknown key; known: {', '.join(known)}")
    return data
