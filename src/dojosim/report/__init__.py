"""Showing predictions: the step timeline, Perfetto traces, plots, comparisons and the HTML report.

Everything here is a client of `Estimate`; matplotlib is imported only when a plot is drawn, so
importing this package (and the CLI's other commands) stays fast.
"""
from __future__ import annotations

from .compare import NORMALIZE, compare, equalize, rows_to_json
from .gantt import figure_gantt, plot_gantt
from .html import render_report, write_report
from .plots import plot_compare, plot_estimate, plot_scaling, plot_search, plot_sweep, plot_validation
from .timeline import Event, Timeline, model_op_counts, timeline
from .trace import trace_events, write_trace

__all__ = ["Event", "Timeline", "timeline", "model_op_counts", "trace_events", "write_trace",
           "compare", "equalize", "rows_to_json", "NORMALIZE",
           "plot_estimate", "plot_validation", "plot_search", "plot_sweep", "plot_scaling", "plot_compare",
           "plot_gantt", "figure_gantt", "render_report", "write_report"]
