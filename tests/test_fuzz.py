"""Fuzzing the CLI with mutated example files and mutated arguments (issue 13).

Property (tests/fuzzing.py): every input ends in exit 0 with finite numbers, or exit 2 with one
line, within a time and memory bound. CI runs a small, fixed-seed budget (the two tests below);
``python -m pytest -m fuzz`` runs the long one for ``DOJOSIM_FUZZ_SECONDS`` (default 600).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fuzzing import SEED_COMMANDS, check, command_for, mutate_args, mutate_text, mutate_tree, seed_files

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc/self/status"),
                                reason="the fuzz runner forks and reads /proc (Linux)")

FILES = seed_files()
CI_EXAMPLES = int(os.environ.get("DOJOSIM_FUZZ_CI_EXAMPLES", 8))
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def fuzz_file(data) -> None:
    """One mutated example file, fed to the command that reads it."""
    kind, name, doc = data.draw(st.sampled_from(FILES), label="seed file")
    doc = mutate_tree(data, doc) if data.draw(st.booleans(), label="mutate tree") else doc
    raw = mutate_text(data, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    work = tempfile.mkdtemp(prefix="dojosim-fuzz-")
    try:
        path = os.path.join(work, name)
        with open(path, "wb") as fh:
            fh.write(raw)
        check(f"file:{kind}", command_for(kind, path, work), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fuzz_args(data) -> None:
    """One mutated command line."""
    argv = mutate_args(data, data.draw(st.sampled_from(SEED_COMMANDS), label="seed command"))
    work = tempfile.mkdtemp(prefix="dojosim-fuzz-")
    try:
        check("args", argv, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_CI = settings(max_examples=CI_EXAMPLES, derandomize=True, database=None, deadline=None,
               suppress_health_check=_QUIET)


@_CI
@given(st.data())
def test_fuzz_example_files(data):
    fuzz_file(data)


@_CI
@given(st.data())
def test_fuzz_cli_arguments(data):
    fuzz_args(data)


@pytest.mark.fuzz
def test_fuzz_long():
    """The larger budget: fresh seeds until DOJOSIM_FUZZ_SECONDS have passed."""
    deadline = time.monotonic() + float(os.environ.get("DOJOSIM_FUZZ_SECONDS", 600))
    base = int(os.environ.get("DOJOSIM_FUZZ_SEED", 13))
    i = 0
    while time.monotonic() < deadline:
        for body in (fuzz_file, fuzz_args):
            run = seed(base + i)(settings(max_examples=10, database=None, deadline=None,
                                          suppress_health_check=_QUIET)(given(st.data())(body)))
            run()
            i += 1
