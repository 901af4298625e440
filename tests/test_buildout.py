"""Build-out plans: the quarterly arithmetic, the one-line errors, and the command end to end."""
from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from dojosim.cli import main
from dojosim.errors import SpecError
from dojosim.plan.buildout import check_plan
from dojosim.plan.quarters import QUARTER_S
from dojosim.plan.quarterly import evaluate_plan
from dojosim.plan.rates import DeviceRates, clear_cache


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


def _plan(**kw):
    spec = {"name": "t", "workloads": {"fsd": 0.5, "auto-labeling": 0.5},
            "sites": [{"name": "a", "pue": 1.25, "cap": {"2025Q1": "50 MW", "2025Q3": "200 MW"}}],
            "timeline": [{"quarter": "2025Q1", "budget": "$1B", "add": [{"system": "h100-dgx", "count": 100}]},
                         {"quarter": "2025Q2", "add": [{"system": "dojo-tile", "count": 10}]},
                         {"quarter": "2025Q4", "retire": [{"system": "h100-dgx", "count": 40}]}]}
    spec.update(kw)
    return spec


def fake_rates(plan, per_device=2.0):
    """Per-device H100-eq = peak / H100 peak: arithmetic tests without the engine."""
    per = {}
    for name, t in plan.types.items():
        r = DeviceRates(t.preset, t.island)
        for w, wl in plan.workloads.items():
            r.h100_eq[w] = t.peak_per_device / 989.4e12
            r.samples_per_s[w] = r.h100_eq[w] * per_device / wl.divisor
            r.splits[w] = "-"
        per[name] = r
    ref = {w: {"preset": "h100-dgx", "island": 256, "split": "-", "samples_per_s_per_device": per_device / wl.divisor}
           for w, wl in plan.workloads.items()}
    return per, ref


def test_quarterly_capacity_power_and_money_add_up():
    plan = check_plan(_plan())
    res = evaluate_plan(plan, rates=fake_rates(plan))
    q = {r["quarter"]: r for r in res["quarters"]}
    h100, tile = plan.types["h100-dgx"], plan.types["dojo-tile"]
    assert q["2025Q1"]["devices"] == {"h100-dgx": 800, "dojo-tile": 0}
    assert q["2025Q1"]["peak_flops"]["NVIDIA"] == pytest.approx(800 * 989.4e12)
    assert q["2025Q2"]["peak_flops"]["Tesla"] == pytest.approx(250 * 362e12)
    assert q["2025Q4"]["devices"]["h100-dgx"] == 480
    assert q["2025Q1"]["h100_eq_mix"] == pytest.approx(800)
    it = 100 * h100.power_per_unit.value
    assert q["2025Q1"]["sites"]["a"]["facility_w"] == pytest.approx(it * 1.25)
    assert q["2025Q1"]["capex_usd"] == pytest.approx(100 * h100.price_per_unit.value)
    assert q["2025Q2"]["capex_usd"] == pytest.approx(10 * tile.price_per_unit.value)
    assert q["2025Q3"]["capex_usd"] == 0
    opex = it * 1.25 * plan.load_factor.value * QUARTER_S * plan.electricity.value
    assert q["2025Q1"]["opex_usd"] == pytest.approx(opex)
    assert q["2025Q2"]["cumulative_usd"] == pytest.approx(sum(q[k]["capex_usd"] + q[k]["opex_usd"]
                                                              for k in ("2025Q1", "2025Q2")))
    s = q["2025Q2"]["share_by_peak"]
    assert s["Tesla"] + s["NVIDIA"] == pytest.approx(1.0)
    assert s["Tesla"] == pytest.approx(250 * 362 / (250 * 362 + 800 * 989.4))
    assert "capex" in q["2025Q1"]["assumed"] and "power" in q["2025Q1"]["assumed"]  # PUE given bare: assumed
    assert all(not math.isnan(v) for r in res["quarters"] for v in (r["power_w"], r["opex_usd"]))


def test_over_cap_and_over_budget_are_flagged_after_the_first_quarter():
    spec = _plan()
    spec["timeline"][1]["add"] = [{"system": "h100-dgx", "count": 5000}]
    spec["timeline"][1]["budget"] = "$1M"
    plan = check_plan(spec)
    res = evaluate_plan(plan, rates=fake_rates(plan))
    q = {r["quarter"]: r for r in res["quarters"]}
    assert q["2025Q2"]["sites"]["a"]["over_cap"] and q["2025Q2"]["over_budget"]
    assert any("over the power cap" in n for n in res["notes"])


