"""Properties of the analytic graphs that must hold for any size."""
import pytest
from hypothesis import given, strategies as st

from dojosim.workload import build, list_models

TF_SIZES = st.fixed_dictionaries({
    "layers": st.integers(1, 200),
    "heads": st.sampled_from([1, 2, 4, 8, 16, 32]),
    "head_dim": st.sampled_from([32, 64, 128]),
    "seq_len": st.integers(1, 8192),
    "vocab": st.integers(2, 200_000),
})


def _gpt(p, **extra):
    return build("gpt", layers=p["layers"], hidden=p["heads"] * p["head_dim"], heads=p["heads"],
                 seq_len=p["seq_len"], vocab=p["vocab"], **extra)


@given(TF_SIZES)
def test_gpt_closed_forms(p):
    m = _gpt(p)
    l, h, s, V, a = p["layers"], p["heads"] * p["head_dim"], p["seq_len"], p["vocab"], p["heads"]
    # tied embeddings, learned positions, biases, LayerNorms (the GPT-3 paper's count)
    assert m.params == 12 * l * h * h + 13 * l * h + V * h + s * h + 2 * h
    gemm = sum(b.count * op.flops for b, op in m.iter_ops() if op.kind in ("matmul", "attention"))
    assert gemm == pytest.approx(24 * s * l * h * h * (1 + s / (6 * h)) + 2 * s * h * V, rel=1e-9)
    layer = next(b for b in m.blocks if b.layer)
    assert sum(op.saved for op in layer.ops) == pytest.approx(17 * s * h + a * s)


@given(TF_SIZES, st.integers(1, 50))
def test_cost_is_linear_in_layers(p, extra):
    a, b = _gpt(p), _gpt({**p, "layers": p["layers"] + extra})
    per_layer = next(blk for blk in a.blocks if blk.layer)
    assert b.flops_fwd_per_sample - a.flops_fwd_per_sample == pytest.approx(
        extra * sum(op.flops for op in per_layer.ops), rel=1e-9)
    assert len(a.blocks) == len(b.blocks) == 3


@pytest.mark.parametrize("name", [r["name"] for r in list_models()])
def test_every_zoo_graph_is_well_formed(name):
    m = build(name)
    assert m.params > 0 and m.flops_fwd_per_sample > 0 and m.input_bytes_per_sample > 0
    assert m.flops_train_per_sample > 2 * m.flops_fwd_per_sample
    assert m.layers == sum(b.count for b in m.blocks if b.layer) > 0
    for block, op in m.iter_ops():
        assert block.count >= 1
        assert min(op.flops, op.reads, op.writes, op.params, op.saved) >= 0, op.name
        if op.kind in ("matmul", "conv"):
            assert op.gemm is not None and op.flops == pytest.approx(2 * op.gemm[0] * op.gemm[1] * op.gemm[2])
        if op.kind == "attention":
            assert op.attn is not None and op.tp == "heads"
        assert op.expert == (m.family == "moe" and op.name.startswith("moe.") and "router" not in op.name
                             and "topk" not in op.name and "combine" not in op.name)


@given(st.integers(1, 64), st.integers(1, 4), st.sampled_from([0.5, 1.0, 1.25, 2.0]))
def test_moe_expert_flops_follow_capacity(experts, top_k, cf):
    top_k = min(top_k, experts)
    m = build("moe", layers=1, hidden=256, heads=4, kv_heads=2, ffn=512, seq_len=128, vocab=1000,
              experts=experts, top_k=top_k, capacity_factor=cf)
    ops = {op.name: op for op in m.blocks[1].ops}
    rows = cf * top_k * 128
    assert ops["moe.expert_gate_up"].flops == pytest.approx(2 * rows * 256 * 1024)
    assert ops["moe.expert_gate_up"].params == experts * 256 * 1024


def test_analytic_zoo_and_cli_need_no_torch():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from dojosim.workload import build, list_models\n"
            "assert all(build(r['name']).params > 0 for r in list_models())\n"
            "from dojosim.cli import main\n"
            "try:\n    main(['models', 'show', 'fsd', '--json'])\nexcept SystemExit as e:\n    assert not e.code\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_gemm_per_group():
    m = build("mixtral-8x7b", layers=1, seq_len=128)
    up = next(op for op in m.blocks[1].ops if op.name == "moe.expert_gate_up")
    assert up.gemm_per_group == (2 * 128 / 8, 2 * 14336, 4096)   # top-2 rows spread over 8 experts
    conv = next(op for _, op in build("regnety-400mf").iter_ops() if op.kind == "conv" and op.groups > 1)
    gm, gn, gk = conv.gemm_per_group
    assert gk == 8 * 9 and gn == 8 and conv.flops == 2 * gm * gn * gk * conv.groups


def test_bev_level_is_a_zero_based_index():
    from dojosim.errors import SpecError
    from dojosim.workload import build

    assert build("fsd-mini", bev_level=0).params > 0
    with pytest.raises(SpecError) as info:
        build("fsd-mini", bev_level=-1)
    assert info.value.path == "bev_level"
