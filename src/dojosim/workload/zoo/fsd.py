"""The camera-only FSD network and the occupancy network, analytically.

One sample is one CLIP: ``frames`` timesteps x ``cameras`` images of ``image_height`` x
``image_width`` (docs/sources.md, The FSD network). The network, in order:

1. per image, a RegNetY backbone (stem + stages of grouped-conv bottlenecks with SE);
2. a BiFPN over the last ``fpn_levels`` stages (lateral 1x1 convs, then ``bifpn_repeats``
   top-down + bottom-up passes of depthwise-separable convs, sum fusion);
3. per frame, a transformer that lifts the 8 cameras into one top-down grid: learned queries
   (one per BEV cell, or per voxel for occupancy) cross-attend to all cameras' features of
   BiFPN level ``bev_level`` (+ a learned per-camera positional embedding);
4. a video module: a convolutional GRU that fuses the ``frames`` grids over time;
5. heads on the fused grid: HydraNet task heads (fsd) or a 3-D deconvolution decoder that
   predicts occupancy and occupancy flow (occupancy).

Everything before the video module runs ``cameras * frames`` (backbone) or ``frames``
(lifting) times per sample; those ops are stored once and scaled.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ...errors import SpecError
from ..graph import Block, Model, Op
from .. import ops
from .cnn import Trunk, _stage_blocks, regnet_y_block

TASK_NAMES = ("objects", "lanes", "road_edges", "traffic_controls", "static_objects", "moving_objects")


def task_names(n: int) -> list[str]:
    return [TASK_NAMES[i] if i < len(TASK_NAMES) else f"task{i}" for i in range(n)]


def backbone_stages(cfg: dict) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per backbone stage, checked."""
    ws, ds = cfg["widths"], cfg["depths"]
    if len(ws) != len(ds):
        raise SpecError("depths", f"{len(ds)} depths for {len(ws)} widths")
    out = []
    for w in ws:
        g = min(cfg["group_width"], w)
        if w % g:
            raise SpecError("widths", f"width {w} is not a multiple of group_width {g}")
        out.append(g)
    if not 1 <= cfg["fpn_levels"] <= len(ws):
        raise SpecError("fpn_levels", f"must be between 1 and the number of stages ({len(ws)})")
    if not 0 <= cfg["bev_level"] < cfg["fpn_levels"]:
        raise SpecError("bev_level", f"must index one of the {cfg['fpn_levels']} BiFPN levels")
    if cfg["d_model"] % cfg["heads"]:
        raise SpecError("d_model", f"d_model {cfg['d_model']} is not divisible by heads {cfg['heads']}")
    return [(w, d, g) for w, d, g in zip(ws, ds, out)]


def _scaled(block: Block, n: int) -> Block:
    """The per-image ``block`` over the ``n`` images of a clip (independent images: a spatial
    split can hand them to different ranks without exchanging halos)."""
    return Block(block.name, tuple(replace(op.scaled(n), images=op.images * n) for op in block.ops),
                 block.count, block.layer)


def _dw_block(t: Trunk, name: str) -> None:
    """BiFPN conv: depthwise 3x3 + pointwise 1x1 + BN + ReLU."""
    t.conv(f"{name}.dw", t.c, 3, groups=t.c).conv(f"{name}.pw", t.c, 1).bn(f"{name}.bn").act(f"{name}.relu")


