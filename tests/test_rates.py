"""The build-out's rate table (`plan/rates.py`) is the fleet search, done once per engine key:
whatever the table does for speed (a process pool, the order of the work, saving as it goes),
its rates are the ones a plain search of each island gives."""
from __future__ import annotations

import pytest

from dojosim.plan import rates
from dojosim.plan.fleet import search_island
from dojosim.workload import build

KEYS = [(("fsd-mini", (), 64, "bf16"), "h100-dgx", 16),
        (("fsd-mini", (), 64, "bf16"), "dojo-tile", 25),
        (("fsd-mini", (), 64, "bf16"), "ai4", 2)]


def _plain(key):
    """The fleet's search of one island and the draws re-estimated, with nothing around it."""
    from dojosim.engine.estimate import estimate

    (name, sets, batch, precision), preset, island = key
    model = build(name, **dict(sets))
    system, cand, used, _ = search_island(model, preset, island, batch, precision, workers=1)
    assert cand is not None
    draws = [estimate(model, system, cand.strategy, a).samples_per_s for a in rates.engine_draws()]
    return cand.estimate.samples_per_s, cand.strategy.label(model), used, draws


@pytest.mark.parametrize("workers", [1, 2])
def test_the_rate_table_equals_the_plain_search(workers, tmp_path):
    rates.clear_cache()
    found = rates.island_rates(KEYS + KEYS[:1], workers=workers, cache_dir=tmp_path / "cache")
    assert set(found) == set(KEYS)
    for key in KEYS:
        thr, split, note, draws = found[key]
        want_thr, want_split, used, want_draws = _plain(key)
        assert (thr, split) == (want_thr, want_split)
        assert (note is None) == (used == key[0][2])
        assert draws == want_draws and len(draws) == rates.ENGINE_DRAWS
    rates.clear_cache()


def test_an_interrupted_search_keeps_what_it_found(tmp_path, monkeypatch):
    calls = []

    def fake(key):
        calls.append(key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return 1.0, "dp1", None, [1.0]

    rates.clear_cache()
    monkeypatch.setattr(rates, "_search", fake)
    with pytest.raises(KeyboardInterrupt):
        rates.island_rates(KEYS[:2], workers=1, cache_dir=tmp_path / "cache")
    rates.clear_cache()
    assert rates._load_disk(tmp_path / "cache") == {KEYS[0]: (1.0, "dp1", None, [1.0])}


def test_a_first_run_saves_its_cache_more_than_once(tmp_path, monkeypatch):
    # the periodic save replaces the file this run wrote itself; before, the second save refused
    # it ("rates.json exists; pass --force") and a first run with a cache directory crashed
    rates.clear_cache()
    monkeypatch.setattr(rates, "_search", lambda key: (1.0, "dp1", None, [1.0]))
    monkeypatch.setattr(rates, "SAVE_EVERY_S", -1.0)     # save after every rate
    found = rates.island_rates(KEYS, workers=1, cache_dir=tmp_path)   # a directory that exists
    rates.clear_cache()
    assert set(rates._load_disk(tmp_path)) == set(found) == set(KEYS)


def test_the_largest_searches_start_first():
    costs = [rates._search_cost(k) for k in KEYS]
    assert costs[2] < costs[0]     # a 2-chip board has fewer splits than 16 GPUs


def test_work_of_the_caller_runs_while_the_workers_search(tmp_path):
    done = []
    rates.clear_cache()
    found = rates.island_rates(KEYS[:2], workers=2, meanwhile=lambda: done.append(1))
    assert done == [1] and set(found) == set(KEYS[:2])
    rates.clear_cache()
    # a failure there is the caller's to meet when it does the work itself: the rates still come
    assert set(rates.island_rates(KEYS[:2], workers=2, meanwhile=lambda: 1 / 0)) == set(KEYS[:2])
    rates.clear_cache()
