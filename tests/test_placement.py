"""Placement of parallel groups on real presets and hand-built systems."""
from __future__ import annotations

import pytest

from dojosim.engine.comm import collective_time
from dojosim.engine.placement import place
from dojosim.errors import StrategyError
from dojosim.hardware import load_system
from test_comm_systems import Sys, dgx_like, grid


@pytest.fixture(scope="module")
def dgx():
    return load_system("h100-dgx", devices=1024)


def test_tp8_lands_inside_the_dgx_node(dgx):
    g = place(dgx, {"tp": 8, "pp": 4, "dp": 32})
    assert g["tp"].n == 8
    assert g["tp"].spans == (8, 1) and g["tp"].sharers == (1, 0)
    assert g["tp"].crossed == (0,)


def test_dp_across_nodes_shares_the_node_nics(dgx):
    g = place(dgx, {"tp": 8, "pp": 4, "dp": 32})
    assert g["dp"].spans == (1, 32)
    assert g["dp"].sharers == (0, 8)       # the 8 GPUs of a node all run their dp all-reduce at once
    assert g["pp"].spans == (1, 4) and g["pp"].sharers == (0, 8)


def test_pure_data_parallel_spans_both_levels(dgx):
    g = place(dgx, {"dp": 1024})["dp"]
    assert g.spans == (8, 128) and g.sharers == (1, 8) and g.inside == (1, 8)


def test_dojo_tile_tp25_fills_the_5x5_mesh():
    tile = load_system("dojo-tile")
    g = place(tile, {"tp": 25})["tp"]
    assert g.spans == (25,)
    assert g.grids == (((5, 1, False), (5, 1, False)),)


def test_dojo_tile_rows_and_columns():
    tile = load_system("dojo-tile")
    g = place(tile, {"tp": 5, "dp": 5})
    assert g["tp"].grids == (((5, 1, False), (1, 1, False)),)
    assert g["dp"].grids == (((1, 1, False), (5, 1, False)),)


def test_exapod_dp_crosses_the_z_plane():
    pod = load_system("dojo-exapod")
    g = place(pod, {"tp": 25, "dp": 120})["dp"]
    assert g.spans == (1, 6, 2, 10)
    assert g.sharers == (0, 25, 150, 300)   # a cabinet's Z-plane port serves its 300 D1
    tile_ar = collective_time("all_reduce", 1e9, place(pod, {"tp": 25, "dp": 120})["tp"])
    assert collective_time("all_reduce", 1e9, g) > tile_ar


def test_tpu_cube_rings_wrap_around():
    pod = load_system("tpu-v4-pod")
    g = place(pod, {"tp": 4, "dp": 1024})
    assert g["tp"].grids[0] == ((4, 1, True), (1, 1, False), (1, 1, False))
    assert g["dp"].spans == (16, 64)


def test_order_puts_the_first_dimension_innermost():
    sys = dgx_like(nodes=4)
    g = place(sys, {"tp": 8, "dp": 4}, order=("dp", "tp", "cp", "ep", "pp"))
    assert g["dp"].spans == (4, 1)
    assert g["tp"].spans == (2, 4)


def test_expert_parallel_is_the_inner_part_of_data_parallel():
    sys = dgx_like(nodes=16)
    g = place(sys, {"tp": 8, "dp": 16, "ep": 4})
    assert g["ep"].n == 4 and g["ep"].spans == (1, 4)
    assert g["edp"].n == 4 and g["edp"].spans == (1, 4)
    assert g["dp_cp"].n == 16
    # ep=4 without tp: the expert all-to-all stays inside the node
    g = place(sys, {"dp": 128, "ep": 4})
    assert g["ep"].spans == (4, 1)


def test_dp_cp_joins_both_dimensions():
    sys = dgx_like(nodes=4)
    g = place(sys, {"tp": 2, "cp": 2, "pp": 2, "dp": 4})
    assert g["dp_cp"].n == 8
    assert g["cp"].n == 2 and g["cp"].spans == (2, 1)


