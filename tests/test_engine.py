"""estimate(): properties that must hold for any split, and the errors users see."""
import math

import pytest
from hypothesis import assume, given, strategies as st

from dojosim import Strategy, estimate
from dojosim.engine.result import BREAKDOWN_KEYS
from dojosim.errors import StrategyError
from dojosim.hardware import load_system
from dojosim.workload import build

GPT = build("gpt", layers=8, hidden=1024, heads=16, seq_len=1024, vocab=32000)
SYSTEMS = {n: load_system("a100-80gb-dgx", devices=n) for n in (8, 16, 32, 64)}
H100 = load_system("h100-dgx", devices=64)


@st.composite
def splits(draw, devices=64):
    tp = draw(st.sampled_from([1, 2, 4, 8]))
    pp = draw(st.sampled_from([1, 2, 4, 8]))
    assume(tp * pp <= devices)
    dp = devices // (tp * pp)
    v = draw(st.sampled_from([1, 2])) if pp > 1 else 1
    assume(8 % (pp * v) == 0)
    mb = draw(st.sampled_from([1, 2, 4]))
    m = draw(st.sampled_from([1, 2, 4, 8])) * (pp if v > 1 else 1)
    return Strategy(
        dp=dp, tp=tp, pp=pp, interleave=v, micro_batch=mb, global_batch=dp * mb * m,
        sequence_parallel=draw(st.booleans()) if tp > 1 else False,
        recompute=draw(st.sampled_from(["none", "selective", "full"])),
        zero=draw(st.sampled_from([0, 1, 2, 3])) if pp == 1 else draw(st.sampled_from([0, 1])),
        precision=draw(st.sampled_from(["bf16", "fp16", "fp8", "tf32"])),
    )


def scaled(system, flops=1.0, links=1.0, memory_bw=1.0):
    chip = system.chip.model_copy(update={
        "peak_flops": {k: v * flops for k, v in system.chip.peak_flops.items()},
        "dram_bandwidth": system.chip.dram_bandwidth * memory_bw,
        "sram_bandwidth": system.chip.sram_bandwidth * memory_bw,
    })
    levels = [lv.model_copy(update={
        "link_bandwidth": lv.link_bandwidth * links,
        "egress_bandwidth": lv.egress_bandwidth * links if lv.egress_bandwidth else None,
    }) for lv in system.levels]
    return system.model_copy(update={"chip": chip, "levels": levels})


@given(splits())
def test_breakdown_sums_to_step_time(s):
    est = estimate(GPT, H100, s)
    assert set(est.breakdown) == set(BREAKDOWN_KEYS)
    assert all(v >= 0 for v in est.breakdown.values())
    assert sum(est.breakdown.values()) == pytest.approx(est.step_time_s, rel=1e-12)
    assert est.samples_per_s == pytest.approx(s.global_batch / est.step_time_s)
    assert est.tokens_per_s == pytest.approx(s.global_batch * GPT.seq_len / est.step_time_s)
    assert 0 < est.mfu <= est.hfu < 1.0
    assert est.energy_j_per_step == pytest.approx(est.power_w * est.step_time_s)


@given(splits(), st.floats(1.0, 8.0))
def test_faster_links_never_slow_a_step(s, k):
    base = estimate(GPT, H100, s).step_time_s
    fast = estimate(GPT, scaled(H100, links=k), s).step_time_s
    assert fast <= base * (1 + 1e-9)


@given(splits(), st.floats(1.0, 8.0))
def test_more_flops_never_slow_a_step(s, k):
    base = estimate(GPT, H100, s).step_time_s
    fast = estimate(GPT, scaled(H100, flops=k), s).step_time_s
    assert fast <= base * (1 + 1e-9)


@given(splits(), st.floats(1.0, 8.0))
def test_more_memory_bandwidth_never_slows_a_step(s, k):
    base = estimate(GPT, H100, s).step_time_s
    fast = estimate(GPT, scaled(H100, memory_bw=k), s).step_time_s
    assert fast <= base * (1 + 1e-9)


@given(splits())
def test_doubling_global_batch_never_lowers_throughput(s):
    double = s.model_copy(update={"global_batch": 2 * s.global_batch})
    a = estimate(GPT, H100, s)
    b = estimate(GPT, H100, double)
    assert b.samples_per_s >= a.samples_per_s * (1 - 1e-9)


