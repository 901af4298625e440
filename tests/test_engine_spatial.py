"""Spatial (context-parallel) splits of convolutional networks, and SRAM-only chips.

A CNN's context parallelism splits every feature map's rows across ranks; each convolution
then swaps kernel//2 boundary rows with both neighbours. On Dojo's D1, operands larger than the
SRAM share stream from the DIP HBM.
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dojosim import Strategy
from dojosim.engine import estimate   # the engine: reports a split that does not fit instead of raising
from dojosim.errors import StrategyError
from dojosim.assumptions import DEFAULT as A
from dojosim.engine.compute import make_device, memory_time
from dojosim.hardware import load_system
from dojosim.workload import build
from dojosim.workload.ops import conv


def test_conv_halo_is_half_kernel_rows_of_input():
    op, out = conv("c", c_in=16, c_out=32, kernel=3, stride=1, spatial=(40, 60))
    assert op.halo == 1 * 60 * 16          # one row of 60 pixels x 16 channels
    op1, _ = conv("c1", c_in=16, c_out=32, kernel=1, stride=1, spatial=(40, 60))
    assert op1.halo == 0
    assert op.scaled(8).halo == 8 * op.halo


def test_traced_halo_matches_analytic():
    pytest.importorskip("torch")
    from dojosim.workload import example_inputs, from_torch, torch_module

    analytic = build("resnet50")
    traced = from_torch(torch_module("resnet50"), example_inputs("resnet50", batch=2, device="meta"))

    def total(m):
        return sum(b.count * sum(o.halo for o in b.ops) for b in m.blocks)

    assert total(traced) == pytest.approx(total(analytic))
    assert total(analytic) > 0


def test_spatial_split_pays_halo_exchange_and_cuts_memory():
    model = build("resnet50")
    system = load_system("h100-dgx")
    base = estimate(model, system, Strategy(dp=8, micro_batch=32, global_batch=256))
    split = estimate(model, system, Strategy(dp=2, cp=4, micro_batch=32, global_batch=64))
    assert base.breakdown["comm_cp"] == 0.0
    assert split.breakdown["comm_cp"] > 0.0
    # same micro-batch: each rank keeps a quarter of every feature map
    assert split.memory.components["activations"] == pytest.approx(base.memory.components["activations"] / 4)


def test_sram_operands_beyond_capacity_stream_from_pool():
    tile = load_system("dojo-tile")
    chip = tile.chip
    dev = make_device(chip, "bf16", chip.sram_bandwidth, spill_bandwidth=180e9)
    fits = dev.fast_bytes * 0.5
    t, streamed = memory_time(fits, dev)
    assert streamed == 0.0 and t == pytest.approx(fits / (chip.sram_bandwidth * A.memory_efficiency))
    t2, streamed2 = memory_time(dev.fast_bytes * 4, dev)
    assert streamed2 > 0 and t2 > 4 * t
    # chips with HBM never stream operands from an outer pool
    h100 = load_system("h100-dgx").chip
    gpu = make_device(h100, "bf16", h100.dram_bandwidth, spill_bandwidth=180e9)
    assert memory_time(1e12, gpu)[1] == 0.0


def test_fsd_clip_split_across_a_tile_beats_one_clip_per_d1():
    # One 8-camera clip per D1 leaves GBs of feature maps outside SRAM; splitting each clip's
    # rows over 5 D1s keeps more of them on chip.
    model = build("fsd")
    tile = load_system("dojo-tile")
    per_chip = estimate(model, tile, Strategy(dp=25, micro_batch=1, global_batch=25, recompute="full"))
    spatial = estimate(model, tile, Strategy(dp=5, cp=5, micro_batch=1, global_batch=25, recompute="full"))
    assert spatial.samples_per_s > per_chip.samples_per_s


def test_cp_is_capped_by_what_every_block_can_spread_over():
    # Each block takes rows, columns or output channels: resnet50's 7x7 last maps no longer cap
    # the split at 7 (their 512+ channels go further); layer1's 56x56 maps of 64 channels do.
    model = build("resnet50")
    assert model.spatial_rows == 64
    system = load_system("h100-dgx", devices=128)
    with pytest.raises(StrategyError) as info:
        estimate(model, system, Strategy(dp=1, cp=128, micro_batch=8, global_batch=8))
    assert info.value.path == "strategy.cp"
    est = estimate(model, load_system("h100-dgx", devices=16), Strategy(dp=1, cp=16, micro_batch=8, global_batch=8))
    parts = {name: part for name, part, _stage in est.extra["partitions"]}
    assert parts["layer4.1-2"] == "channels"     # 7 rows cannot take 16 ranks
    assert set(parts.values()) <= {"rows", "columns", "channels", "tokens"}


def test_occupancy_spreads_a_clip_over_more_than_9_d1s_when_faster():
    # The 3-D video block (8 x 50 x 50 voxels) is cut along rows, columns or channels, not only
    # its 8 depth slices; the clip then spreads over all 25 D1s of a tile.
    model = build("occupancy")
    tile = load_system("dojo-tile")
    assert model.spatial_rows > 9
    run = lambda dp, cp: estimate(model, tile, Strategy(dp=dp, cp=cp, micro_batch=1, global_batch=25,  # noqa: E731
                                                        recompute="full"))
    five, all25 = run(5, 5), run(1, 25)
    busy = lambda e: e.step_time_s - e.breakdown["input"]  # noqa: E731
    assert busy(all25) < busy(five)
    assert {n: p for n, p, _ in all25.extra["partitions"]}["video"] in ("rows", "columns", "channels")


def test_d1_operand_streaming_is_reported_as_memory_stream():
    model = build("fsd")
    tile = load_system("dojo-tile")
    est = estimate(model, tile, Strategy(dp=25, micro_batch=1, global_batch=25, recompute="full"))
    assert est.breakdown["memory_stream"] > est.breakdown["compute"] > 0
    assert sum(est.breakdown.values()) == pytest.approx(est.step_time_s)
    gpu = estimate(model, load_system("h100-dgx"), Strategy(dp=8, micro_batch=1, global_batch=8, recompute="full"))
    assert gpu.breakdown["memory_stream"] == 0.0


def _dojo_scaled(system, pool_bw=1.0, sram=1.0, links=1.0):
    chip = system.chip.model_copy(update={"sram_bytes": system.chip.sram_bytes * sram})
    levels = [lv.model_copy(update={
        "link_bandwidth": lv.link_bandwidth * links,
        "memory_pools": [p.model_copy(update={"bandwidth": p.bandwidth * pool_bw,
                                              "link_bandwidth": p.link_bandwidth * pool_bw})
                         for p in lv.memory_pools],
    }) for lv in system.levels]
    return system.model_copy(update={"chip": chip, "levels": levels})


_TILE = load_system("dojo-tile")
_FSD_MINI = build("fsd", frames=1)   # one frame: quick, and 15 row blocks so cp=5 is valid


@settings(max_examples=25)
@given(st.sampled_from([(25, 1), (5, 5), (1, 25)]), st.sampled_from([1, 2, 4]),
       st.sampled_from(["none", "full"]), st.floats(1.0, 8.0), st.floats(1.0, 4.0), st.floats(1.0, 8.0))
def test_more_dojo_memory_or_bandwidth_never_slows_a_step(split, mb, rc, pool_bw, sram, links):
    dp, cp = split
    if cp > _FSD_MINI.spatial_rows:
        return
    s = Strategy(dp=dp, cp=cp, micro_batch=mb, global_batch=dp * mb * 2, recompute=rc)
    base = estimate(_FSD_MINI, _TILE, s)
    better = estimate(_FSD_MINI, _dojo_scaled(_TILE, pool_bw, sram, links), s)
    assert better.step_time_s <= base.step_time_s * (1 + 1e-9)
    assert sum(better.breakdown.values()) == pytest.approx(better.step_time_s)


def test_whole_images_go_to_ranks_before_rows_are_cut():
    # The FSD backbone's convolutions run on the clip's 64 images: up to 64 ranks take whole
    # images and swap no halo; beyond that, each rank holds rows of one image.
    op = next(op for b in build("fsd").blocks if b.name.startswith("backbone") for op in b.ops if op.halo > 0)
    assert op.images == 64
    assert op.halo_per_rank(1) == 0.0 and op.halo_per_rank(64) == 0.0
    assert op.halo_per_rank(128) == pytest.approx(op.halo / 64)
    # a CNN of single images cuts rows from the first extra rank on
    res = next(op for b in build("resnet50").blocks for op in b.ops if op.halo > 0)
    assert res.images == 1 and res.halo_per_rank(2) == res.halo
