"""Collective costs against their closed forms, one level and two, switch, mesh, torus, ring."""
from __future__ import annotations

import math

import pytest

from dojosim.assumptions import DEFAULT as A
from dojosim.engine.comm import KINDS, collective_time
from dojosim.engine.placement import place
from test_comm_systems import Sys, dgx_like, grid, switch

S = 1e9  # bytes: large enough that rings beat trees
LAUNCH = A.collective_launch_s
EFF = A.comm_bandwidth_efficiency


def alpha(lat):
    return lat + A.comm_step_overhead_s


def one(system, dim="tp", **deg):
    return place(system, deg or {dim: system.chips})[dim]


# --- one switch level -------------------------------------------------------------------------

@pytest.fixture
def node():
    return Sys([switch(8, bw=100e9, lat=2e-6)])


def test_ring_all_reduce_closed_form(node):
    n, B, a = 8, 100e9 * EFF, alpha(2e-6)
    want = LAUNCH + 2 * (n - 1) / n * S / B + 2 * (n - 1) * a
    assert collective_time("all_reduce", S, one(node)) == pytest.approx(want, rel=1e-12)


def test_small_all_reduce_uses_the_tree(node):
    n, B, a, s = 8, 100e9 * EFF, alpha(2e-6), 1e3
    tree = LAUNCH + 2 * s / B + 2 * math.ceil(math.log2(n)) * a
    ring = LAUNCH + 2 * (n - 1) / n * s / B + 2 * (n - 1) * a
    assert tree < ring
    assert collective_time("all_reduce", s, one(node)) == pytest.approx(tree, rel=1e-12)


@pytest.mark.parametrize("kind", ["reduce_scatter", "all_gather"])
def test_scatter_gather_closed_form(node, kind):
    n, B, a = 8, 100e9 * EFF, alpha(2e-6)
    want = LAUNCH + (n - 1) / n * S / B + (n - 1) * a
    assert collective_time(kind, S, one(node)) == pytest.approx(want, rel=1e-12)


def test_all_to_all_closed_form(node):
    """Pairwise exchange with all messages in flight at once: the wire latency once, the
    per-message software cost per peer."""
    n, B, o = 8, 100e9 * EFF, A.comm_step_overhead_s
    want = LAUNCH + (n - 1) / n * S / B + 2e-6 + (n - 1) * o
    assert collective_time("all_to_all", S, one(node)) == pytest.approx(want, rel=1e-12)


def test_p2p_and_broadcast_closed_form(node):
    B, a = 100e9 * EFF, alpha(2e-6)
    g = one(node)
    assert collective_time("p2p", S, g) == pytest.approx(LAUNCH + S / B + a, rel=1e-12)
    assert collective_time("broadcast", S, g) == pytest.approx(LAUNCH + S / B + 3 * a, rel=1e-12)


def test_trivial_groups_cost_nothing(node):
    g = place(node, {"dp": 8})["tp"]
    assert g.n == 1
    assert all(collective_time(k, S, g) == 0.0 for k in KINDS)
    assert collective_time("all_reduce", 0.0, one(node)) == 0.0


def test_unknown_kind_is_a_bug(node):
    with pytest.raises(ValueError, match="unknown collective"):
        collective_time("allreduce", S, one(node))


def test_fat_tree_oversubscription_divides_the_bandwidth():
    flat = Sys([switch(16, 100e9, 2e-6, kind="fat_tree")])
    over = Sys([switch(16, 100e9, 2e-6, kind="fat_tree", over=2.0)])
    n, a = 16, alpha(2e-6)
    want = LAUNCH + (n - 1) / n * S / (100e9 * EFF / 2) + (n - 1) * a
    assert collective_time("reduce_scatter", S, one(over)) == pytest.approx(want, rel=1e-12)
    assert collective_time("reduce_scatter", S, one(over)) > collective_time("reduce_scatter", S, one(flat))


# --- two levels: hierarchical composition and link sharing ------------------------------------

def test_dp_across_nodes_shares_the_nics():
    """tp=8 fills each node; the 8 data-parallel groups of a node share its 400 GB/s of NICs."""
    sys = dgx_like(nodes=4)
    g = place(sys, {"tp": 8, "dp": 4})["dp"]
    n, B, a = 4, 400e9 * EFF / 8, alpha(5e-6)
    want = LAUNCH + 2 * (n - 1) / n * S / B + 2 * (n - 1) * a
    assert collective_time("all_reduce", S, g) == pytest.approx(want, rel=1e-12)


