"""Analytic transformer builders: published parameter counts, Megatron's FLOP formula,
Korthikanti's activation memory, and the run-format entry point."""
from pathlib import Path

import pytest
import yaml

from dojosim.errors import SpecError, UnknownNameError
from dojosim.workload import Model, build, from_run, list_models

# The published cases, read from this repository (they ship as package data).
CASES = Path(__file__).resolve().parents[1] / "src" / "dojosim" / "validation" / "cases.yaml"


@pytest.mark.parametrize("name, published, tol", [
    ("gpt3-175b", 174.6e9, 0.0005),     # Brown et al. 2020
    ("llama3-8b", 8.03e9, 0.001),       # Meta model card
    ("llama3-70b", 70.6e9, 0.001),
    ("llama3-405b", 405.9e9, 0.001),
    ("mixtral-8x7b", 46.7e9, 0.001),
    ("megatron-1t", 1008e9, 0.001),     # SC'21 Table 1
])
def test_published_parameter_counts(name, published, tol):
    assert build(name).params == pytest.approx(published, rel=tol)


def test_gpt_forward_flops_follow_megatron_eq3():
    # Megatron SC'21 Eq.3, F = 96 B s l h^2 (1 + s/6h + V/16lh), counts the layers 4 times
    # (fwd + 2x bwd + recompute) and the logits GEMM 3 times (no recompute): one forward is
    # 24 s l h^2 (1 + s/6h) + 2 s h V. The graph adds only the memory-bound ops (<0.2%).
    s, h, l, V = 2048, 12288, 96, 50257
    m = build("gpt3-175b")
    eq3_fwd = 24 * s * l * h * h * (1 + s / (6 * h)) + 2 * s * h * V
    eq3 = 96 * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    assert 4 * eq3_fwd - 2 * s * h * V == pytest.approx(eq3, rel=1e-12)
    assert m.flops_fwd_per_sample == pytest.approx(eq3_fwd, rel=0.002)
    assert m.flops_fwd_per_sample > eq3_fwd
    matmul = sum(b.count * op.flops for b, op in m.iter_ops() if op.kind in ("matmul", "attention"))
    assert matmul == pytest.approx(eq3_fwd, rel=1e-12)


def test_layer_activations_follow_korthikanti():
    s, h, a = 2048, 4096, 32
    m = build("gpt", layers=4, hidden=h, heads=a, seq_len=s)
    layer = next(b for b in m.blocks if b.layer)
    per_layer = sum(op.saved for op in layer.ops)
    # 34 s h bytes at 2 bytes per element (flash attention) + a*s softmax statistics
    assert per_layer == 17 * s * h + a * s
    assert sum(op.saved for op in layer.ops if op.kind == "attention") == 4 * s * h + a * s


def test_engine_conventions():
    m = build("gpt", layers=7)
    assert [b.layer for b in m.blocks] == [False, True, False]
    assert m.blocks[1].count == m.layers == 7
    ops = {op.name: op for op in m.blocks[1].ops}
    assert ops["attn.qkv"].tp == "column" and ops["mlp.fc1"].tp == "column"
    assert ops["attn.proj"].tp == "row" and ops["mlp.fc2"].tp == "row"
    assert ops["attn.core"].tp == "heads" and ops["attn.core"].attn == (1024, 12, 64)
    assert ops["mlp.gelu"].tp == "split"
    assert ops["ln1"].tp is None and ops["ln1"].seq and ops["mlp.residual"].seq
    assert ops["attn.qkv"].gemm == (1024, 3 * 768, 768)
    head = {op.name: op for op in m.blocks[2].ops}
    assert {"final_norm", "output", "loss"} <= set(head)
    assert m.input_bytes_per_sample == 1024 * 4 and m.sample_unit == "sequence"


def test_moe_marks_experts_not_router():
    m = build("mixtral-8x7b", layers=2)
    ops = {op.name: op for op in m.blocks[1].ops}
    assert ops["moe.expert_gate_up"].expert and ops["moe.expert_down"].expert
    assert not ops["moe.router"].expert
    assert m.experts == 8 and m.top_k == 2 and m.kv_heads == 8


def test_thousand_layers_is_one_block():
    m = build("gpt", layers=1000)
    assert len(m.blocks) == 3 and m.layers == 1000
    assert m.params == pytest.approx(1000 * build("gpt", layers=1).blocks[1].params + m.blocks[0].params
                                     + m.blocks[2].params)


def test_from_run_builds_every_validation_case():
    for case in yaml.safe_load(CASES.read_text()):
        m = from_run(case["workload"])
        assert isinstance(m, Model) and m.params > 0 and m.flops_fwd_per_sample > 0


def test_from_run_gpt_case_matches_its_numbers():
    wl = {"model": "gpt", "layers": 24, "hidden": 2304, "heads": 24, "kv_heads": 24, "ffn": 9216,
          "vocab": 51200, "seq_len": 2048, "experts": None, "top_k": None, "image_size": None}
    m = from_run(wl)
    assert (m.layers, m.hidden, m.heads, m.seq_len) == (24, 2304, 24, 2048)
    assert m.config["vocab"] == 51200


@pytest.mark.parametrize("wl, path", [
    ({"model": "gpt", "layers": 0}, "workload.layers"),
    ({"model": "gpt", "hidden": "big"}, "workload.hidden"),
    ({"model": "gpt", "experts": 8}, "workload.experts"),
    ({"model": "gpt", "colour": 1}, "workload.colour"),
    ({"model": "gpt", "hidden": 100, "heads": 12}, "workload.hidden"),
    ({"model": "llama", "heads": 32, "kv_heads": 5}, "workload.kv_heads"),
    ({"model": "gtp"}, "workload.model"),
])
def test_from_run_errors_name_the_field(wl, path):
    with pytest.raises(SpecError) as err:
        from_run(wl)
    assert err.value.path == path


def test_from_run_takes_family_settings_by_name():
    m = from_run({"model": "fsd", "frames": 4, "hidden": 128, "heads": 4, "experts": None})
    assert m.config["frames"] == 4 and m.hidden == 128
    assert from_run({"model": "gpt", "dropout": 0.0}).config["dropout"] == 0.0
    with pytest.raises(SpecError) as err:
        from_run({"model": "fsd", "frame": 4})
    assert err.value.path == "workload.frame" and "frames" in err.value.reason


def test_unknown_name_and_override():
    with pytest.raises(UnknownNameError):
        build("gpt-9")
    with pytest.raises(SpecError) as err:
        build("gpt", depth=3)
    assert err.value.path == "depth"


def test_list_models_has_presets():
    rows = {r["name"]: r for r in list_models()}
    for n in ("gpt", "llama", "moe", "gpt3-175b", "megatron-1t", "llama3-8b", "llama3-70b", "llama3-405b",
              "mixtral-8x7b"):
        assert n in rows and rows[n]["description"] and rows[n]["defaults"]
