"""The tracer against the analytic builders: every zoo model at two sizes, forward FLOPs
within 2% and parameters exactly."""
import warnings

import pytest

torch = pytest.importorskip("torch")

from dojosim.workload import build, from_torch, torch_module  # noqa: E402
from dojosim.workload.zoo import example_inputs_on  # noqa: E402

TF = dict(hidden=128, heads=4, seq_len=64, vocab=512)
SIZES = {
    "gpt": [dict(layers=2, **TF), dict(layers=3, hidden=96, heads=6, seq_len=32, vocab=300, ffn=200, tied=False)],
    "llama": [dict(layers=2, kv_heads=2, ffn=256, **TF), dict(layers=1, hidden=64, heads=8, kv_heads=8,
                                                              ffn=160, seq_len=48, vocab=256)],
    "moe": [dict(layers=2, kv_heads=2, ffn=256, experts=4, top_k=2, **TF),
            dict(layers=1, hidden=64, heads=4, kv_heads=1, ffn=96, seq_len=32, vocab=128, experts=8, top_k=1,
                 capacity_factor=1.25)],
}


def _check(name, overrides, batch=2):
    analytic = build(name, **overrides)
    module = torch_module(name, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a zoo model must trace without uncosted ops
        traced = from_torch(module, example_inputs_on(name, batch, "meta", **overrides))
    assert traced.warnings == ()
    assert traced.params == analytic.params == sum(p.numel() for p in module.parameters())
    assert traced.flops_fwd_per_sample == pytest.approx(analytic.flops_fwd_per_sample, rel=0.02)
    return analytic, traced


@pytest.mark.parametrize("name, i", [(n, i) for n in SIZES for i in range(2)])
def test_transformers_trace_like_their_builder(name, i):
    analytic, traced = _check(name, SIZES[name][i])
    assert traced.layers == analytic.layers
    assert traced.seq_len == analytic.seq_len
    attn = [op for _, op in traced.iter_ops() if op.kind == "attention"]
    assert attn and attn[0].attn == next(op.attn for _, op in analytic.iter_ops() if op.kind == "attention")


CNN_SIZES = {
    "resnet50": [dict(image_size=64), dict(image_size=48, width=16, depth=101, classes=10)],
    "regnet": [dict(image_size=64, w0=16, wa=8.0, wm=2.0, depth=6, group_width=8, stem_width=16),
               dict(image_size=32, w0=24, wa=12.0, wm=2.5, depth=4, group_width=4, stem_width=8, se_ratio=0.0,
                    classes=10)],
}


@pytest.mark.parametrize("name, i", [(n, i) for n in CNN_SIZES for i in range(2)])
def test_cnns_trace_like_their_builder(name, i):
    analytic, traced = _check(name, CNN_SIZES[name][i])
    assert traced.sample_unit == "image"
    convs = lambda m: sorted(op.gemm for b, op in m.iter_ops() if op.kind == "conv"  # noqa: E731
                             for _ in range(b.count))
    assert convs(traced) == convs(analytic)


VIT_SIZES = [dict(layers=2, hidden=64, heads=4, ffn=128, image_size=32, patch=8, classes=10),
             dict(layers=1, hidden=96, heads=3, ffn=384, image_size=48, patch=16, classes=7)]


@pytest.mark.parametrize("i", range(2))
def test_vit_traces_like_its_builder(i):
    analytic, traced = _check("vit", VIT_SIZES[i])
    assert traced.layers == analytic.layers


FSD_SIZES = {
    "fsd-mini": [dict(), dict(cameras=3, frames=3, image_height=48, image_width=80, bifpn_repeats=2, lift_layers=2,
                               fpn_levels=3, bev_level=1, head_outputs=(4, 2, 3))],
    "occupancy-mini": [dict(), dict(frames=3, occ_upsample=1, occ_z=2, lift_layers=2)],
}


@pytest.mark.parametrize("name, i", [(n, i) for n in FSD_SIZES for i in range(2)])
def test_fsd_traces_like_its_builder(name, i):
    analytic, traced = _check(name, FSD_SIZES[name][i])
    # traced inputs are float32 (4 bytes); the analytic loader delivers pixel_bytes per value
    assert traced.input_bytes_per_sample / 4 == analytic.input_bytes_per_sample / analytic.config["pixel_bytes"]
    attn = sorted({op.attn for _, op in traced.iter_ops() if op.kind == "attention"})
    assert attn == sorted({op.attn for _, op in analytic.iter_ops() if op.kind == "attention"})


@pytest.mark.parametrize("name, i", [(n, i) for n in SIZES for i in range(2)] + [("vit", 0)])
def test_traced_transformer_layers_get_megatron_hints(name, i):
    overrides = VIT_SIZES[0] if name == "vit" else SIZES[name][i]
    analytic, traced = _check(name, overrides)

    def by_hint(model):
        out = {}
        for b, op in model.iter_ops():
            if b.layer:
                key = op.tp or ("seq" if op.seq else "-")
                out[key] = out.get(key, 0.0) + b.count * op.flops
        return out

    a, t = by_hint(analytic), by_hint(traced)
    for hint in ("column", "row", "heads", "split"):
        assert t.get(hint, 0.0) == pytest.approx(a.get(hint, 0.0), rel=0.02), hint
    expert = lambda m: [op for _, op in m.iter_ops() if op.expert]  # noqa: E731
    assert sum(op.flops for op in expert(traced)) == pytest.approx(sum(op.flops for op in expert(analytic)), rel=0.02)
    if name == "moe":  # the engine sizes the all-to-all from the first expert op's reads
        assert expert(traced)[0].reads == pytest.approx(expert(analytic)[0].reads, rel=0.02)