def test_hierarchical_reduce_scatter_two_levels():
    """dp=32 over 4 nodes: reduce-scatter inside the node on S, then across nodes on S/8 with
    the node's NICs shared by its 8 ranks; the phases pipeline (comm_level_overlap)."""
    sys = dgx_like(nodes=4)
    g = place(sys, {"dp": 32})["dp"]
    inner = 7 / 8 * S / (450e9 * EFF)
    outer = 3 / 4 * (S / 8) / (400e9 * EFF / 8)
    lat = 7 * alpha(1e-6) + 3 * alpha(5e-6)
    ov = A.comm_level_overlap
    bw = max(inner, outer) + (1 - ov) * min(inner, outer)
    for kind in ("reduce_scatter", "all_gather"):
        assert collective_time(kind, S, g) == pytest.approx(LAUNCH + bw + lat, rel=1e-12)


@pytest.mark.parametrize("overlap", [0.0, 0.5, 1.0])
def test_hierarchical_all_reduce_two_levels(overlap):
    """All-reduce = RS inside, all-reduce across nodes on 1/8 of the data, AG inside."""
    a = A.replace(comm_level_overlap=overlap)
    sys = dgx_like(nodes=4)
    g = place(sys, {"dp": 32})["dp"]
    inner = 2 * 7 / 8 * S / (450e9 * EFF)
    outer = 2 * 3 / 4 * (S / 8) / (400e9 * EFF / 8)   # ring beats the tree at this size
    lat = 2 * 7 * alpha(1e-6) + 2 * 3 * alpha(5e-6)
    bw = max(inner, outer) + (1 - overlap) * min(inner, outer)
    assert collective_time("all_reduce", S, g, a) == pytest.approx(LAUNCH + bw + lat, rel=1e-12)


def test_hierarchical_all_to_all_splits_by_destination():
    sys = dgx_like(nodes=4)
    g = place(sys, {"dp": 32})["dp"]
    inner = S * 7 / 32 / (450e9 * EFF)                # to the 7 other ranks of my node
    outer = S * 24 / 32 / (400e9 * EFF / 8)           # to the 24 ranks of other nodes
    o = A.comm_step_overhead_s
    lat = 1e-6 + 7 * o + 5e-6 + 24 * o
    assert collective_time("all_to_all", S, g) == pytest.approx(LAUNCH + max(inner, outer) + lat, rel=1e-12)


def test_node_egress_caps_the_port():
    """A pod port faster than the node's NICs cannot be used beyond the NICs."""
    capped = Sys([switch(8, 450e9, 1e-6, egress=100e9), switch(4, 400e9, 5e-6, kind="fat_tree")])
    free = Sys([switch(8, 450e9, 1e-6, egress=400e9), switch(4, 400e9, 5e-6, kind="fat_tree")])
    g1 = place(capped, {"tp": 8, "dp": 4})["dp"]
    g2 = place(free, {"tp": 8, "dp": 4})["dp"]
    t1, t2 = (collective_time("reduce_scatter", S, g) for g, s in ((g1, capped), (g2, free)))
    assert (t1 - LAUNCH - 3 * alpha(5e-6)) == pytest.approx(4 * (t2 - LAUNCH - 3 * alpha(5e-6)), rel=1e-12)


def test_pipeline_p2p_counts_only_boundary_senders():
    """tp=4, two pipeline stages per node: only the 4 ranks of the boundary stage use the NICs."""
    sys = dgx_like(nodes=2)
    g = place(sys, {"tp": 4, "pp": 4})["pp"]
    want = LAUNCH + S / (400e9 * EFF / 4) + alpha(5e-6)
    assert collective_time("p2p", S, g) == pytest.approx(want, rel=1e-12)


# --- mesh, torus, ring ------------------------------------------------------------------------

def test_mesh_all_reduce_dimension_ordered():
    tile = Sys([grid((5, 5), bw=2e12, lat=1e-7)])
    B, a = 2e12 * EFF, alpha(1e-7)
    rs = 4 / 5 * S / B + 4 / 5 * (S / 5) / B
    want = LAUNCH + 2 * rs + 2 * (4 * a + 4 * a)
    assert collective_time("all_reduce", S, one(tile)) == pytest.approx(want, rel=1e-12)
    assert collective_time("reduce_scatter", S, one(tile)) == pytest.approx(LAUNCH + rs + 8 * a, rel=1e-12)


def test_sub_mesh_row_and_column():
    tile = Sys([grid((5, 5), bw=2e12, lat=1e-7)])
    B, a = 2e12 * EFF, alpha(1e-7)
    gs = place(tile, {"tp": 5, "dp": 5})
    row = LAUNCH + 2 * 4 / 5 * S / B + 2 * 4 * a
    assert collective_time("all_reduce", S, gs["tp"]) == pytest.approx(row, rel=1e-12)
    assert collective_time("all_reduce", S, gs["dp"]) == pytest.approx(row, rel=1e-12)


