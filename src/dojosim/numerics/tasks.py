"""Synthetic, learnable tasks for the precision experiment, generated on the fly from a seed.

* `bev_scenes`: a ring of 4 cameras (yaw 0, 90, 180, 270 degrees, 90 degree horizontal field of
  view each, so together they see all round) looks at upright cylinders ("cars", "poles") standing
  on a flat ground. The target is the bird's-eye-view (BEV) occupancy grid around the ego vehicle
  -- the multi-camera-to-BEV lifting problem of Tesla's FSD network, in miniature. Depth is only
  visible through perspective (where an object's base meets the ground, its apparent height and
  a darkening with distance), so the network has to learn the geometry.
* `shapes`: one shape (disc, square, triangle, cross) of random size, place and colours on a noisy
  background; the target is its class. The task for the ResNet.

Both are pure functions of (batch size, seed): the same seed gives the same batch, so every
precision sees exactly the same data stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SceneSpec:
    """Geometry of the BEV task (metres, radians, pixels)."""

    cameras: int = 4
    height: int = 32  # image rows
    width: int = 64  # image columns
    hfov: float = math.pi / 2
    vfov: float = math.pi / 3
    camera_height: float = 1.5
    grid: int = 16  # BEV cells per side
    extent: float = 8.0  # the grid spans [-extent, extent] metres on both axes
    max_objects: int = 4
    radius: tuple[float, float] = (0.8, 1.6)
    object_height: tuple[float, float] = (1.0, 2.2)
    noise: float = 0.05


def _uniform(gen, shape, lo, hi):
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def bev_scenes(batch: int, seed: int, spec: SceneSpec = SceneSpec()):
    """(images [B, cameras, 3, H, W], occupancy [B, grid, grid] in {0, 1}) for ``batch`` scenes."""
    g = torch.Generator().manual_seed(seed)
    k = spec.max_objects
    active = torch.arange(k)[None, :] < torch.randint(1, k + 1, (batch, 1), generator=g)
    radius = _uniform(g, (batch, k), *spec.radius)
    # keep every object clear of the ego vehicle and inside the grid
    dist = _uniform(g, (batch, k), 0, 1) * (spec.extent - 1.0 - radius - (radius + 1.0)) + radius + 1.0
    angle = _uniform(g, (batch, k), 0, 2 * math.pi)
    centre = torch.stack([dist * torch.cos(angle), dist * torch.sin(angle)], dim=-1)  # [B, K, 2]
    tall = _uniform(g, (batch, k), *spec.object_height)
    colour = _uniform(g, (batch, k, 3), 0.1, 1.0)

    # Rays: one per camera column, equiangular in azimuth.
    yaw = torch.arange(spec.cameras) * (2 * math.pi / spec.cameras)
    col = (torch.arange(spec.width) + 0.5) / spec.width - 0.5
    az = yaw[:, None] + col[None, :] * spec.hfov  # [C, W]
    ray = torch.stack([torch.cos(az), torch.sin(az)], dim=-1)  # [C, W, 2]
    along = torch.einsum("bkd,cwd->bcwk", centre, ray)  # distance along the ray to the closest point
    miss2 = (centre ** 2).sum(-1)[:, None, None, :] - along ** 2
    r2 = (radius ** 2)[:, None, None, :]
    hit = active[:, None, None, :] & (miss2 <= r2) & (along > 0)
    t = torch.where(hit, along - torch.sqrt((r2 - miss2).clamp(min=0)), torch.full_like(along, math.inf))
    depth, which = t.min(dim=-1)  # nearest surface per column, [B, C, W]

    # Pixels: elevation per row; a pixel shows the object if its ray is between ground and top.
    row = (spec.height / 2 - (torch.arange(spec.height) + 0.5)) * (spec.vfov / spec.height)
    ray_height = spec.camera_height + depth[:, :, None, :] * torch.tan(row)[None, None, :, None]
    obj_tall = torch.gather(tall, 1, which.flatten(1)).view_as(depth)
    on_object = torch.isfinite(depth)[:, :, None, :] & (ray_height >= 0) & (ray_height <= obj_tall[:, :, None, :])
    obj_rgb = torch.gather(colour, 1, which.flatten(1)[..., None].expand(-1, -1, 3)).view(*depth.shape, 3)
    shade = (1.0 - 0.06 * depth.clamp(max=spec.extent * 1.5))[..., None]  # farther is darker
    obj_rgb = (obj_rgb * shade).permute(0, 1, 3, 2)[:, :, :, None, :]  # [B, C, 3, 1, W]
    sky = torch.tensor([0.55, 0.7, 0.9])[:, None, None]
    ground = torch.tensor([0.35, 0.3, 0.25])[:, None, None]
    background = torch.where((row > 0)[None, :, None], sky, ground)  # [3, H, 1]
    images = torch.where(on_object[:, :, None], obj_rgb, background)
    images = images + spec.noise * torch.randn(images.shape, generator=g)

    # Target: cells whose centre lies inside an object's footprint.
    cell = (torch.arange(spec.grid) + 0.5) / spec.grid * 2 * spec.extent - spec.extent
    cy, cx = torch.meshgrid(cell, cell, indexing="ij")
    cells = torch.stack([cx, cy], dim=-1)  # [G, G, 2]: x east (columns), y north (rows)
    d2 = ((cells[None, :, :, None, :] - centre[:, None, None, :, :]) ** 2).sum(-1)
    occupied = (active[:, None, None, :] & (d2 <= (radius ** 2)[:, None, None, :])).any(-1)
    return images.float(), occupied.float()


SHAPES = ("disc", "square", "triangle", "cross")


def shapes(batch: int, seed: int, size: int = 32, noise: float = 0.15):
    """(images [B, 3, size, size], labels [B]) with one random shape per image."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, len(SHAPES), (batch,), generator=g)
    r = _uniform(g, (batch, 1, 1), size * 0.18, size * 0.35)
    cx = _uniform(g, (batch, 1, 1), 0, 1) * (size - 2 * r) + r
    cy = _uniform(g, (batch, 1, 1), 0, 1) * (size - 2 * r) + r
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    dx, dy = (xs - cx).abs(), ys - cy
    masks = torch.stack([
        dx ** 2 + dy ** 2 <= r ** 2,
        (dx <= 0.8 * r) & (dy.abs() <= 0.8 * r),
        (dy >= -r) & (dy <= 0.7 * r) & (dx <= (dy + r) * 0.6),
        ((dx <= r / 3) & (dy.abs() <= r)) | ((dy.abs() <= r / 3) & (dx <= r)),
    ], dim=1)  # [B, 4, S, S]
    mask = masks[torch.arange(batch), label][:, None]
    fg = _uniform(g, (batch, 3, 1, 1), 0, 1)
    bg = _uniform(g, (batch, 3, 1, 1), 0, 1)
    fg = torch.where((fg - bg).abs() < 0.3, 1 - bg, fg)  # keep the shape visible
    images = torch.where(mask, fg, bg) + noise * torch.randn((batch, 3, size, size), generator=g)
    return images.float(), label
