"""The Assumptions object: every field sourced or ranged, validation, chip overrides, run files,
and the engine reading it (not module globals)."""
import math

import pytest

from dojosim import Strategy
from dojosim.assumptions import DEFAULT, FIELDS, Assumptions, assumed_names
from dojosim.engine import estimate
from dojosim.errors import SpecError
from dojosim.hardware import load_system
from dojosim.hardware.spec import read_system
from dojosim.run import load_run
from dojosim.workload import build


def test_every_field_is_sourced_and_every_assumed_one_has_a_range_containing_it():
    for name, info in FIELDS.items():
        assert info.source.strip(), name
        if info.assumed:
            assert info.low < info.high and info.reason.strip(), name
            assert info.low <= info.default <= info.high, name
    assert len(assumed_names()) >= 10


def test_hashable_equal_and_immutable():
    a = DEFAULT.replace(memory_efficiency=0.7)
    assert hash(a) == hash(DEFAULT.replace(memory_efficiency=0.7)) and a == DEFAULT.replace(memory_efficiency=0.7)
    assert a != DEFAULT and a.changed() == {"memory_efficiency": 0.7}
    with pytest.raises(AttributeError):
        a.memory_efficiency = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("data,where", [
    ({"memory_eficiency": 0.7}, "assumptions.memory_eficiency"),
    ({"memory_efficiency": 1.5}, "assumptions.memory_efficiency"),
    ({"memory_efficiency": "fast"}, "assumptions.memory_efficiency"),
    ({"kernel_overhead_s": float("nan")}, "assumptions.kernel_overhead_s"),
    ({"kernel_overhead_s": "5 GB"}, "assumptions.kernel_overhead_s"),
    ({"fp8_gemm_only": 1}, "assumptions.fp8_gemm_only"),
    ([1, 2], "assumptions"),
])
def test_bad_overrides_are_one_line_errors_naming_the_field(data, where):
    with pytest.raises(SpecError) as err:
        Assumptions.from_mapping(data)
    assert err.value.path == where and "\n" not in str(err.value)


def test_times_take_units():
    assert Assumptions.from_mapping({"kernel_overhead_s": "3 us"}).kernel_overhead_s == pytest.approx(3e-6)


@pytest.fixture(scope="module")
def gpt():
    return build("gpt", layers=8, hidden=1024, heads=16, seq_len=1024, vocab=32000)


STRAT = Strategy(dp=2, tp=4, micro_batch=1, global_batch=8, precision="bf16")


def test_estimate_reads_the_assumptions_it_is_given(gpt):
    system = load_system("a100-80gb-dgx", devices=8)
    base = estimate(gpt, system, STRAT)
    assert estimate(gpt, system, STRAT, DEFAULT).step_time_s == base.step_time_s
    slow = estimate(gpt, system, STRAT, DEFAULT.replace(gemm_peak_efficiency=0.4))
    assert slow.breakdown["compute"] > 1.2 * base.breakdown["compute"]
    more = estimate(gpt, system, STRAT, DEFAULT.replace(framework_overhead_fraction=0.1))
    assert more.breakdown["overhead"] > base.breakdown["overhead"]
    # caches key on the assumptions: the default comes back unchanged afterwards
    assert estimate(gpt, system, STRAT).step_time_s == base.step_time_s


def _chip_system(efficiency):
    raw = {"name": "toy", "chip": {"name": "X1", "peak_flops": {"bf16": 100e12}, "sram_bytes": 0,
                                    "sram_bandwidth": 0, "dram_bytes": 80e9, "dram_bandwidth": 2e12,
                                    "tdp_w": 400, "efficiency": efficiency},
           "levels": [{"name": "node", "children": 8, "topology": {"kind": "switch"},
                       "link_bandwidth": 100e9, "latency_s": 1e-6}]}
    return read_system(raw)


def test_chip_efficiency_overrides_defaults_and_explicit_overrides_win(gpt):
    plain = _chip_system({})
    own = _chip_system({"gemm_peak_efficiency": {"value": 0.5, "assumed": True, "low": 0.4, "high": 0.6,
                                                 "reason": "test chip"}})
    assert own.sources["chip.efficiency.gemm_peak_efficiency"].assumed
    assert DEFAULT.for_chip(own.chip).gemm_peak_efficiency == 0.5
    t_plain = estimate(gpt, plain, STRAT).breakdown["compute"]
    t_own = estimate(gpt, own, STRAT).breakdown["compute"]
    assert t_own > 1.3 * t_plain
    explicit = DEFAULT.replace(gemm_peak_efficiency=0.8)
    assert explicit.for_chip(own.chip).gemm_peak_efficiency == 0.8
    assert estimate(gpt, own, STRAT, explicit).breakdown["compute"] == pytest.approx(t_plain)
    # a sampled quantile lands in the chip's own range on that chip, in the default's elsewhere
    q = DEFAULT.at_quantiles({"gemm_peak_efficiency": 1.0})
    assert q.for_chip(own.chip).gemm_peak_efficiency == pytest.approx(0.6)
    assert DEFAULT.at_quantiles({"gemm_peak_efficiency": 0.5}).for_chip(own.chip).gemm_peak_efficiency == 0.5
    assert q.for_chip(plain.chip).gemm_peak_efficiency == pytest.approx(FIELDS["gemm_peak_efficiency"].high)