def test_torus_uses_both_directions():
    torus = Sys([grid((4, 4), bw=50e9, lat=1e-6, kind="torus")])
    mesh = Sys([grid((4, 4), bw=50e9, lat=1e-6, kind="mesh2d")])
    a = alpha(1e-6)
    rs_torus = 3 / 4 * S / (2 * 50e9 * EFF) + 3 / 4 * (S / 4) / (2 * 50e9 * EFF)
    want = LAUNCH + 2 * rs_torus + 2 * 6 * a
    assert collective_time("all_reduce", S, one(torus)) == pytest.approx(want, rel=1e-12)
    bw_t = collective_time("all_reduce", S, one(torus)) - LAUNCH - 12 * a
    bw_m = collective_time("all_reduce", S, one(mesh)) - LAUNCH - 12 * a
    assert bw_m == pytest.approx(2 * bw_t, rel=1e-12)


def test_partial_torus_dimension_has_no_wraparound():
    """4 of an 8-ring's children form a line, not a ring: one direction's rate."""
    ring = Sys([grid((8,), bw=50e9, lat=1e-6, kind="ring")])
    g = place(ring, {"tp": 4, "dp": 2})["tp"]
    assert g.grids[0] == ((4, 1, False),)
    want = LAUNCH + 3 / 4 * S / (50e9 * EFF) + 3 * alpha(1e-6)
    assert collective_time("reduce_scatter", S, g) == pytest.approx(want, rel=1e-12)
    full = one(ring)
    want = LAUNCH + 7 / 8 * S / (2 * 50e9 * EFF) + 7 * alpha(1e-6)
    assert collective_time("reduce_scatter", S, full) == pytest.approx(want, rel=1e-12)


def test_strided_group_on_a_line_shares_links():
    """dp groups of stride 2 on an 8-line interleave: every link carries two groups."""
    line = Sys([grid((8,), bw=50e9, lat=1e-6, kind="ring")])
    g = place(line, {"tp": 2, "dp": 4})["dp"]
    assert g.grids[0] == ((4, 2, True),)
    # wraps (4 x 2 = 8), but each link is shared by the 2 interleaved groups; steps span 2 hops
    want = LAUNCH + 3 / 4 * S / (2 * 50e9 * EFF / 2) + 3 * (A.comm_step_overhead_s + 2e-6)
    assert collective_time("reduce_scatter", S, g) == pytest.approx(want, rel=1e-12)


def test_mesh_all_to_all_is_bisection_bound():
    line = Sys([grid((8, 1), bw=50e9, lat=1e-7)])
    g = one(line)
    B = 50e9 * EFF
    out = S * 7 / 8
    bisect = 8 * out / (4 * 1 * B)       # one link across the middle of an 8-line
    inject = out / (2 * B)
    assert bisect > inject
    want = LAUNCH + bisect + 1e-7 + 7 * A.comm_step_overhead_s
    assert collective_time("all_to_all", S, g) == pytest.approx(want, rel=1e-12)


def test_tiles_on_a_tray_share_the_tile_edge():
    """dp across a 2x3 tray of 5x5 tiles: the 25 D1 of a tile share its edge links."""
    tray = Sys([grid((5, 5), bw=2e12, lat=1e-7, name="tile"), grid((2, 3), bw=9e12, lat=2e-7, name="tray")])
    g = place(tray, {"tp": 25, "dp": 6})["dp"]
    assert g.spans == (1, 6) and g.sharers == (0, 25)
    share = 9e12 * EFF / 25
    rs = 2 / 3 * S / share + 1 / 2 * (S / 3) / share   # the 3-long dimension first (same rate)
    rs_alt = 1 / 2 * S / share + 2 / 3 * (S / 2) / share
    assert rs == pytest.approx(rs_alt, rel=1e-12)       # equal rates: the order does not matter
    want = LAUNCH + rs + (2 + 1) * alpha(2e-7)
    assert collective_time("reduce_scatter", S, g) == pytest.approx(want, rel=1e-12)


def test_changed_assumptions_take_effect_on_cached_groups(node):
    g = one(node)
    t0 = collective_time("reduce_scatter", S, g)
    t1 = collective_time("reduce_scatter", S, g, A.replace(comm_bandwidth_efficiency=EFF / 2))
    assert collective_time("reduce_scatter", S, g) == t0   # and back: the group's cache follows
    assert t1 - LAUNCH - 7 * alpha(2e-6) == pytest.approx(2 * (t0 - LAUNCH - 7 * alpha(2e-6)), rel=1e-12)
