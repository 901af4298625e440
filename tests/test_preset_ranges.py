"""Every preset figure marked ``assumed: true`` carries a range and the reason for it, so
`dojosim.ranges` samples it and `dojosim sensitivity` swings it."""
import pytest

from dojosim.errors import SpecError
from dojosim.hardware.presets import list_presets, load_system
from dojosim.hardware.spec import read_system
from dojosim.ranges import _STRUCTURAL, dimensions

PRESETS = list_presets()


@pytest.mark.parametrize("name", PRESETS)
def test_no_assumed_preset_figure_lacks_a_range(name):
    system = load_system(name)
    _, unranged = dimensions([system])
    assert unranged == [], f"{name}: assumed figures without a range: {unranged}"


@pytest.mark.parametrize("name", PRESETS)
def test_every_assumed_range_gives_its_reason_and_holds_the_value(name):
    system = load_system(name)
    dims, _ = dimensions([system])
    for path, src in system.sources.items():
        if not src.assumed or any(s in path for s in _STRUCTURAL):
            continue
        if src.range is not None:
            assert src.reason.strip(), f"{name}: {path} has a range but no reason"
    for d in dims:
        assert d.low <= d.value <= d.high, d.name


def test_the_structural_exceptions_are_only_shapes_and_counts():
    # what `ranges` never samples: the machine's shape (children, topology, rack), not a figure;
    # an assumed rack size still gives its range and reason, and the only assumed child count is
    # the D2's one wafer per tile (what the D2 is, by report)
    skipped = {(name, path) for name in PRESETS for path, src in load_system(name).sources.items()
               if src.assumed and any(s in path for s in _STRUCTURAL)}
    assert all(p.split(".")[-1] in ("topology", "children", "rack", "chips") for _, p in skipped), skipped
    for name, path in skipped:
        src = load_system(name).sources[path]
        if path == "rack.chips":
            assert src.range is not None and src.reason.strip(), (name, path)
    assert {(n, p) for n, p in skipped if p.endswith("children")} == {("dojo-d2-tile", "levels[0].children")}


def test_a_range_that_misses_its_value_is_a_one_line_error():
    spec = {"name": "x", "chip": {"name": "c", "peak_flops": {"bf16": "100 TFLOPS"}, "tdp_w": "300 W",
                                  "price_usd": {"value": "$5k", "range": ["$6k", "$9k"], "assumed": True}},
            "levels": []}
    with pytest.raises(SpecError, match=r"chip\.price_usd\.range"):
        read_system(spec)
