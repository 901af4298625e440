"""Analytic builders of convolutional networks: ResNet (v1.5) and RegNetY.

Every bottleneck is one pipeline-splittable layer block; the identical blocks of a stage are
stored once with a count. Conventions per op (per image): convolutions save their input, batch
norms their input, ReLUs their output; residual adds save nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...errors import SpecError
from ..graph import Block, Model, Op
from .. import ops

IMAGE_BYTES_PER_PIXEL = 3  # uint8 RGB delivered by the data loader


def _elements(c: int, hw: tuple[int, ...]) -> int:
    return c * math.prod(hw)


@dataclass
class Trunk:
    """Running shape of a conv net while its ops are listed (channels and spatial size)."""

    c: int
    hw: tuple[int, ...]
    ops: list[Op] = field(default_factory=list)

    def conv(self, name: str, c_out: int, k: int, stride: int = 1, *, groups: int = 1, bias: bool = False,
             padding: int | None = None) -> "Trunk":
        op, self.hw = ops.conv(name, self.c, c_out, k, stride, self.hw, groups=groups, bias=bias, padding=padding)
        self.ops.append(op)
        self.c = c_out
        return self

    def bn(self, name: str) -> "Trunk":
        self.ops.append(ops.norm(name, _elements(self.c, self.hw), self.c))
        return self

    def act(self, name: str, *, saved: bool = True) -> "Trunk":
        n = _elements(self.c, self.hw)
        self.ops.append(ops.elementwise(name, n, saved=n if saved else 0.0))
        return self

    def cbr(self, name: str, c_out: int, k: int, stride: int = 1, *, groups: int = 1, relu: bool = True) -> "Trunk":
        self.conv(f"{name}.conv", c_out, k, stride, groups=groups).bn(f"{name}.bn")
        if relu:
            self.act(f"{name}.relu")
        return self

    def add(self, name: str) -> "Trunk":
        self.ops.append(ops.elementwise(name, _elements(self.c, self.hw), inputs=2))
        return self

    def maxpool(self, name: str, k: int, stride: int, padding: int) -> "Trunk":
        self.hw = tuple(ops.conv_out(s, k, stride, padding) for s in self.hw)
        n = _elements(self.c, self.hw)
        self.ops.append(Op(name=name, kind="pool", flops=float(n * k ** len(self.hw)), reads=n * stride ** 2,
                           writes=n, saved=n))
        return self

    def global_pool(self, name: str) -> "Trunk":
        n = _elements(self.c, self.hw)
        self.ops.append(Op(name=name, kind="pool", flops=float(n), reads=n, writes=self.c))
        self.hw = (1,) * len(self.hw)
        return self


def _classifier(t: Trunk, classes: int) -> list[Op]:
    t.global_pool("head.pool")
    t.ops.append(ops.linear("head.fc", 1, t.c, classes, bias=True))
    return t.ops


def _stage_blocks(stage: str, block_fn, c_in: int, hw: tuple[int, ...], depth: int, first_stride: int):
    """The first block of a stage (downsampling) and the rest (identical, stored with a count)."""
    first = block_fn(f"{stage}.0", Trunk(c_in, hw), first_stride)
    blocks = [Block(f"{stage}.0", tuple(first.ops), layer=True)]
    if depth > 1:
        rest = block_fn(f"{stage}.n", Trunk(first.c, first.hw), 1)
        label = f"{stage}.1" if depth == 2 else f"{stage}.1-{depth - 1}"
        blocks.append(Block(label, tuple(rest.ops), count=depth - 1, layer=True))
    return blocks, first.c, first.hw


RESNET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def resnet_bottleneck(width: int, expansion: int = 4):
    def block(name: str, t: Trunk, stride: int) -> Trunk:
        c_in, hw_in = t.c, t.hw
        out = width * expansion
        t.cbr(f"{name}.1", width, 1).cbr(f"{name}.2", width, 3, stride).cbr(f"{name}.3", out, 1, relu=False)
        if stride != 1 or c_in != out:
            d = Trunk(c_in, hw_in).cbr(f"{name}.down", out, 1, stride, relu=False)
            t.ops.extend(d.ops)
        return t.add(f"{name}.add").act(f"{name}.relu")
    return block


def build_resnet(cfg: dict, name: str) -> Model:
    depth = cfg["depth"]
    if depth not in RESNET_DEPTHS:
        raise SpecError("depth", f"ResNet depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}")
    size, w = cfg["image_size"], cfg["width"]
    stem = Trunk(3, (size, size)).cbr("stem", w, 7, 2).maxpool("stem.pool", 3, 2, 1)
    blocks = [Block("stem", tuple(stem.ops))]
    c, hw = stem.c, stem.hw
    for i, n in enumerate(RESNET_DEPTHS[depth]):
        stage, c, hw = _stage_blocks(f"layer{i + 1}", resnet_bottleneck(w * 2 ** i), c, hw, n, 1 if i == 0 else 2)
        blocks += stage
    blocks.append(Block("head", tuple(_classifier(Trunk(c, hw), cfg["classes"]))))
    return _image_model(name, "cnn", blocks, size, cfg)


def _image_model(name: str, family: str, blocks: list[Block], size: int, cfg: dict) -> Model:
    return Model(
        name=name, blocks=tuple(blocks), family=family,
        layers=sum(b.count for b in blocks if b.layer),
        input_bytes_per_sample=float(IMAGE_BYTES_PER_PIXEL * size * size), sample_unit="image", config=dict(cfg),
    )


# --- RegNetY (Radosavovic et al. 2020), widths generated as in pycls / torchvision -----------

def _make_divisible(v: float, divisor: int) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def regnet_stages(w0: int, wa: float, wm: float, depth: int, group_width: int) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage from RegNet's quantized linear rule."""
    if w0 < 8 or wa <= 0 or wm <= 1 or depth < 1:
        raise SpecError("w0", "RegNet needs w0 >= 8, wa > 0, wm > 1, depth >= 1")
    cont = [i * wa + w0 for i in range(depth)]
    caps = [round(math.log(c / w0) / math.log(wm)) for c in cont]
    widths = [int(round(w0 * wm ** k / 8) * 8) for k in caps]
    stages: list[list[int]] = []
    for w in widths:
        if stages and stages[-1][0] == w:
            stages[-1][1] += 1
        else:
            stages.append([w, 1])
    out = []
    for w, d in stages:
        g = min(group_width, w)
        out.append((_make_divisible(w, g), d, g))
    return out