def _bifpn_layer(c: int, sizes: list[tuple[int, int]], top: int) -> list[Op]:
    """One top-down + bottom-up BiFPN pass over levels of spatial ``sizes`` (fine to coarse);
    the bottom-up path stops at level ``top`` (the last pass computes only what is used)."""
    out: list[Op] = []
    levels = len(sizes)
    for i in range(levels - 2, -1, -1):  # top-down
        n = c * math.prod(sizes[i])
        out.append(Op(name=f"td{i}.upsample", kind="pool", flops=ops.ELEMENTWISE_FLOPS * n,
                      reads=c * math.prod(sizes[i + 1]), writes=n))
        out.append(ops.elementwise(f"td{i}.fuse", n, inputs=2))
        t = Trunk(c, sizes[i])
        _dw_block(t, f"td{i}")
        out += t.ops
    for i in range(1, top + 1):  # bottom-up
        n = c * math.prod(sizes[i])
        out.append(Op(name=f"bu{i}.downsample", kind="pool", flops=float(n * 9), reads=c * math.prod(sizes[i - 1]),
                      writes=n, saved=n))
        for j in range(1 if i == levels - 1 else 2):
            out.append(ops.elementwise(f"bu{i}.fuse{j}", n, inputs=2))
        t = Trunk(c, sizes[i])
        _dw_block(t, f"bu{i}")
        out += t.ops
    return out


def trunk_blocks(cfg: dict) -> tuple[list[Block], list[tuple[int, int]]]:
    """Backbone + BiFPN for all cameras and frames of one clip; returns blocks and level sizes."""
    images = cfg["cameras"] * cfg["frames"]
    t = Trunk(cfg["in_channels"], (cfg["image_height"], cfg["image_width"]))
    t.cbr("backbone.stem", cfg["stem_width"], 3, 2)
    blocks = [Block("backbone.stem", tuple(t.ops))]
    c, hw, feats = t.c, t.hw, []
    for i, (w, d, g) in enumerate(backbone_stages(cfg)):
        stage, c, hw = _stage_blocks(f"backbone.s{i + 1}", regnet_y_block(w, g, cfg["se_ratio"]), c, hw, d, 2)
        blocks += stage
        feats.append((c, hw))
    feats = feats[-cfg["fpn_levels"]:]
    fc = cfg["bifpn_channels"]
    lateral: list[Op] = []
    for i, (ci, hwi) in enumerate(feats):
        lateral += Trunk(ci, hwi).conv(f"bifpn.lateral{i}.conv", fc, 1).bn(f"bifpn.lateral{i}.bn").ops
    blocks.append(Block("bifpn.lateral", tuple(lateral)))
    sizes = [hw for _, hw in feats]
    n = cfg["bifpn_repeats"]
    if n > 1:
        blocks.append(Block("bifpn.layers", tuple(_bifpn_layer(fc, sizes, len(sizes) - 1)), count=n - 1, layer=True))
    if n > 0:  # the last pass stops at the level the lifting reads
        blocks.append(Block("bifpn.last", tuple(_bifpn_layer(fc, sizes, cfg["bev_level"])), layer=True))
    return [_scaled(b, images) for b in blocks], sizes