def test_the_data_path_demand_is_compared_with_the_workload_share():
    plan = check_plan(_plan(data={"workload": "fsd", "cars": {"2025Q1": 1e6}, "clips_per_car_per_day": 1,
                                  "curated_share": 0.5, "epochs": 2}))
    res = evaluate_plan(plan, rates=fake_rates(plan))
    d = res["quarters"][0]["data"]
    need = 1e6 * 1 * 0.5 * 2 / 86400
    assert d["demand_samples_per_s"] == pytest.approx(need)
    assert d["demand_h100_eq"] == pytest.approx(need / 2.0)
    assert d["capacity_h100_eq"] == pytest.approx(0.5 * 800)
    assert d["met"] is True


BAD = [
    ("negative budget", lambda s: s["timeline"][0].update(budget="-$5M"), "plan.timeline[0].budget"),
    ("over cap at t=0", lambda s: s["timeline"][0]["add"][0].update(count=10_000), "plan.sites[0].cap"),
    ("unknown preset", lambda s: s["timeline"][0]["add"][0].update(system="h1000-dgx"), "plan.timeline[0].add[0].system"),
    ("quarter out of order", lambda s: s["timeline"][2].update(quarter="2025Q1"), "plan.timeline[2].quarter"),
    ("retire too many", lambda s: s["timeline"][2]["retire"][0].update(count=101), "plan.timeline[2].retire[0]"),
    ("shares", lambda s: s.update(workloads={"fsd": 0.5, "auto-labeling": 0.6}), "plan.workloads"),
    ("unknown key", lambda s: s.update(sitez=[]), "plan.sitez"),
    ("bad quarter", lambda s: s["timeline"][0].update(quarter="2025Q5"), "plan.timeline[0].quarter"),
    ("unknown site", lambda s: s["timeline"][0]["add"][0].update(site="b"), "plan.timeline[0].add[0].site"),
    ("devices not whole", lambda s: s["timeline"][0]["add"][0].update(count=None), "plan.timeline[0].add[0]"),
    ("bad optimize system", lambda s: s.update(optimize={"systems": ["nope"]}), "plan.optimize.systems[0]"),
]


@pytest.mark.parametrize("what, change, field", BAD, ids=[b[0] for b in BAD])
def test_bad_plans_get_one_line_errors(what, change, field, tmp_path, capsys):
    spec = _plan()
    change(spec)
    if what == "devices not whole":
        spec["timeline"][0]["add"][0].pop("count")
    with pytest.raises(SpecError) as e:
        check_plan(spec)
    assert e.value.path == field
    f = tmp_path / "plan.yaml"
    f.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as ex:
        main(["buildout", str(f)])
    assert ex.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {field}") and "\n" not in err and "Traceback" not in err