def test_estimate_is_deterministic_and_cached_results_match():
    s = Strategy(dp=8, tp=2, pp=4, micro_batch=1, global_batch=64, recompute="full")
    a = estimate(GPT, SYSTEMS[64], s)
    b = estimate(GPT, load_system("a100-80gb-dgx", devices=64), s)  # a fresh, equal system
    assert a.to_dict() == b.to_dict()


def test_full_recompute_costs_a_forward_pass():
    base = Strategy(dp=8, micro_batch=2, global_batch=64)
    none = estimate(GPT, SYSTEMS[8], base)
    full = estimate(GPT, SYSTEMS[8], base.model_copy(update={"recompute": "full"}))
    assert full.hardware_flops_per_step > full.model_flops_per_step == none.model_flops_per_step
    assert full.breakdown["compute"] > none.breakdown["compute"]
    assert full.hfu > full.mfu
    assert none.hfu == pytest.approx(none.mfu)


def test_model_flops_follow_the_megatron_count():
    """Megatron Eq. 3 without recompute: 72 B s l h^2 (1 + s/6h + V/12lh) per step."""
    B, s, l, h, V = 64, 1024, 8, 1024, 32000
    est = estimate(GPT, SYSTEMS[8], Strategy(dp=8, micro_batch=1, global_batch=B))
    expected = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h))
    assert est.model_flops_per_step == pytest.approx(expected, rel=0.02)


def test_tp_communication_appears_only_with_tp():
    one = estimate(GPT, SYSTEMS[8], Strategy(dp=8, micro_batch=1, global_batch=8))
    eight = estimate(GPT, SYSTEMS[8], Strategy(tp=8, micro_batch=1, global_batch=8))
    assert one.breakdown["comm_tp"] == 0.0
    assert eight.breakdown["comm_tp"] > 0.0


def test_fp8_speeds_up_gemms_but_not_everything():
    s = Strategy(dp=8, micro_batch=4, global_batch=64)
    bf16 = estimate(GPT, load_system("h100-dgx", devices=8), s)
    fp8 = estimate(GPT, load_system("h100-dgx", devices=8), s.model_copy(update={"precision": "fp8"}))
    ratio = bf16.breakdown["compute"] / fp8.breakdown["compute"]
    assert 1.0 < ratio < 2.0


def test_input_bound_step_cannot_beat_the_hosts():
    """A step is never faster than the hosts deliver its samples."""
    system = load_system("a100-80gb-dgx", devices=8)
    slow = system.model_copy(update={"levels": [
        lv.model_copy(update={"host_input_bandwidth": 1e3}) for lv in system.levels]})
    s = Strategy(dp=8, micro_batch=1, global_batch=8)
    est = estimate(GPT, slow, s)
    t_in = s.global_batch * GPT.input_bytes_per_sample / (1e3 * slow.instances(0))
    assert est.step_time_s >= t_in
    assert est.breakdown["input"] > 0


def test_micro_batch_none_is_chosen_and_noted():
    est = estimate(GPT, SYSTEMS[8], Strategy(dp=8, micro_batch=None, global_batch=64))
    assert est.extra["micro_batch"] in (1, 2, 4, 8)
    assert any("micro_batch" in n for n in est.notes)
    assert est.memory.fits


@pytest.mark.parametrize("fields,field", [
    ({"dp": 3}, "dp"),                                   # 3 devices on an 8-device system
    ({"dp": 1, "tp": 8, "global_batch": 8}, None),       # valid
    ({"dp": 2, "tp": 4, "global_batch": 7}, "global_batch"),
    ({"dp": 4, "tp": 2, "micro_batch": 3, "global_batch": 16}, "micro_batch"),
    ({"dp": 1, "tp": 1, "pp": 8, "interleave": 2, "global_batch": 8}, "interleave"),
    ({"dp": 1, "tp": 8, "sequence_parallel": False, "cp": 1, "global_batch": 8, "ep": 2}, "ep"),
])
def test_impossible_splits_raise_naming_the_field(fields, field):
    s = Strategy(**{"micro_batch": 1, **fields})
    if field is None:
        assert estimate(GPT, SYSTEMS[8], s).step_time_s > 0
        return
    with pytest.raises(StrategyError) as err:
        estimate(GPT, SYSTEMS[8], s)
    assert err.value.path == f"strategy.{field}"


def test_tp_must_divide_heads():
    model = build("gpt", layers=8, hidden=768, heads=12, seq_len=512, vocab=1000)
    with pytest.raises(StrategyError) as err:
        estimate(model, SYSTEMS[8], Strategy(tp=8, micro_batch=1, global_batch=8))
    assert err.value.path == "strategy.tp"


