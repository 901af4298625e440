"""`dojosim claims`: the ledger of Tesla's claims (plan/claims.py, examples/claims)."""
import json
from pathlib import Path

import pytest

from dojosim.cli import main
from dojosim.errors import SpecError
from dojosim.hardware import load_system
from dojosim.plan.claims import check_claim, get_figure, ledger, read_claim, set_figure

CLAIMS = Path(__file__).resolve().parents[1] / "examples" / "claims"
EXPECTED = {"tile-vs-gpu-boxes", "tile-cost-vs-gpu-box", "tray-vs-racks", "perf-per-watt", "perf-at-equal-cost", "exapod-peak",
            "exapod-sram", "exapod-hbm", "host-bottleneck", "h100-equivalents"}


@pytest.fixture(scope="module")
def entries():
    return {e.id: e for e in ledger(CLAIMS)}


def test_every_claim_has_a_prediction_and_misses_say_what_would_have_to_be_true(entries):
    assert set(entries) == EXPECTED
    for e in entries.values():
        assert e.predicted > 0 and e.ratio == pytest.approx(e.predicted / e.claimed)
        assert e.source and e.run.endswith(".yaml")
        if not e.hit:
            assert e.needs, e.id
            for n in e.needs:
                assert n["reachable"] == (n["value"] is not None)
                assert n["reachable"] or "no value" in n["why"]


def test_a_solved_need_meets_the_claim():
    claim = read_claim(CLAIMS / "perf-per-watt.yaml")
    entry = check_claim(claim)
    solved = [n for n in entry.needs if n["reachable"]]
    if entry.hit or not solved:
        pytest.skip("nothing to re-check")
    n = solved[0]
    moved = json.loads(json.dumps(claim.dojo))
    from dojosim.plan.claims import predict, _load_runs

    runs = _load_runs(claim)
    system = set_figure(runs.dojo.system, n["figure"], n["value"])
    p = predict(claim, runs.dojo, runs.baseline, dojo_system=system)
    assert p == pytest.approx(claim.claimed, rel=0.1) or p >= claim.claimed
    assert moved == claim.dojo   # the claim file itself is never changed


def test_figures_read_and_change_by_path():
    s = load_system("dojo-tray")
    assert get_figure(s, "levels[1].hosts") == 4
    t = set_figure(s, "chip.efficiency.kernel_overhead_s", 1e-6)
    assert get_figure(t, "chip.efficiency.kernel_overhead_s") == 1e-6
    assert get_figure(s, "chip.efficiency.kernel_overhead_s") == 2e-6
    assert t.chip.efficiency["kernel_overhead_s"].low == s.chip.efficiency["kernel_overhead_s"].low


def test_bad_claim_file_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nstatement: s\nsource: s\nclaimed: 2\nmetric: speed\ndojo: {}\n")
    with pytest.raises(SpecError, match="metric"):
        read_claim(bad)


def test_cli_json(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["claims", "--json", "--html", str(tmp_path / "claims.html")])
    assert exc.value.code in (0, None)
    assert "misses" in (tmp_path / "claims.html").read_text()
    out = json.loads(capsys.readouterr().out)
    assert {c["id"] for c in out["claims"]} == EXPECTED
    for c in out["claims"]:
        assert {"id", "source", "claimed", "predicted", "ratio", "run", "needs"} <= set(c)
