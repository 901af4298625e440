"""The per-op roofline: where each op of a model sits against one chip's compute and memory roofs,
and where the engine's time puts it."""
from __future__ import annotations

from ..engine.compute import Split, shard
from ..engine.result import Estimate


def _plt():
    from .plots import _plt as plt_

    return plt_()


def roofline_points(model, system, precision: str = "bf16", est: Estimate | None = None) -> list[dict]:
    """Arithmetic intensity and attainable FLOP/s of each op of ``model`` on one chip of ``system``.

    Intensity = FLOPs / bytes moved (reads + writes at the precision's element size); attainable =
    min(peak, intensity x memory bandwidth) — the roofline of Williams et al. (CACM 2009). With
    ``est``, each op the engine timed also gets ``achieved``: the forward FLOPs one device does for
    one micro-batch (as the engine split them: tensor, context or spatial parallelism, per-block
    partitions) over the engine's forward time — a per-chip rate, like the roof it is drawn under.
    """
    peak, bw = chip_roof(system, precision)
    size = 4 if precision in ("fp32", "tf32") else (1 if precision in ("fp8", "cfp8") else 2)
    timed: dict[str, float] = {}
    split = {"mb": 1, "tp": 1, "cp": 1, "sp": False}
    if est is not None and est.stage is not None:
        # (name, fwd s, bwd s[, this device's fwd FLOPs]): older estimates lack the FLOPs
        timed = {o[0]: (o[1], o[3] if len(o) > 3 else None) for o in est.stage.ops if o[1] > 0}
        st = est.strategy or {}
        split = {"mb": int((est.extra or {}).get("micro_batch") or st.get("micro_batch") or 1),
                 "tp": int(st.get("tp") or 1), "cp": int(st.get("cp") or 1),
                 "sp": bool(st.get("sequence_parallel"))}
    pts = []
    for block, op in model.iter_ops():
        moved = (op.reads + op.writes) * size
        if op.flops <= 0 or moved <= 0:
            continue
        ai = op.flops / moved
        pt = {"name": op.name, "kind": op.kind, "intensity": ai, "attainable": min(peak, ai * bw),
              "flops": op.flops * block.count}
        if op.name in timed:
            seconds, per_device = timed[op.name]
            if per_device is None:   # the engine's own share of the op on one device
                per_device = op.flops * split["mb"] / shard(op, Split(split["tp"], split["cp"], 1, split["sp"]))
            pt["achieved"] = per_device / seconds
        pts.append(pt)
    return pts


def chip_roof(system, precision: str = "bf16") -> tuple[float, float]:
    """(peak FLOP/s, memory bandwidth B/s) of one chip, from whatever the System exposes."""
    chip = getattr(system, "chip", system)
    peak = getattr(chip, "peak_flops", None)
    if isinstance(peak, dict):
        peak = peak.get(precision) or peak.get("bf16") or max(peak.values())
    elif callable(peak):
        peak = peak(precision)
    bw = None
    # The roof is the memory the operands live in: chip HBM where there is one; on a D1 (no HBM)
    # the on-chip SRAM.
    for attr in ("dram_bandwidth", "memory_bandwidth", "sram_bandwidth"):
        bw = bw or getattr(chip, attr, None)
    if not bw:
        mems = getattr(chip, "memories", None) or getattr(chip, "memory", None)
        if isinstance(mems, (list, tuple)):
            bw = max((getattr(m, "bandwidth", 0.0) or 0.0) for m in mems) or None
    return float(peak or 1e15), float(bw or 1e12)


def pool_roofs(system) -> list[tuple[str, float]]:
    """Lower memory roofs of a chip without its own HBM: its share of each memory pool attached at
    a level above it (a D1's share of its tile's or tray's DIP HBM), limited by the pool's link.

    Where an op's operands outgrow on-chip SRAM they stream from there, so this roof, not the SRAM
    one, bounds the memory-bound ops of a large working set."""
    chip = getattr(system, "chip", None)
    if chip is None or getattr(chip, "dram_bandwidth", 0.0):
        return []
    roofs = []
    for i, level in enumerate(getattr(system, "levels", []) or []):
        for pool in getattr(level, "memory_pools", []) or []:
            per_chip = pool.count * min(pool.bandwidth, pool.link_bandwidth) / system.level_chips(i)
            roofs.append((f"{pool.name} share ({level.name})", per_chip))
    return roofs


def figure_roofline(points: list[dict], peak: float, bw: float, title: str = "Roofline per op",
                    extra_roofs: list[tuple[str, float]] = ()):
    """Ops against the chip's roof; ``extra_roofs`` (label, bytes/s) are drawn dashed below it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ridge = peak / bw
    xs = [p["intensity"] for p in points] or [ridge]
    lo = min(min(xs), ridge) / 4
    hi = max(max(xs), ridge, *(peak / b for _, b in extra_roofs)) * 4
    ax.plot([lo, ridge, hi], [lo * bw, peak, peak], color="black", lw=1.5, label="roof")
    for label, b in extra_roofs:
        ax.plot([lo, peak / b, hi], [lo * b, peak, peak], color="black", lw=1.0, ls="--", label=label)
    kinds = sorted({p["kind"] for p in points})
    for kind in kinds:
        sel = [p for p in points if p["kind"] == kind]
        dots = ax.scatter([p["intensity"] for p in sel], [p["attainable"] for p in sel], s=18, label=kind, alpha=0.8)
        got = [p for p in sel if p.get("achieved")]
        if got:  # hollow markers of the same colour: where the engine's time puts the op
            ax.scatter([p["intensity"] for p in got], [p["achieved"] for p in got], s=26, facecolors="none",
                       edgecolors=dots.get_facecolor()[:1], linewidths=0.9, label=f"{kind} (engine)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("FLOP/s per chip")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, title="filled: roof  hollow: engine's time" if any(
        p.get("achieved") for p in points) else None, title_fontsize=7)
    ax.grid(which="both", alpha=0.2)
    fig.tight_layout()
    return fig