def test_resnet_estimate_has_no_tokens():
    model = build("resnet50")
    est = estimate(model, SYSTEMS[8], Strategy(dp=8, micro_batch=64, global_batch=512, precision="fp16"))
    assert est.tokens_per_s is None
    assert est.samples_per_s > 0
    assert math.isfinite(est.step_time_s)


def test_dojo_and_gpu_estimates_run():
    model = build("gpt", layers=16, hidden=2048, heads=16, seq_len=2048)
    for preset in ("dojo-tile", "dojo-tray"):
        system = load_system(preset)
        n = system.chips
        est = estimate(model, system, Strategy(dp=n, micro_batch=1, global_batch=2 * n, zero=3,
                                               recompute="full"))
        assert est.step_time_s > 0 and est.memory.fits


def test_context_parallel_splits_activations_and_adds_its_exchange():
    model = build("llama", layers=8, hidden=2048, heads=16, kv_heads=4, ffn=5632, seq_len=16384, vocab=32000)
    system = load_system("h100-dgx", devices=16)
    base = dict(tp=8, micro_batch=1, global_batch=4, recompute="none")
    one = estimate(model, system, Strategy(dp=2, cp=1, **base))
    two = estimate(model, system, Strategy(dp=1, cp=2, **base))
    assert two.breakdown["comm_cp"] > 0 and one.breakdown["comm_cp"] == 0
    assert two.memory.components["activations"] == pytest.approx(one.memory.components["activations"] / 2, rel=0.05)


def test_expert_parallel_all_to_all_and_sharded_experts():
    model = build("moe", layers=4, hidden=1024, heads=16, kv_heads=4, ffn=2816, seq_len=1024, vocab=32000,
                  experts=8, top_k=2)
    system = load_system("h100-dgx", devices=16)
    s1 = Strategy(dp=16, ep=1, micro_batch=1, global_batch=16)
    s8 = Strategy(dp=16, ep=8, micro_batch=1, global_batch=16)
    e1, e8 = estimate(model, system, s1), estimate(model, system, s8)
    assert e1.breakdown["comm_ep"] == 0 and e8.breakdown["comm_ep"] > 0
    assert e8.memory.components["weights"] < e1.memory.components["weights"]
    assert e8.extra["params_per_device"] < e1.extra["params_per_device"]


@pytest.mark.parametrize("preset,devices", [("dojo-tile", 25), ("dojo-tray", 150), ("tpu-v4-pod", 64),
                                            ("h800-dgx", 16), ("dojo-d2-tile", None)])
@given(data=st.data())
def test_every_system_kind_gives_a_consistent_estimate(preset, devices, data):
    system = load_system(preset, devices=devices) if devices else load_system(preset)
    n = system.chips
    tp = data.draw(st.sampled_from([d for d in (1, 2, 4, 8) if n % d == 0 and 16 % d == 0]))
    rest = n // tp
    pp = data.draw(st.sampled_from([d for d in (1, 2, 4, 8) if rest % d == 0]))
    dp = rest // pp
    s = Strategy(dp=dp, tp=tp, pp=pp, micro_batch=1, global_batch=dp * pp * 2,
                 zero=data.draw(st.sampled_from([0, 1, 3])) if pp == 1 else 1,
                 recompute=data.draw(st.sampled_from(["none", "full"])),
                 precision=data.draw(st.sampled_from(["bf16", "cfp8", "fp8"])))
    est = estimate(GPT, system, s)
    assert math.isfinite(est.step_time_s) and est.step_time_s > 0
    assert sum(est.breakdown.values()) == pytest.approx(est.step_time_s, rel=1e-12)
    assert sum(t["used"] for t in est.memory.tiers.values()) == pytest.approx(est.memory.per_device_bytes)


@pytest.mark.parametrize("name", ["gpt3-175b", "mixtral-8x7b", "vit-b16", "resnet50", "fsd"])
def test_parts_flop_totals_are_the_models_own_sums(name):
    # the engine sums the FLOP totals from its op table; they must be the model's sums, bit for bit
    import importlib
    engine = importlib.import_module("dojosim.engine.estimate")
    model = build(name)
    parts = engine._parts(model)
    assert parts.train_flops == model.flops_train_per_sample
    assert parts.layer_fwd_flops == sum(b.count * sum(op.flops for op in b.ops) for b in parts.layers)
    assert parts.layer_attn_flops == sum(b.count * sum(op.flops for op in b.ops if op.kind == "attention")
                                         for b in parts.layers)
