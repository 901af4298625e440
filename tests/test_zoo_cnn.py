"""Analytic CNN builders against published parameter and MAC counts."""
import pytest

from dojosim.errors import SpecError
from dojosim.workload import build, from_run


def _gemm_macs(m):
    return sum(b.count * op.flops for b, op in m.iter_ops() if op.kind in ("conv", "matmul")) / 2


def test_resnet50_published_counts():
    m = build("resnet50")
    assert m.params == 25_557_032                       # torchvision resnet50
    assert _gemm_macs(m) == pytest.approx(4.1e9, rel=0.01)   # ~4.1 GMACs at 224^2
    assert m.flops_fwd_per_sample == pytest.approx(8.2e9, rel=0.02)
    assert m.sample_unit == "image" and m.input_bytes_per_sample == 3 * 224 * 224
    assert m.layers == 16  # bottlenecks: the pipeline-splittable units


@pytest.mark.parametrize("name, params, gmacs", [
    ("regnety-400mf", 4_344_144, 0.40),   # torchvision regnet_y_400mf
    ("regnety-1.6gf", 11_202_430, 1.61),  # torchvision regnet_y_1_6gf
])
def test_regnety_published_counts(name, params, gmacs):
    m = build(name)
    assert m.params == params
    assert _gemm_macs(m) / 1e9 == pytest.approx(gmacs, rel=0.03)


def test_resnet_scales_with_image_and_depth():
    a, b = build("resnet50"), build("resnet50", image_size=448)
    assert b.params == a.params
    assert _gemm_macs(b) == pytest.approx(4 * (_gemm_macs(a) - 2048 * 1000) + 2048 * 1000, rel=0.01)
    assert build("resnet", depth=101).params == pytest.approx(44.55e6, rel=0.001)


def test_from_run_resnet50_case():
    m = from_run({"model": "resnet50", "layers": 50, "hidden": None, "image_size": 224})
    assert m.params == 25_557_032


def test_bad_depth_names_field():
    with pytest.raises(SpecError) as err:
        from_run({"model": "resnet50", "layers": 34})
    assert err.value.path == "workload.layers"


def test_vit_b16_published_counts():
    m = build("vit-b16")
    assert m.params == 86_567_656                      # timm vit_base_patch16_224
    assert _gemm_macs(m) + sum(b.count * op.flops for b, op in m.iter_ops() if op.kind == "attention") / 2 \
        == pytest.approx(17.6e9, rel=0.01)             # ~17.6 GMACs (Dosovitskiy et al.)
    assert m.seq_len == 197 and m.sample_unit == "image"


def test_presets_only_set_their_family_keys():
    from dojosim.workload.zoo import FAMILIES, PRESETS
    for p in PRESETS.values():
        assert set(p.overrides) <= set(FAMILIES[p.family].defaults), p.name