def test_buildout_command_end_to_end(tmp_path, capsys):
    spec = _plan(workloads={"fsd": {"share": 1.0, "model": "fsd-mini", "global_batch": 64}}, island=16,
                 systems={"tile": {"preset": "dojo-tile", "island": 25, "limit": 50}},
                 data={"cars": {"2025Q1": 1e6, "2025Q4": 2e6}, "samples": 32},
                 optimize={"systems": ["h100-dgx", "tile"], "budget": "$50M", "sweep": [0.5, 1, 2], "gap": 0})
    spec["timeline"][1]["add"] = [{"system": "tile", "count": 10}]
    f = tmp_path / "plan.yaml"
    f.write_text(yaml.safe_dump(spec))
    code, out, err = run(capsys, "buildout", str(f), "--json", "--workers", "1", "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    res = json.loads(out)
    assert [r["quarter"] for r in res["quarters"]] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    best = res["best_mix"]
    assert best["optimal"] and best["spent_usd"] <= 4 * 50e6 * 1.000001
    assert [f["multiplier"] for f in best["frontier"]] == [0.5, 1, 2]
    eqs = [f["h100_eq_added"] for f in best["frontier"]]
    assert eqs == sorted(eqs)
    assert res["assumptions"] and all(("reason" in a) for a in res["assumptions"])
    lo, hi = res["quarters"][-1]["ranges"]["h100_eq_mix"]   # the engine's assumed figures, sampled
    assert lo <= res["quarters"][-1]["h100_eq_mix"] * 1.0001 and hi >= lo
    ty = res["types"]["tile"]["h100_eq_per_device_p10_p90"]["fsd"]
    assert 0 < ty[0] <= ty[1]
    out = tmp_path / "plots"
    clear_cache()  # the second run reads the engine's rates from the cache file
    code, text, err = run(capsys, "buildout", str(f), "--workers", "1", "--plot", str(out),
                          "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    assert "wrote" in text and "rates.json" not in text   # read, not rewritten
    assert "best mix" in text and "≈" in text
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith("wrote "))
    names = sorted(p.name for p in out.iterdir())
    assert "buildout-capacity.svg" in names and "buildout-frontier.png" in names
    assert "(assumed)" in (out / "buildout-storage.svg").read_text()


def test_rates_on_disk_are_reused_only_under_the_same_code(tmp_path, monkeypatch):
    from dojosim.plan import rates

    key = (("fsd-mini", (), 64, "bf16"), "h100-dgx", 16)
    tmp_path = tmp_path / "cache"   # a directory dojosim creates is its own: reruns may rewrite it
    clear_cache()
    found = rates.island_rates([key], workers=1, cache_dir=tmp_path)
    assert (tmp_path / rates.CACHE_FILE).exists()
    clear_cache()
    monkeypatch.setattr(rates, "_search", lambda k: (_ for _ in ()).throw(AssertionError("searched again")))
    assert rates.island_rates([key], workers=1, cache_dir=tmp_path) == found
    clear_cache()
    monkeypatch.setattr(rates, "fingerprint", lambda: "other-code")
    monkeypatch.setattr(rates, "_search", lambda k: (1.0, "x", None, []))
    assert rates.island_rates([key], workers=1, cache_dir=tmp_path)[key] == (1.0, "x", None, [])
    clear_cache()


def test_the_example_plans_read_and_check():
    from pathlib import Path

    from dojosim.plan.buildout import load_plan

    files = sorted((Path(__file__).parent.parent / "examples" / "buildout").glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        plan = load_plan(f)
        assert plan.quarters and plan.types


def test_money_and_power_ranges_bracket_the_central_case():
    spec = _plan()
    spec["sites"][0]["pue"] = {"value": 1.25, "low": 1.1, "high": 1.5, "reason": "r"}
    spec["systems"] = {"h100-dgx": {"preset": "h100-dgx",
                                    "price": {"value": "$400k", "low": "$300k", "high": "$450k", "reason": "r"}}}
    plan = check_plan(spec)
    res = evaluate_plan(plan, rates=fake_rates(plan))
    for r in res["quarters"]:
        for key, central in (("power_w", r["power_w"]), ("cumulative_usd", r["cumulative_usd"])):
            lo, hi = r["ranges"][key]
            assert lo < central < hi
    q1 = res["quarters"][0]
    assert q1["ranges"]["capex_usd"][0] < q1["capex_usd"] == pytest.approx(100 * 400e3)


JUNK = [None, -1, 0, 1e308, float("nan"), "x", "", [], {}, True, "2025Q9", "-$1B", "130 kg", [1, 2], {"value": -1}]


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    yield path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_broken_plan_gets_a_spec_error_and_nothing_else(data):
    import copy

    spec = _plan(data={"cars": {"2025Q1": 1e6}}, optimize={"systems": ["h100-dgx"], "budget": "$1B"},
                 systems={"t": {"preset": "dojo-tile", "price": {"value": "$80k", "low": "$50k", "high": "$100k",
                                                                  "reason": "r"}}})
    paths = [p for p in _leaves(spec) if p]
    broken = copy.deepcopy(spec)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            _set(broken, path, data.draw(st.sampled_from(JUNK)))
        except (KeyError, IndexError, TypeError):
            pass
    try:
        check_plan(broken)
    except SpecError as err:
        assert "\n" not in str(err)


def test_preset_prices_and_powers_enter_the_ranges_with_the_presets_own_range():
    from dojosim.hardware import load_system

    plan = check_plan(_plan(timeline=[{"quarter": "2025Q1", "budget": "$1B",
                                       "add": [{"system": "ai4", "count": 1000}]}]))
    ai4 = plan.types["ai4"]
    board = load_system("ai4")
    src = board.sources
    # the board (2 SoCs and its own overhead) with every ranged price figure at its low, its high
    for end, got in ((0, ai4.price_per_unit.low), (1, ai4.price_per_unit.high)):
        chip = src["chip.price_usd"].range[end]
        over = src["levels[0].cost_overhead_usd"]
        assert got == pytest.approx(2 * chip + (over.range[end] if over.range else board.levels[0].cost_overhead_usd))
    assert ai4.power_per_unit.low < ai4.power_per_unit.value < ai4.power_per_unit.high
    res = evaluate_plan(plan, rates=fake_rates(plan))
    lo, hi = res["quarters"][0]["ranges"]["capex_usd"]
    assert lo < res["quarters"][0]["capex_usd"] < hi
