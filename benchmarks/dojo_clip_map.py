"""Draw docs/img/fsd-clip-on-tile.png: one FSD clip mapped over the 25 D1s of a Dojo tile, as
the engine maps it (examples/fsd-dojo-tile.yaml), and print the partition of every block.

    python benchmarks/dojo_clip_map.py [OUT.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dojosim import estimate  # noqa: E402
from dojosim.run import load_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLORS = {"images": "#4C72B0", "rows": "#55A868", "columns": "#8172B2", "depth": "#CCB974",
          "channels": "#C44E52", "tokens": "#DD8452", "none": "#bbbbbb"}


def main(out: Path) -> None:
    run = load_run(ROOT / "examples" / "fsd-dojo-tile.yaml")
    est = estimate(run.model, run.system, run.strategy)
    parts = [(name, part) for name, part, _stage in est.extra["partitions"]]
    r = run.strategy.cp
    images = max(op.images for b in run.model.blocks for op in b.ops)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1, 1.25]})
    # left: the tile; each D1's share of the clip's 64 images in the backbone
    per = images / r
    for i in range(r):
        x, y = i % 5, 4 - i // 5
        lo, hi = i * per, (i + 1) * per
        ax.add_patch(plt.Rectangle((x + 0.05, y + 0.05), 0.9, 0.9, color=COLORS["columns"], alpha=0.25 + 0.5 * (i % 2)))
        ax.text(x + 0.5, y + 0.55, f"D1 {i}", ha="center", va="center", fontsize=8, weight="bold")
        ax.text(x + 0.5, y + 0.3, f"img {lo:.1f}–{hi:.1f}", ha="center", va="center", fontsize=7)
    for k in range(5):   # the 2-D mesh links
        ax.plot([0.5, 4.5], [k + 0.5, k + 0.5], color="#999", lw=0.6, zorder=0)
        ax.plot([k + 0.5, k + 0.5], [0.5, 4.5], color="#999", lw=0.6, zorder=0)
    ax.set_xlim(0, 5)
    ax.set_ylim(0, 5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"one clip (8 cameras x 8 frames = {images} images) on a 5x5 tile:\n"
                 f"backbone slabs, {per:.2f} images' worth of columns per D1", fontsize=9)
    # right: the partition each block of the network takes
    names = [n for n, _ in parts]
    for j, (name, p) in enumerate(parts):
        bx.barh(len(parts) - 1 - j, 1, color=COLORS.get(p, "#999"))
        bx.text(0.02, len(parts) - 1 - j, f"{name}: {p}", va="center", fontsize=8, color="white", weight="bold")
    bx.set_yticks([])
    bx.set_xticks([])
    bx.set_xlim(0, 1)
    bx.set_title(f"the partition each block takes over the {r} D1s (engine/partition.py)", fontsize=9)
    for side in ("top", "right", "bottom", "left"):
        bx.spines[side].set_visible(False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    for name, p in parts:
        print(f"{name:22s} {p}")
    print(f"wrote {out} ({len(names)} blocks)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "fsd-clip-on-tile.png")
