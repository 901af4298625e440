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
        (dict(dp=1, tp=1, pp=7), 7, "strategy.pp"),                           # 7 does not divide 96 layers
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
