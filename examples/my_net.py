"""A small network of your own, for the tracer: `build()` returns the nn.Module.

    dojosim models trace examples/my_net.py:build --input 32,3,224,224
    dojosim estimate --model-file examples/my_net.py:build --input 32,3,224,224 --system h100-dgx --global-batch 256
    dojosim search --model-file examples/my_net.py:build --input 32,3,224,224 --system dojo-tile --global-batch 250

The tracer runs the module on meta tensors (no memory, no compute): any nn.Module works.
"""
import torch
from torch import nn


def block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MyNet(nn.Module):
    """A plain four-stage CNN classifier (about 5 M parameters at 224x224)."""

    def __init__(self, classes: int = 1000, width: int = 64):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(block(w, w, 2), block(w, 2 * w, 2), block(2 * w, 4 * w, 2), block(4 * w, 8 * w, 2))
        self.head = nn.Linear(8 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build() -> nn.Module:
    return MyNet()