@pytest.mark.parametrize("entry,where", [
    ({"gemm_peek_efficiency": {"value": 0.5, "source": "x"}}, "chip.efficiency.gemm_peek_efficiency"),
    ({"gemm_peak_efficiency": {"value": 0.5}}, "chip.efficiency.gemm_peak_efficiency.source"),
    ({"gemm_peak_efficiency": {"value": 2.0, "source": "x"}}, "chip.efficiency.gemm_peak_efficiency.value"),
    ({"gemm_peak_efficiency": {"value": 0.5, "assumed": True, "low": 0.6, "high": 0.7, "reason": "r"}},
     "chip.efficiency.gemm_peak_efficiency"),
    ({"gemm_peak_efficiency": {"value": 0.5, "assumed": True, "low": 0.4}}, "chip.efficiency.gemm_peak_efficiency.high"),
    ({"gemm_peak_efficiency": 0.5}, "chip.efficiency.gemm_peak_efficiency"),
])
def test_bad_chip_efficiency_names_the_field(entry, where):
    with pytest.raises(SpecError) as err:
        _chip_system(entry)
    assert err.value.path == where


def test_run_file_assumptions_block(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("workload: {model: gpt, layers: 2}\nsystem: {preset: a100-80gb-dgx, devices: 8}\n"
                    "strategy: {dp: 8, micro_batch: 1, global_batch: 8}\n"
                    "assumptions: {memory_efficiency: 0.6, kernel_overhead_s: 4 us}\n")
    r = load_run(path)
    assert r.assumptions.memory_efficiency == 0.6 and r.assumptions.kernel_overhead_s == pytest.approx(4e-6)
    path.write_text(path.read_text().replace("0.6", "-1"))
    with pytest.raises(SpecError) as err:
        load_run(path)
    assert err.value.path == "assumptions.memory_efficiency"


def test_no_engine_module_reads_a_global_constant():
    import dojosim.engine as eng
    from pathlib import Path

    src = Path(eng.__file__).parent
    assert not (src / "constants.py").exists()
    for f in src.glob("*.py"):
        assert "import constants" not in f.read_text(), f.name
    assert math.isfinite(DEFAULT.kernel_overhead_s)


def test_structural_counts_are_named_sourced_and_cannot_be_moved():
    counts = [n for n, info in FIELDS.items() if info.structural]
    assert {"forward_passes", "backward_passes", "recompute_passes", "spill_crossings",
            "pipeline_sends_per_chunk", "fp8_amax_bytes"} <= set(counts)
    for name in counts:
        assert not FIELDS[name].assumed and FIELDS[name].source.strip()
        assert name not in assumed_names()
        with pytest.raises(SpecError) as err:
            Assumptions.from_mapping({name: 3})
        assert err.value.path == f"assumptions.{name}" and "follows from the algorithm" in str(err.value)


def test_no_bare_model_figure_in_the_terms_and_memory_modules():
    # Every number these modules use comes from Assumptions or the precision table; what is left
    # are 0/1, the ZeRO stage numbers the code compares against and rounding tolerances (< 1e-6).
    import ast
    from pathlib import Path

    import dojosim.engine.memory as memory
    import dojosim.engine.terms as terms

    for module in (terms, memory):
        tree = ast.parse(Path(module.__file__).read_text())
        stages = {id(c) for n in ast.walk(tree) if isinstance(n, ast.Compare)
                  and "zero" in ast.unparse(n.left) for c in n.comparators}
        bare = [(n.lineno, n.value) for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and type(n.value) in (int, float)
                and n.value not in (0, 1) and abs(n.value) >= 1e-6 and id(n) not in stages]
        assert bare == [], f"{module.__name__}: bare numbers {bare}"


def test_docs_list_every_field():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "assumptions.md").read_text()
    missing = [n for n in FIELDS if f"`{n}`" not in text]
    assert missing == [], f"docs/assumptions.md does not list {missing}"
