"""Properties of collective costs on random hierarchies and random splits (hypothesis)."""
from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from dojosim.engine.comm import KINDS, bandwidth_lower_bound, collective_time
from dojosim.engine.placement import place
from test_comm_systems import Lvl, Sys, Topo

SHAPES = {2: [(2, 1), (1, 2)], 3: [(3, 1)], 4: [(2, 2), (4, 1)], 5: [(5, 1)], 6: [(2, 3), (3, 2)],
          8: [(2, 4), (4, 2)], 9: [(3, 3)]}


@st.composite
def levels(draw):
    out = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["switch", "fat_tree", "mesh2d", "torus", "ring"]))
        n = draw(st.sampled_from(sorted(SHAPES)))
        shape = None
        if kind in ("mesh2d", "torus"):
            shape = draw(st.sampled_from(SHAPES[n]))
        elif kind == "ring":
            shape = (n,)
        over = draw(st.sampled_from([1.0, 2.0])) if kind == "fat_tree" else 1.0
        bw = draw(st.floats(1e9, 1e13))
        lat = draw(st.floats(0.0, 1e-5))
        egress = draw(st.none() | st.floats(1e9, 1e13))
        out.append(Lvl(f"l{i}", n, Topo(kind, shape, over), bw, lat, egress))
    return Sys(out)


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def split(draw):
    """A system and degrees tp*pp*dp (and ep dividing dp) that fill it, any order."""
    system = draw(levels())
    left = system.chips
    deg = {}
    for d in ("tp", "pp"):
        deg[d] = draw(st.sampled_from(divisors(left)))
        left //= deg[d]
    deg["dp"] = left
    deg["ep"] = draw(st.sampled_from(divisors(left)))
    order = draw(st.permutations(["tp", "cp", "ep", "pp", "dp"]))
    return system, deg, tuple(order)


kinds = st.sampled_from(KINDS)
dims = st.sampled_from(["tp", "pp", "dp", "ep", "edp", "dp_cp"])
sizes = st.floats(1.0, 1e10)


@given(split(), dims, kinds, sizes, st.floats(1.0, 100.0), st.data())
def test_faster_links_never_slower(sp, dim, kind, size, factor, data):
    system, deg, order = sp
    faster = copy.deepcopy(system)
    i = data.draw(st.integers(0, len(system.levels) - 1))
    lv = faster.levels[i]
    what = data.draw(st.sampled_from(["link", "egress"]))
    if what == "link":
        lv.link_bandwidth *= factor
    elif lv.egress_bandwidth:
        lv.egress_bandwidth *= factor
    t0 = collective_time(kind, size, place(system, deg, order)[dim])
    t1 = collective_time(kind, size, place(faster, deg, order)[dim])
    assert t1 <= t0 * (1 + 1e-12)


@given(split(), dims, kinds, sizes, st.floats(1.0, 100.0))
def test_more_data_never_faster(sp, dim, kind, size, factor):
    system, deg, order = sp
    g = place(system, deg, order)[dim]
    assert collective_time(kind, size * factor, g) >= collective_time(kind, size, g)


@given(split(), dims, kinds, sizes)
def test_time_at_least_the_bandwidth_bound(sp, dim, kind, size):
    system, deg, order = sp
    g = place(system, deg, order)[dim]
    t = collective_time(kind, size, g)
    assert t >= bandwidth_lower_bound(kind, size, g) * (1 - 1e-12)
    assert t >= 0.0
    if g.n > 1:
        assert t > 0.0


@given(split())
def test_groups_are_consistent(sp):
    """Spans never exceed the children; a crossed level has sharers and a child count."""
    system, deg, order = sp
    for name, g in place(system, deg, order).items():
        for i, lv in enumerate(system.levels):
            assert 1 <= g.spans[i] <= lv.children
            if g.spans[i] > 1:
                assert g.sharers[i] >= 1 and g.inside[i] >= 1
        if g.n == 1:
            assert g.crossed == ()
        else:
            assert g.crossed