def lifting_blocks(cfg: dict, sizes: list[tuple[int, int]], queries: int) -> list[Block]:
    """Learned grid queries cross-attend to every camera's features, once per frame."""
    T, cams, fc = cfg["frames"], cfg["cameras"], cfg["bifpn_channels"]
    d, a, ffn = cfg["d_model"], cfg["heads"], cfg["ffn"]
    keys = cams * math.prod(sizes[cfg["bev_level"]])
    rq, rk = T * queries, T * keys
    prep = (
        Op(name="lift.keys.flatten", kind="other", flops=0.0, reads=rk * fc, writes=rk * fc),
        ops.elementwise("lift.keys.camera_pos", rk * fc, inputs=2, params=keys * fc),
        Op(name="lift.queries", kind="other", flops=0.0, reads=queries * d, writes=rq * d, params=queries * d),
    )
    layer = (
        ops.norm("ln1", rq * d, d),
        ops.linear("attn.q", rq, d, d, tp="column"),
        ops.linear("attn.kv", rk, fc, 2 * d, tp="column"),
        ops.attention("attn.core", queries, keys, a, d // a).scaled(T),
        ops.linear("attn.proj", rq, d, d, tp="row", saved=0.0),
        ops.elementwise("attn.residual", rq * d, inputs=2),
        ops.norm("ln2", rq * d, d),
        ops.linear("mlp.fc1", rq, d, ffn, tp="column"),
        ops.elementwise("mlp.gelu", rq * ffn, saved=rq * ffn, tp="split"),
        ops.linear("mlp.fc2", rq, ffn, d, tp="row"),
        ops.elementwise("mlp.residual", rq * d, inputs=2),
    )
    return [Block("lift.inputs", prep), Block("lift.layers", layer, count=cfg["lift_layers"], layer=True)]


def video_block(cfg: dict, grid: tuple[int, ...]) -> list[Block]:
    """A convolutional GRU over the grid; it steps frames - 1 times (the first frame seeds it)."""
    d, n = cfg["d_model"], math.prod(grid)
    if cfg["frames"] < 2:
        return []
    gates, _ = ops.conv("video.gates", 2 * d, 2 * d, 3, 1, grid, bias=True)
    cand, _ = ops.conv("video.candidate", 2 * d, d, 3, 1, grid, bias=True)
    step = (
        Op(name="video.cat_xh", kind="other", flops=0.0, reads=2 * d * n, writes=2 * d * n),
        gates,
        ops.elementwise("video.sigmoid", 2 * d * n, saved=2 * d * n),
        ops.elementwise("video.reset", d * n, inputs=2, saved=2 * d * n),
        Op(name="video.cat_xrh", kind="other", flops=0.0, reads=2 * d * n, writes=2 * d * n),
        cand,
        ops.elementwise("video.tanh", d * n, saved=d * n),
        ops.elementwise("video.update_sub", d * n, inputs=2),
        ops.elementwise("video.update_mul", d * n, inputs=2, saved=2 * d * n),
        ops.elementwise("video.update_add", d * n, inputs=2),
    )
    # the same weights every step: scale the ops rather than repeat the block (params once)
    return [Block("video", tuple(op.scaled(cfg["frames"] - 1) for op in step))]


def bev_heads(cfg: dict) -> Block:
    d, hc, grid = cfg["d_model"], cfg["head_channels"], (cfg["bev_h"], cfg["bev_w"])
    out: list[Op] = []
    for name, c_out in zip(task_names(len(cfg["head_outputs"])), cfg["head_outputs"]):
        t = Trunk(d, grid).conv(f"heads.{name}.conv", hc, 3, bias=True).act(f"heads.{name}.relu")
        t.conv(f"heads.{name}.out", c_out, 1, bias=True)
        out += t.ops
    return Block("heads", tuple(out))


def occupancy_decoder(cfg: dict) -> Block:
    """Deconvolutions up the voxel grid, then occupancy (1) + flow (3) per voxel."""
    c, grid, out = cfg["d_model"], (cfg["occ_z"], cfg["occ_y"], cfg["occ_x"]), []
    for i in range(cfg["occ_upsample"]):
        op, grid = ops.conv_transpose(f"decoder.up{i}", c, c // 2, 2, 2, grid)
        c //= 2
        out += [op, ops.elementwise(f"decoder.relu{i}", c * math.prod(grid), saved=c * math.prod(grid))]
    out.append(ops.conv("decoder.out", c, 4, 1, 1, grid, bias=True)[0])
    return Block("decoder", tuple(out))


def _clip_model(name: str, family: str, blocks: list[Block], cfg: dict) -> Model:
    pixels = cfg["cameras"] * cfg["frames"] * cfg["in_channels"] * cfg["image_height"] * cfg["image_width"]
    return Model(
        name=name, blocks=tuple(blocks), family=family, hidden=cfg["d_model"], heads=cfg["heads"],
        kv_heads=cfg["heads"], layers=sum(b.count for b in blocks if b.layer),
        input_bytes_per_sample=float(pixels * cfg["pixel_bytes"]), sample_unit="clip", config=dict(cfg),
    )


def build_fsd(cfg: dict, name: str) -> Model:
    trunk, sizes = trunk_blocks(cfg)
    grid = (cfg["bev_h"], cfg["bev_w"])
    blocks = trunk + lifting_blocks(cfg, sizes, math.prod(grid)) + video_block(cfg, grid) + [bev_heads(cfg)]
    return _clip_model(name, "fsd", blocks, cfg)


def build_occupancy(cfg: dict, name: str) -> Model:
    if cfg["d_model"] % 2 ** cfg["occ_upsample"]:
        raise SpecError("d_model", f"d_model must halve {cfg['occ_upsample']} times (occ_upsample)")
    trunk, sizes = trunk_blocks(cfg)
    grid = (cfg["occ_z"], cfg["occ_y"], cfg["occ_x"])
    blocks = trunk + lifting_blocks(cfg, sizes, math.prod(grid)) + video_block(cfg, grid) + [occupancy_decoder(cfg)]
    return _clip_model(name, "occupancy", blocks, cfg)


# Defaults: see docs/workloads.md ("The FSD network") for where each size comes from.
TRUNK_DEFAULTS = {
    "cameras": 8, "frames": 8, "image_height": 960, "image_width": 1280, "in_channels": 3, "pixel_bytes": 2,
    "stem_width": 32, "widths": (64, 128, 256, 512, 1024), "depths": (1, 2, 4, 8, 2), "group_width": 32,
    "se_ratio": 0.25, "fpn_levels": 4, "bifpn_channels": 128, "bifpn_repeats": 2, "bev_level": 2,
    "d_model": 256, "heads": 8, "ffn": 1024, "lift_layers": 2,
}
FSD_DEFAULTS = {**TRUNK_DEFAULTS, "bev_h": 100, "bev_w": 100, "head_channels": 128,
                "head_outputs": (12, 8, 4, 8, 6)}
OCC_DEFAULTS = {**TRUNK_DEFAULTS, "d_model": 128, "heads": 4, "ffn": 512,
                "occ_x": 50, "occ_y": 50, "occ_z": 8, "occ_upsample": 2}
FSD_MINI = {"cameras": 2, "frames": 2, "image_height": 64, "image_width": 96, "stem_width": 8,
            "widths": (8, 16, 16, 32, 32), "depths": (1, 1, 1, 1, 1), "group_width": 8, "bifpn_channels": 16,
            "bifpn_repeats": 1, "d_model": 32, "heads": 2, "ffn": 64, "lift_layers": 1, "bev_h": 8, "bev_w": 8,
            "head_channels": 16}


def register(family, preset) -> None:
    # run files name transformer sizes; here they size the lifting transformer
    run_keys = {"hidden": "d_model", "heads": "heads", "ffn": "ffn"}
    family("fsd", "fsd", "Tesla-style multi-camera video network: RegNet + BiFPN per camera, cross-attention "
           "into a BEV grid, conv-GRU video module, HydraNet heads", FSD_DEFAULTS, build_fsd, "nn_fsd:fsd", run_keys)
    family("occupancy", "occupancy", "Occupancy network on the FSD trunk: cross-attention into a voxel grid, "
           "3-D conv-GRU, deconvolution to occupancy + flow", OCC_DEFAULTS, build_occupancy, "nn_fsd:occupancy",
           run_keys)
    preset("fsd-mini", "fsd", FSD_MINI, "FSD network shrunk for CPU experiments (2 cams x 2 frames of 64x96)",
           "dojosim: a small configuration of the fsd family (assumed sizes)")
    mini_trunk = {k: v for k, v in FSD_MINI.items() if k in TRUNK_DEFAULTS}
    preset("occupancy-mini", "occupancy", {**mini_trunk, "occ_x": 8, "occ_y": 8, "occ_z": 4},
           "Occupancy network shrunk for CPU experiments", "dojosim: a small configuration (assumed sizes)")
