"""Runs and cases: the YAML format of docs/validation.md ("The case format") turned into objects.

A *run* is `workload:` + `system:` + `strategy:` (+ an optional `assumptions:` mapping that moves
engine figures, see `dojosim.assumptions`); `load_run` builds the `Model`, the `System`, the
`Strategy` and the `Assumptions` from it. A *case* is a run plus what was measured; `load_cases` reads a file of
them without building anything, so that one bad case can be reported (and skipped) on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


from . import limits
from .assumptions import DEFAULT, Assumptions
from .errors import SpecError
from .strategy import Strategy
from .yamlfile import check_mapping, read_yaml

# The keys a run (or a case: a run plus what was measured) may have, at the top and in system:.
RUN_KEYS = ("workload", "system", "strategy", "assumptions", "id", "source", "measured", "name", "description",
            "notes")
SYSTEM_KEYS = ("preset", "path", "name", "devices", "hosts", "notes")

# Metrics a case may report, and how each turns into a step time.
METRICS = ("step_time_s", "tokens_per_s", "samples_per_s", "model_tflops_per_device",
           "hardware_tflops_per_device", "mfu", "hfu")


@dataclass(frozen=True)
class Run:
    """A ready-to-estimate run: the three pieces plus the raw mapping they came from."""

    model: Any          # dojosim.workload.graph.Model
    system: Any         # dojosim.hardware System
    strategy: Strategy
    raw: dict
    assumptions: Assumptions = DEFAULT


@dataclass(frozen=True)
class Case:
    """A published measurement: the run (raw, built on demand) and what was measured."""

    id: str
    raw: dict
    source: str = ""
    metric: str = "step_time_s"
    value: float | None = None
    step_time_s: float | None = None     # measured step time, when the source gives or derives it
    quality: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def run(self) -> Run:
        """Build the run; a bad field raises `SpecError` with the case id in the path."""
        try:
            return load_run(self.raw)
        except SpecError as err:
            raise err.prefixed(self.id) from None


def _read_yaml(path_or_dict, what: str):
    if isinstance(path_or_dict, dict | list):
        return path_or_dict
    return read_yaml(path_or_dict, what)


def _within(err: SpecError, outer: str) -> SpecError:
    """``err`` seen from ``outer``, unless its path already starts there."""
    if err.path == outer or err.path.startswith(outer + ".") or err.path.startswith(outer + "["):
        return err
    return err.prefixed(outer)


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    if value is None:
        raise SpecError(key, "missing")
    if not isinstance(value, dict):
        raise SpecError(key, f"must be a mapping, got {type(value).__name__}")
    return value


def load_system_section(system: dict):
    """Build the System of a run's ``system:`` block (``preset`` or ``path``, ``devices``, ``hosts``)."""
    from .hardware import load_system

    check_mapping(system, "system", SYSTEM_KEYS, "a mapping {preset, devices}")
    name = system.get("preset") or system.get("path") or system.get("name")
    if not name:
        raise SpecError("system.preset", "missing (name a preset or a YAML file)")
    if not isinstance(name, str):
        raise SpecError("system.preset", f"must be a preset name or a file path, got {name!r}")
    devices = system.get("devices")
    if devices is not None:
        limits.check_int(devices, "system.devices", high=limits.MAX_DEVICES, what="a positive integer")
    try:
        built = load_system(name, devices=devices)
    except SpecError as err:
        raise _within(err, "system") from None
    hosts = system.get("hosts")
    if hosts is not None:
        built = with_hosts(built, limits.check_int(hosts, "system.hosts", high=limits.MAX_DEVICES,
                                                   what="a positive integer"))
    return built


def with_hosts(system, hosts: int):
    """``system`` with ``hosts`` input hosts per instance of the level that names its hosts
    (Dojo: per tray, or per tile on a tile preset); hosts beyond its interface cards' PCIe slots
    feed them over the Ethernet Z-plane (engine/datapath.py)."""
    for i, lv in enumerate(system.levels):
        if lv.hosts:
            levels = list(system.levels)
            levels[i] = lv.model_copy(update={"hosts": hosts})
            return system.model_copy(update={"levels": levels})
    raise SpecError("system.hosts", f"{system.name} does not model its input hosts (no level names hosts)")


def load_run(path_or_dict) -> Run:
    """Read a run (a YAML path or an already parsed mapping) and build its three pieces."""
    data = _read_yaml(path_or_dict, "run")
    if not isinstance(data, dict):
        raise SpecError("run", "a run must be a mapping with workload, system and strategy")
    check_mapping(data, "run", RUN_KEYS, "a mapping with workload, system and strategy")
    from .workload import from_run

    workload = _section(data, "workload")
    system_raw = _section(data, "system")
    strategy_raw = _section(data, "strategy")
    try:
        model = from_run(workload)
    except SpecError as err:
        raise _within(err, "workload") from None
    system = load_system_section(system_raw)
    strategy = Strategy.from_dict(strategy_raw, "strategy")
    assumptions = Assumptions.from_mapping(data.get("assumptions"), "assumptions")
    return Run(model=model, system=system, strategy=strategy, raw=data, assumptions=assumptions)


def _number(value, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(path, f"must be a number, got {value!r}")
    return float(value)


def load_cases(path_or_list) -> list[Case]:
    """Read a case file (a list of cases) without building the runs."""
    data = _read_yaml(path_or_list, "cases")
    if isinstance(data, dict) and "cases" in data:
        data = data["cases"]
    if not isinstance(data, list):
        raise SpecError("", "a case file must be a list of cases")
    cases: list[Case] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise SpecError(where, "a case must be a mapping")
        cid = str(item.get("id") or f"case-{i}")
        if cid in seen:
            raise SpecError(f"{where}.id", f"duplicate case id {cid!r}")
        seen.add(cid)
        measured = item.get("measured") or {}
        if not isinstance(measured, dict):
            raise SpecError(f"{where}.measured", "must be a mapping")
        metric = measured.get("metric", "step_time_s")
        if metric not in METRICS:
            raise SpecError(f"{where}.measured.metric", f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        cases.append(Case(
            id=cid,
            raw={k: item[k] for k in ("workload", "system", "strategy") if k in item},
            source=str(item.get("source", "")),
            metric=metric,
            value=_number(measured.get("value"), f"{where}.measured.value"),
            step_time_s=_number(measured.get("step_time_s"), f"{where}.measured.step_time_s"),
            quality=str(measured.get("quality", "")),
            notes=str(measured.get("notes", "")),
            extra={k: v for k, v in measured.items()
                   if k not in ("metric", "value", "step_time_s", "quality", "notes")},
        ))
    return cases