def regnet_y_block(width: int, group_width: int, se_ratio: float):
    def block(name: str, t: Trunk, stride: int) -> Trunk:
        c_in, hw_in = t.c, t.hw
        t.cbr(f"{name}.a", width, 1).cbr(f"{name}.b", width, 3, stride, groups=width // group_width)
        if se_ratio > 0:
            se = int(round(se_ratio * c_in))
            n = _elements(width, t.hw)
            t.ops.append(Op(name=f"{name}.se.pool", kind="pool", flops=float(n), reads=n, writes=width))
            t.ops.append(ops.conv(f"{name}.se.fc1", width, se, 1, 1, (1, 1), bias=True)[0])
            t.ops.append(ops.elementwise(f"{name}.se.relu", se, saved=se))
            t.ops.append(ops.conv(f"{name}.se.fc2", se, width, 1, 1, (1, 1), bias=True)[0])
            t.ops.append(ops.elementwise(f"{name}.se.sigmoid", width, saved=width))
            t.ops.append(ops.elementwise(f"{name}.se.scale", n, inputs=2, saved=n))
        t.cbr(f"{name}.c", width, 1, relu=False)
        if stride != 1 or c_in != width:
            t.ops.extend(Trunk(c_in, hw_in).cbr(f"{name}.proj", width, 1, stride, relu=False).ops)
        return t.add(f"{name}.add").act(f"{name}.relu")
    return block


def regnet_trunk(cfg: dict, t: Trunk, prefix: str = "") -> tuple[list[Block], list[tuple[int, tuple]]]:
    """Stem + RegNetY stages; returns the blocks and (channels, spatial) after every stage."""
    t.cbr(f"{prefix}stem", cfg["stem_width"], 3, 2)
    blocks = [Block(f"{prefix}stem", tuple(t.ops))]
    c, hw, feats = t.c, t.hw, []
    for i, (w, d, g) in enumerate(regnet_stages(cfg["w0"], cfg["wa"], cfg["wm"], cfg["depth"], cfg["group_width"])):
        stage, c, hw = _stage_blocks(f"{prefix}s{i + 1}", regnet_y_block(w, g, cfg["se_ratio"]), c, hw, d, 2)
        blocks += stage
        feats.append((c, hw))
    return blocks, feats


def build_regnet(cfg: dict, name: str) -> Model:
    size = cfg["image_size"]
    blocks, feats = regnet_trunk(cfg, Trunk(3, (size, size)))
    c, hw = feats[-1]
    blocks.append(Block("head", tuple(_classifier(Trunk(c, hw), cfg["classes"]))))
    return _image_model(name, "cnn", blocks, size, cfg)


RESNET_DEFAULTS = {"depth": 50, "image_size": 224, "width": 64, "classes": 1000}
# RegNetY-1.6GF (Radosavovic et al. 2020, Table / torchvision regnet_y_1_6gf)
REGNET_DEFAULTS = {"w0": 48, "wa": 20.71, "wm": 2.65, "depth": 27, "group_width": 24, "se_ratio": 0.25,
                   "stem_width": 32, "image_size": 224, "classes": 1000}


def register(family, preset) -> None:
    family("resnet", "cnn", "ResNet v1.5 (torchvision): bottlenecks, stride in the 3x3", RESNET_DEFAULTS,
           build_resnet, "nn_cnn:resnet", {"layers": "depth", "image_size": "image_size"})
    family("regnet", "cnn", "RegNetY: grouped 3x3 bottlenecks with squeeze-excitation", REGNET_DEFAULTS,
           build_regnet, "nn_cnn:regnet", {"layers": "depth", "image_size": "image_size"})
    preset("resnet50", "resnet", {}, "ResNet-50 v1.5", "He et al. 2016; torchvision resnet50 (25,557,032 params)")
    preset("regnety-400mf", "regnet", {"w0": 48, "wa": 27.89, "wm": 2.09, "depth": 16, "group_width": 8},
           "RegNetY-400MF", "Radosavovic et al. 2020; torchvision regnet_y_400mf (4,344,144 params)")
    preset("regnety-1.6gf", "regnet", {}, "RegNetY-1.6GF",
           "Radosavovic et al. 2020; torchvision regnet_y_1_6gf (11,202,430 params)")
