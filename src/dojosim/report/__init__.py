"""Showing predictions: the step timeline, Perfetto traces, plots, comparisons and the HTML report.

Everything here is a client of `Estimate`; plotting imports matplotlib only when called, so the
CLI's other commands stay fast to start.
"""
from __future__ import annotations

from .timeline import Event, Timeline, timeline
from .trace import trace_events, write_trace

__all__ = ["Event", "Timeline", "timeline", "trace_events", "write_trace"]
