"""The search's top 5 against figures recorded from the search before issue 12's speed-up
(main at 7bed3ca): the faster search must rank exactly as the old one did, with the same step
times. The cases are small enough for CI but exercise pipelining, interleave, context
parallelism, every ZeRO stage and a 5 x 5 Dojo mesh.

If the engine's figures change on purpose (a model change, with its validation report), record
the new top 5 from a search with the bounds off (`estimator=` a plain wrapper of `estimate`).
"""
from __future__ import annotations

import pytest

from dojosim.hardware import load_system
from dojosim.plan.search import search
from dojosim.workload import build

H100_X64 = [
    ('dp32 tp2 mb8 z2 sp', 1.3335022510602783),
    ('dp16 tp2 pp2 v20 mb8 z1 sp', 1.3402119899957392),
    ('dp16 tp2 cp2 mb16 z2 sp', 1.3505336932561842),
    ('dp8 tp2 pp2 cp2 v20 mb16 z1 sp', 1.3576692182465429),
    ('dp16 tp2 pp2 v10 mb8 z1 sp', 1.3612308100618853),
]

DOJO_TILE = [
    ('dp5 tp5 mb2 z1 sp', 0.33984792057188745),
    ('dp5 tp5 mb2 z2 sp', 0.34047356685759095),
    ('dp5 tp5 mb2 z3 sp', 0.3429047381539298),
    ('dp5 tp5 mb2 selective z1 sp', 0.34870097793294313),
    ('dp5 tp5 mb2 selective z2 sp', 0.34932662421864663),
]


@pytest.mark.parametrize("cfg,preset,devices,batch,want", [
    (dict(layers=40, hidden=5120, heads=40, ffn=20480), "h100-dgx", 64, 256, H100_X64),
    (dict(layers=20, hidden=3200, heads=25, ffn=12800), "dojo-tile", 25, 50, DOJO_TILE),
])
def test_top5_equals_the_recorded_search(cfg, preset, devices, batch, want):
    model = build("gpt", vocab=51200, seq_len=2048, **cfg)
    top = search(model, load_system(preset, devices=devices), batch, top=5, workers=1)
    assert [c.strategy.label(model) for c in top] == [label for label, _ in want]
    assert [c.estimate.step_time_s for c in top] == pytest.approx([s for _, s in want], rel=1e-9)
