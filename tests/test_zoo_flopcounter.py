"""An independent check: PyTorch's own FlopCounterMode (torch.utils.flop_counter) counts the
same GEMM, convolution and attention FLOPs as the analytic graphs of the zoo."""
import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from dojosim.workload import build, torch_module  # noqa: E402
from dojosim.workload.zoo import example_inputs_on  # noqa: E402

CASES = [
    ("resnet50", dict(image_size=64)),
    ("regnet", dict(image_size=64, w0=16, wa=8.0, wm=2.0, depth=6, group_width=8, stem_width=16)),
    ("gpt", dict(layers=2, hidden=128, heads=4, seq_len=64, vocab=512)),
    ("llama", dict(layers=2, hidden=128, heads=4, kv_heads=2, ffn=256, seq_len=64, vocab=512)),
    ("moe", dict(layers=2, hidden=128, heads=4, kv_heads=2, ffn=256, experts=4, top_k=2, seq_len=64, vocab=512)),
    ("vit", dict(layers=2, hidden=64, heads=4, ffn=128, image_size=32, patch=8, classes=10)),
    ("fsd-mini", {}),
    ("occupancy-mini", {}),
]


@pytest.mark.parametrize("name, overrides", CASES, ids=[c[0] for c in CASES])
def test_gemm_flops_match_torch_flop_counter(name, overrides):
    batch = 2
    with torch.device("meta"):
        module = torch_module(name, **overrides)
    counter = FlopCounterMode(display=False)
    with counter:
        module(*example_inputs_on(name, batch, "meta", **overrides))
    analytic = build(name, **overrides)
    gemm = sum(b.count * op.flops for b, op in analytic.iter_ops() if op.kind in ("matmul", "conv", "attention"))
    assert counter.get_total_flops() / batch == pytest.approx(gemm, rel=1e-9)
