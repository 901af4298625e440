"""Planning: strategy search, design sweeps, fleets and capacity by workload — all clients of
`dojosim.engine.estimate`.

    from dojosim.plan import search, run_sweep, load_results, plan_fleet, capacity_by_workload

Submodules are imported lazily so that `import dojosim.plan` stays cheap (no pandas, no ray).
"""
from __future__ import annotations

_EXPORTS = {
    "search_with_stats": ("search", "search_with_stats"),
    "Candidate": ("search", "Candidate"),
    "run_sweep": ("sweep", "run_sweep"),
    "load_results": ("sweep", "load_results"),
    "load_sweep": ("sweep", "load_sweep"),
    "plan_fleet": ("fleet", "plan_fleet"),
    "load_fleet": ("fleet", "load_fleet"),
    "capacity_by_workload": ("capacity", "capacity_by_workload"),
    "parse_train": ("capacity", "parse_train"),
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        mod, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    raise AttributeError(name)
