"""Dojo as a cloud: many tenants' jobs on one machine, partitioned at its natural grain.

`partitions` cuts a machine into allocations (each costed as a `System` of its own), `jobs`
reads or draws a job stream, `scheduler` runs it as a discrete-event simulation, `metrics`
measures utilization, waits and money, and `runner.run_cloud` ties them together.
"""
from __future__ import annotations

from .jobs import Job, read_jobs, synthetic
from .runner import run_cloud
from .scheduler import POLICIES

__all__ = ["Job", "read_jobs", "synthetic", "run_cloud", "POLICIES"]
