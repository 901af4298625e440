"""Memory against the published formulas: Korthikanti et al. 2022 (activations) and
Rajbhandari et al. 2020 (ZeRO model states), plus fit errors."""
import pytest

from dojosim.cli import main
from dojosim.engine import estimate
from dojosim.engine.memory import in_flight_micro_batches, require_fit, state_bytes
from dojosim.errors import FitError
from dojosim.hardware import load_system
from dojosim.strategy import Strategy
from dojosim.workload import build

S, H, A, L = 2048, 4096, 32, 8


@pytest.fixture(scope="module")
def gpt():
    # dropout on, as in Korthikanti et al. (their 34sbh counts the two dropout masks)
    return build("gpt", layers=L, hidden=H, heads=A, seq_len=S, vocab=51200, dropout=0.1)


def layer_activation_bytes(est, b, layers):
    """Activation bytes of the layers alone (embedding/head removed), per layer, per micro-batch."""
    return est.extra["layer_saved_bytes"]


def _est(model, tp=1, pp=1, sp=False, recompute="none", b=1, dp=1, devices=None):
    devices = devices or tp * pp * dp
    system = load_system("a100-80gb-dgx", devices=devices)
    s = Strategy(dp=dp, tp=tp, pp=pp, sequence_parallel=sp, micro_batch=b, global_batch=b * dp * max(pp, 1),
                 recompute=recompute, precision="fp16")
    return estimate(model, system, s)


@pytest.mark.parametrize("t", [1, 2, 4, 8])
def test_activations_without_sp_match_korthikanti(gpt, t):
    """sbh(10 + 24/t) bytes per layer (+ the flash-attention softmax statistics, 2as/t)."""
    b = 2
    est = _est(gpt, tp=t, b=b)
    per_layer = est.extra["layer_saved_bytes"]
    expected = S * b * H * (10 + 24 / t) + 2 * A * S * b / t
    assert per_layer == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("t", [2, 4, 8])
def test_activations_with_sp_match_korthikanti(gpt, t):
    """Sequence parallelism splits everything: 34sbh/t."""
    b = 1
    est = _est(gpt, tp=t, sp=True, b=b)
    expected = S * b * H * 34 / t + 2 * A * S * b / t
    assert est.extra["layer_saved_bytes"] == pytest.approx(expected, rel=1e-9)


def test_full_recompute_keeps_2sbh_per_layer(gpt):
    b = 4
    full = _est(gpt, recompute="full", b=b)
    none = _est(gpt, recompute="none", b=b)
    # 2sbh per layer kept, plus one layer's full activations while it is recomputed
    layers_part = full.memory.components["activations"] - full.extra["edge_activation_bytes"]
    assert layers_part == pytest.approx(L * 2 * S * b * H + full.extra["layer_saved_bytes"], rel=1e-9)
    assert full.memory.components["activations"] < none.memory.components["activations"]


def test_pipeline_first_stage_holds_p_micro_batches(gpt):
    """1F1B: the first stage keeps p micro-batches of its L/p layers = L layers' worth."""
    b = 1
    est = _est(gpt, pp=4, b=b, devices=4)
    layers_part = est.memory.components["activations"] - est.extra["edge_activation_bytes"]
    assert layers_part == pytest.approx(L * est.extra["layer_saved_bytes"], rel=1e-9)


def test_interleaved_in_flight_factor():
    # Korthikanti et al. §4.2.3: (1 + (p-1)/(p v)) times the 1F1B memory
    assert in_flight_micro_batches(8, 64, 2, "1f1b") == pytest.approx(8 * (1 + 7 / 16))
    assert in_flight_micro_batches(8, 64, 1, "1f1b") == 8
    assert in_flight_micro_batches(8, 4, 1, "1f1b") == 4          # fewer micro-batches than stages
    assert in_flight_micro_batches(8, 64, 1, "gpipe") == 64
    assert in_flight_micro_batches(1, 64, 1, "1f1b") == 1


@pytest.mark.parametrize("n", [1, 8, 64])
def test_zero_stages_match_rajbhandari(n):
    """ZeRO paper §5: 16P (stage 0), 4P + 12P/N (1), 2P + 14P/N (2), 16P/N (3), mixed-precision Adam."""
    P = 1e9
    tot = [sum(v for k, v in state_bytes(P, 0.0, "bf16", z, n).items() if k != "zero_live") for z in range(4)]
    assert tot[0] == pytest.approx(16 * P)
    assert tot[1] == pytest.approx(4 * P + 12 * P / n)
    assert tot[2] == pytest.approx(2 * P + 14 * P / n)
    assert tot[3] == pytest.approx(16 * P / n)


def test_zero3_keeps_gathered_layers_live():
    live = state_bytes(1e9, 1e7, "bf16", 3, 64)["zero_live"]
    assert live == pytest.approx(2 * 1e7 * 2)


def test_weights_memory_matches_param_count(gpt):
    est = _est(gpt, b=1)
    assert est.memory.components["weights"] == pytest.approx(gpt.params * 2, rel=1e-9)
    assert est.memory.components["optimizer"] == pytest.approx(gpt.params * 12, rel=1e-9)


def test_too_big_model_does_not_fit_and_require_fit_raises():
    big = build("gpt3-175b")
    system = load_system("a100-80gb-dgx", devices=8)
    est = estimate(big, system, Strategy(dp=8, micro_batch=1, global_batch=8))
    assert not est.memory.fits
    assert est.memory.per_device_bytes > est.memory.capacity_bytes
    assert est.step_time_s > 0  # still estimated
    with pytest.raises(FitError) as err:
        require_fit(est.memory)
    assert "per device" in str(err.value)


def test_cli_estimate_says_it_does_not_fit(tmp_path, capsys):
    run = tmp_path / "run.yaml"
    run.write_text("""
workload: {model: gpt3-175b}
system: {preset: a100-80gb-dgx, devices: 8}
strategy: {dp: 8, micro_batch: 1, global_batch: 8}
""")
    with pytest.raises(SystemExit) as done:
        main(["estimate", str(run)])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out


def test_dojo_spills_to_the_dip_pools_and_streams():
    """A D1 has no DRAM: what exceeds its SRAM lives in the tile's DIP HBM and is streamed."""
    model = build("gpt", layers=24, hidden=2048, heads=16, seq_len=2048)
    system = load_system("dojo-tile")
    s = Strategy(dp=25, micro_batch=1, global_batch=25, recompute="full", zero=3, precision="bf16")
    est = estimate(model, system, s)
    tiers = est.memory.tiers
    assert tiers["sram"]["used"] == pytest.approx(tiers["sram"]["capacity"])
    assert any(name != "sram" and t["used"] > 0 for name, t in tiers.items())
    assert est.extra["streamed_bytes_per_step"] > 0
    assert est.memory.fits
