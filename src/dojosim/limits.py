"""Every size limit dojosim checks before it starts work, in one place, each with its reason.

A limit is far above any real use (the largest machines and runs we know of are two or more
orders of magnitude below it) and exists only so that a typo or a hostile file gets a one-line
error instead of a hang or a memory blow-up. Each is checked where the input is read, before any
long computation, and the error names the field and the limit.
"""
from __future__ import annotations

import os

from .errors import SpecError

# ---- files -------------------------------------------------------------------------------------
# The largest file dojosim ships (the validation cases) is ~40 kB; a user file 200x that is a
# mistake (a binary, a log) and reading it whole would only waste memory.
MAX_FILE_BYTES = 8 * 2**20
# Run, system, sweep and fleet files nest 6-8 levels deep (cases > system > levels > topology >
# shape). 32 leaves room and stops before Python's recursion limit is near.
MAX_YAML_DEPTH = 32
# YAML aliases let a 1 kB file expand to billions of nodes (an "alias bomb"). The expanded tree
# of every real file is under 10^4 nodes.
MAX_YAML_NODES = 200_000

# ---- machines and batches ----------------------------------------------------------------------
# 2^24 = 16.7 M accelerators: ~160x the largest cluster announced (100k H100s, 2024).
MAX_DEVICES = 2**24
# 2^32 samples per optimizer step: real global batches are at most ~10^7 tokens / 10^5 samples.
MAX_GLOBAL_BATCH = 2**32

# Ranked strategies a search returns: a table of more than a few dozen is never read.
MAX_TOP = 10_000

# Any one size of a network (layers, hidden, sequence, vocabulary, image side): 2^40 is ~10^5x
# the largest published (a 10^7-token context); past it products of sizes leave float range.
MAX_MODEL_SIZE = 2**40

# ---- sweeps ------------------------------------------------------------------------------------
# Random samples drawn per sweep (the "2^32 samples" bound on draws); the points
# themselves are listed in memory before the first is costed, so their number has its own bound.
MAX_SAMPLES = 2**32
# 2^18 = 262,144 points, 26x the largest example sweep: listing them peaks at ~3 kB per point
# (0.8 GB; measured with tracemalloc) and takes ~1 min on one loaded core. Split a larger design
# space into several sweeps, each with its own --out.
MAX_SWEEP_POINTS = 2**18

# ---- numerics ----------------------------------------------------------------------------------
# Training steps per precision of `dojosim numerics`: the defaults are 200-500 and each step of
# the small networks takes ~10-50 ms on a CPU, so 10^5 steps is already hours.
MAX_NUMERICS_STEPS = 100_000
MAX_NUMERICS_BATCH = 4096


def check_int(value, path: str, *, low: int = 1, high: int, what: str = "an integer") -> int:
    """``value`` itself when it is an int in [low, high]; otherwise a `SpecError` at ``path``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be {what}, got {value!r}")
    if value < low:
        raise SpecError(path, f"must be at least {low}, got {value}")
    if value > high:
        raise SpecError(path, f"{value} is above the limit of {high:,} (dojosim.limits)")
    return value


def cap_workers(workers, path: str = "workers") -> int:
    """Worker processes: default and upper bound are the cores of this machine."""
    cores = os.cpu_count() or 1
    if workers is None:
        return cores
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise SpecError(path, f"must be a positive integer, got {workers!r}")
    if workers < 1:
        raise SpecError(path, f"must be at least 1, got {workers}")
    return min(workers, cores)
