"""Impossible splits are StrategyErrors that name the field."""
import pytest

from dojosim.errors import SpecError, StrategyError
from dojosim.strategy import Strategy, check

GPT = dict(layers=96, heads=96, kv_heads=96, seq_len=2048)


def test_valid_megatron_split_passes():
    s = Strategy(dp=16, tp=8, pp=8, micro_batch=1, global_batch=1536, interleave=1)
    check(s, devices=1024, **GPT)
    assert s.micro_batches == 96


@pytest.mark.parametrize(
    "fields, devices, field",
    [
        (dict(dp=16, tp=8, pp=8), 1000, "strategy.dp"),                      # degrees != devices
        (dict(dp=1, tp=5, pp=1), 5, "strategy.tp"),                           # 5 does not divide 96 heads
        (dict(dp=1, tp=1, pp=7, interleave=2), 7, "strategy.interleave"),     # 7*2 does not divide 96 layers
        (dict(dp=1, pp=3, pp_layers=(30, 30, 30)), 3, "strategy.pp_layers"),  # 90 of 96 layers
        (dict(dp=1, pp=3, pp_layers=(48, 48)), 3, "strategy.pp_layers"),      # 2 stages listed for pp 3
        (dict(dp=1, pp=3, pp_layers=(0, 48, 48)), 3, "strategy.pp_layers"),   # an empty stage
        (dict(dp=1, pp=4, pp_first_layers=95), 4, "strategy.pp_first_layers"),  # 1 layer for 3 stages
        (dict(dp=1, pp=1, pp_last_layers=4), 1, "strategy.pp_last_layers"),   # needs pp >= 2
        (dict(dp=1, pp=4, interleave=2, pp_first_layers=12), 4, "strategy.interleave"),
        (dict(dp=1, pp=4, pp_layers=(24,) * 4, pp_last_layers=24), 4, "strategy.pp_layers"),
        (dict(dp=1, tp=1, pp=128), 128, "strategy.pp"),                       # more stages than layers
        (dict(dp=1, tp=1, pp=8, interleave=5), 8, "strategy.interleave"),     # 8*5 does not divide 96
        (dict(dp=1, tp=1, pp=1, interleave=2), 1, "strategy.interleave"),     # interleave without pp
        (dict(dp=5, global_batch=1536, micro_batch=1), 5, "strategy.global_batch"),
        (dict(dp=2, global_batch=1536, micro_batch=5), 2, "strategy.micro_batch"),
        (dict(dp=1, sequence_parallel=True), 1, "strategy.sequence_parallel"),
        (dict(dp=2, ep=2), 2, "strategy.ep"),                                 # no experts in GPT
    ],
)
def test_impossible_splits_name_the_field(fields, devices, field):
    s = Strategy(**{"global_batch": 1536, **fields})
    with pytest.raises(StrategyError) as info:
        check(s, devices=devices, **GPT)
    assert info.value.path == field
    assert "\n" not in str(info.value)


def test_unknown_strategy_key_is_a_spec_error():
    with pytest.raises(SpecError) as info:
        Strategy.from_dict({"dp": 2, "tpp": 4})
    assert info.value.path == "strategy.tpp"
    assert "unknown key" in str(info.value)


def test_negative_degree_is_a_spec_error():
    with pytest.raises(SpecError) as info:
        Strategy.from_dict({"dp": 0})
    assert info.value.path == "strategy.dp"


def test_uneven_stages_balanced_given_and_megatron_style():
    from dojosim.strategy import balanced_stages, stage_layers

    # pp does not divide the layers: floor/ceil per stage, the extra layers on the middle stages
    assert balanced_stages(70, 12) == (5,) + (6,) * 10 + (5,)
    assert balanced_stages(126, 16) == (7,) + (8,) * 14 + (7,)
    assert balanced_stages(10, 3) == (3, 4, 3)
    assert balanced_stages(11, 3) == (4, 4, 3)
    for layers in range(1, 60):
        for pp in range(1, layers + 1):
            split = balanced_stages(layers, pp)
            assert sum(split) == layers and max(split) - min(split) <= 1 and len(split) == pp
    s = Strategy(pp=16, dp=1, pp_first_layers=6, pp_last_layers=8)
    check(s, devices=16, **{**GPT, "layers": 126})
    assert stage_layers(s, 126) == (6,) + (8,) * 14 + (8,)
    s = Strategy(pp=4, dp=1, pp_last_layers=3)
    assert stage_layers(s, 96) == (31, 31, 31, 3)
    s = Strategy(pp=3, dp=1, pp_layers=(30, 33, 33))
    check(s, devices=3, **GPT)
    assert stage_layers(s, 96) == (30, 33, 33)
    # only pp given and dividing: even
    assert stage_layers(Strategy(pp=8), 96) == (12,) * 8
    # pp not dividing the layers is now valid (balanced)
    check(Strategy(dp=1, pp=7, global_batch=8), devices=7, **GPT)
