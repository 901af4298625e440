"""Tensor- and sequence-parallel hints for traced transformer layers, from the data flow.

The tracer knows which op produced every input of every op. In a layer that contains attention
it marks, Megatron style:

- the GEMMs that feed the attention core (through views, rotary embedding, ...) ``column`` and
  the ops between them and the core ``split``; the first GEMM after the core ``row``;
- every other pair of GEMMs joined only by element-wise ops (an MLP: fc1 -> GELU -> fc2, or
  gate/up -> SiLU * up -> down) ``column`` ... ``split`` ... ``row``;
- the remaining norms and element-wise ops (residual adds, dropout) ``seq=True``.

Layers without attention (CNNs) get no hints. MoE experts are recognised as batched matmuls
whose weight is a parameter (one slice per expert), with the ops between them and the
dispatch that feeds them.
"""
from __future__ import annotations

PASS_THROUGH = ("elementwise", "other")  # ops a walk along the data flow may cross


def _acts(r) -> int:
    return len(r.srcs)


def _walk_back(r, idx: dict, crossed: list, merge: bool):
    """GEMMs reached from ``r``'s inputs through element-wise/movement ops of the same layer.

    With ``merge=False`` the walk does not cross an op that joins two activations (a residual
    add), except a multiplication (the SwiGLU gate)."""
    found = []
    for s in r.srcs:
        p = idx.get(s)
        if p is None:
            continue
        if p.kind == "matmul":
            found.append(p)
        elif p.kind in PASS_THROUGH and (merge or _acts(p) <= 1 or p.op == "mul"):
            crossed.append(p)
            found += _walk_back(p, idx, crossed, merge)
    return found


def _walk_forward(r, consumers: dict, crossed: list):
    """The first GEMM that consumes ``r``'s output through element-wise/movement ops."""
    for c in consumers.get(r.i, ()):
        if c.kind == "matmul":
            return c
        if c.kind in PASS_THROUGH:
            crossed.append(c)
            found = _walk_forward(c, consumers, crossed)
            if found is not None:
                return found
    return None


def infer_hints(recs: list) -> None:
    """Set ``tp``/``seq`` on the records of ONE layer (in place)."""
    if not any(r.kind == "attention" for r in recs):
        return
    idx = {r.i: r for r in recs}
    consumers: dict = {}
    for r in recs:
        for s in r.srcs:
            consumers.setdefault(s, []).append(r)

    def mark(ops, tp):
        for o in ops:
            if o.tp is None:
                o.tp = tp

    for att in (r for r in recs if r.kind == "attention"):
        crossed: list = []
        mark(_walk_back(att, idx, crossed, merge=True), "column")
        mark(crossed, "split")
        crossed = []
        out = _walk_forward(att, consumers, crossed)
        if out is not None:
            mark([out], "row")
            mark(crossed, "split")
    for r in recs:
        if r.kind != "matmul" or r.tp is not None:
            continue
        crossed = []
        ups = [u for u in _walk_back(r, idx, crossed, merge=False) if u.tp is None]
        if ups:
            mark(ups, "column")
            mark(crossed, "split")
            r.tp = "row"
    _experts(recs, idx)
    for r in recs:
        if r.tp is None and r.kind in ("norm", "elementwise") and not r.expert:
            r.seq = True


def _experts(recs: list, idx: dict) -> None:
    """MoE experts: batched matmuls with a weight parameter (one slice per expert), the ops
    between them, and the dispatch (gather) that feeds the first one."""
    experts = [r for r in recs if r.op in ("bmm", "baddbmm") and r.params > 0]
    for r in experts:
        r.expert = True
        crossed: list = []
        ups = _walk_back(r, idx, crossed, merge=False)
        if any(u in experts for u in ups):
            for c in crossed:
                c.expert = True
        else:  # the first expert GEMM: its input comes from the dispatch
            for s in r.srcs:
                p = idx.get(s)
                if p is not None and p.kind == "other":
                    p.expert = True