def test_groups_straddling_tiles_take_the_worst_group():
    """tp=8 does not divide a 25-chip tile: some tp groups straddle two tiles."""
    tray = Sys([grid((5, 5), bw=2e12, name="tile"), grid((2, 1), bw=9e12, name="tray")])
    g = place(tray, {"tp": 2 * 25 // 10 * 2, "dp": 5})["tp"]  # tp=10: 25 % 10 != 0
    assert g.spans[1] == 2
    inside_tile = place(tray, {"tp": 5, "dp": 10})["tp"]
    assert inside_tile.spans == (5, 1)


def test_placement_is_cached_and_follows_edits():
    sys = dgx_like(nodes=4)
    a = place(sys, {"tp": 8, "dp": 4})["dp"]
    assert place(sys, {"tp": 8, "dp": 4})["dp"] is a
    t0 = collective_time("all_reduce", 1e9, a)
    sys.levels[1].link_bandwidth *= 2
    sys.levels[0].egress_bandwidth *= 2
    b = place(sys, {"tp": 8, "dp": 4})["dp"]
    assert b is not a
    assert collective_time("all_reduce", 1e9, b) < t0


@pytest.mark.parametrize("deg, order, field", [
    ({"tp": 8, "dp": 8}, None, "strategy.dp"),               # 64 ranks on 32 chips
    ({"tp": 8, "dp": 4}, ("tp", "dp"), "strategy.order"),     # pp and cp missing
    ({"tp": 8, "dp": 4}, ("tp", "tp", "cp", "pp", "dp"), "strategy.order"),
    ({"tp": 8, "dp": 4}, ("tp", "cp", "ep", "pp", "xp"), "strategy.order"),
    ({"tp": 8, "dp": 4, "ep": 3}, None, "strategy.ep"),
    ({"tp": 0, "dp": 4}, None, "strategy.tp"),
])
def test_impossible_mappings_name_the_field(deg, order, field):
    sys = dgx_like(nodes=4)
    with pytest.raises(StrategyError) as err:
        place(sys, deg, order) if order else place(sys, deg)
    assert err.value.path == field


# --- the closed form for aligned groups agrees with listing every rank -------------------------

from hypothesis import given, strategies as st  # noqa: E402

from dojosim.engine import placement as P  # noqa: E402


@given(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=3),
       st.lists(st.sampled_from(["switch", "mesh2d", "torus", "ring"]), min_size=3, max_size=3),
       st.data())
def test_aligned_closed_form_matches_enumeration(children, kinds, data):
    levels, sizes = [], [1]
    for i, c in enumerate(children):
        kind = kinds[i]
        shape = {"switch": None, "ring": (c,)}.get(kind, (c, 1) if c < 4 else (c // 2, 2))
        levels.append((f"l{i}", c, kind, shape, 1e9, 0.0, None, 1.0))
        sizes.append(sizes[-1] * c)
    n_ranks = sizes[-1]
    # one or two factors with power-of-two strides and counts inside the system
    factors = []
    s = 1
    for _ in range(data.draw(st.integers(1, 2))):
        s *= data.draw(st.sampled_from([1, 2, 4]))
        k = data.draw(st.sampled_from([2, 4]))
        if s * k > n_ranks or (factors and s < factors[-1][0] * factors[-1][1]):
            break
        factors.append((s, k))
        s *= k
    factors = P._merge(factors)
    if not factors or not P._aligned(factors, sizes):
        return
    n = 1
    for _, k in factors:
        n *= k
    fast = P._group_aligned("x", n, factors, tuple(levels), sizes, n_ranks)
    one = P._group_enumerated("x", n, factors, tuple(levels), sizes, n_ranks, representative=True)
    every = P._group_enumerated("x", n, factors, tuple(levels), sizes, n_ranks, representative=False)
    assert fast.spans == one.spans == every.spans
    assert fast.inside == one.inside == every.inside
    assert fast.sharers == every.sharers
    assert fast.grids == one.grids


def _enumerated_by_unique(n: int, factors: tuple, levels: tuple, sizes: tuple, n_ranks: int) -> tuple:
    """Spans, sharers, inside and grids of every group the plain way (np.unique over (group,
    child) keys): the reference `_group_enumerated`'s sort-free runs must agree with."""
    import numpy as np
    members = np.arange(n_ranks, dtype=np.int64)
    base = members.copy()
    for s, k in factors:
        base -= ((members // s) % k) * s
    spans, sharers, inside, grids = [], [], [], []
    for i, lv in enumerate(levels):
        below, kids = sizes[i], lv[1]
        child = members // below
        pair, per_child = np.unique(base * (n_ranks + 1) + child, return_counts=True)
        pb, pc = pair // (n_ranks + 1), pair % (n_ranks + 1)
        ukey, inv, cnt = np.unique(pb * (n_ranks + 1) + pc // kids, return_inverse=True, return_counts=True)
        spans.append(int(cnt.max()))
        if spans[-1] == 1:
            sharers.append(0), inside.append(0), grids.append(None)
            continue
        inside.append(int(per_child[cnt[inv] > 1].min()))
        crossing = cnt[np.searchsorted(ukey, base * (n_ranks + 1) + child // kids)] > 1
        sharers.append(int(np.bincount(child[crossing]).max()))
        local = (pc[inv == np.argmax(cnt)] % kids).tolist()
        grids.append(P._sub_grid(local, P._grid_shape(lv[2], lv[3], kids), lv[2] != "mesh2d")
                     if lv[2] in P.GRID_KINDS else None)
    return tuple(spans), tuple(sharers), tuple(inside), tuple(grids)


@given(st.lists(st.sampled_from([2, 3, 5, 6, 8, 25]), min_size=1, max_size=4),
       st.lists(st.sampled_from(["switch", "mesh2d", "torus", "ring"]), min_size=4, max_size=4),
       st.lists(st.sampled_from([1, 2, 3, 4, 5, 10, 40, 75]), min_size=3, max_size=3),
       st.sampled_from([(0,), (1,), (2,), (0, 2), (1, 2)]))
def test_enumeration_matches_unique_reference(children, kinds, degrees, dims):
    # groups that straddle level boundaries (FSD's cp 40 on 25-chip tiles) as well as aligned ones
    levels, sizes = [], [1]
    for i, c in enumerate(children):
        levels.append((f"l{i}", c, kinds[i], {"ring": (c,)}.get(kinds[i]), 1e9, 0.0, None, 1.0))
        sizes.append(sizes[-1] * c)
    n_ranks = degrees[0] * degrees[1] * degrees[2]
    if n_ranks > sizes[-1]:
        return
    strides = (1, degrees[0], degrees[0] * degrees[1])
    factors = P._merge([(strides[d], degrees[d]) for d in dims])
    if not factors:
        return
    n = 1
    for _, k in factors:
        n *= k
    g = P._group_enumerated("x", n, factors, tuple(levels), tuple(sizes), n_ranks, representative=False)
    assert (g.spans, g.sharers, g.inside, g.grids) == _enumerated_by_unique(n, factors, tuple(levels),
                                                                            tuple(sizes), n_ranks)
