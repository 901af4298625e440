"""Every zoo module is a real, trainable torch module: a CPU forward + backward at a tiny size
gives a finite loss and a gradient for every parameter."""
import pytest

torch = pytest.importorskip("torch")

from dojosim.workload import example_inputs, torch_module  # noqa: E402

TINY = [
    ("gpt", dict(layers=2, hidden=32, heads=2, seq_len=16, vocab=64)),
    ("llama", dict(layers=2, hidden=32, heads=4, kv_heads=2, ffn=48, seq_len=16, vocab=64)),
    ("moe", dict(layers=1, hidden=32, heads=2, kv_heads=1, ffn=48, seq_len=16, vocab=64, experts=4, top_k=2)),
    ("resnet50", dict(image_size=32, width=8, classes=5)),
    ("regnet", dict(image_size=32, w0=8, wa=8.0, wm=2.0, depth=3, group_width=8, stem_width=8, classes=5)),
    ("vit", dict(layers=1, hidden=32, heads=2, ffn=64, image_size=16, patch=8, classes=5)),
    ("fsd-mini", {}),
    ("occupancy-mini", {}),
]


def _loss(out):
    if isinstance(out, dict):
        return sum(o.float().pow(2).mean() for o in out.values())
    return out.float().pow(2).mean() if out.dim() else out


@pytest.mark.parametrize("name, overrides", TINY, ids=[t[0] for t in TINY])
def test_trains_a_step_on_cpu(name, overrides):
    torch.manual_seed(0)
    module = torch_module(name, **overrides)
    loss = _loss(module(*example_inputs(name, 4, **overrides)))
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    # MoE: an expert-choice router may leave nothing to an expert only at degenerate sizes
    assert not missing, missing


def test_fsd_mini_outputs_and_loss():
    module = torch_module("fsd-mini")
    (clips,) = example_inputs("fsd-mini", batch=8)
    assert tuple(clips.shape) == (8, 2, 2, 3, 64, 96)
    out = module(clips)
    assert set(out) == {"objects", "lanes", "road_edges", "traffic_controls", "static_objects"}
    assert all(o.shape[0] == 8 and o.shape[-2:] == (8, 8) for o in out.values())
    module.loss(out).backward()
