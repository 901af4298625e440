"""The precision experiment: train the same network on the same data under FP32, BF16, CFP8 with
round-to-nearest and CFP8 with stochastic rounding, and compare loss curves and a final metric.

Every run starts from the same initial weights (one seed) and sees the same stream of synthetic
batches (`tasks.py`); only the arithmetic differs. BF16 and CFP8 go through `emulate` (operands
rounded, FP32 accumulation, FP32 master weights), FP32 is the plain model. The final metric is
measured on a fixed held-out set, with the model running in its training precision, after its
BatchNorm statistics are recomputed over a few training batches (see `recalibrate_batchnorm`).
"""
from __future__ import annotations

import csv
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SpecError, UnknownNameError
from .emulate import emulate, emulation_state, preset
from .minimodels import FsdMini, ResNetMini, ZooFsd
from .tasks import SceneSpec, bev_scenes, shapes

POLICIES = ("fp32", "bf16", "cfp8-nearest", "cfp8-stochastic")
EVAL_SEED_OFFSET = 1_000_003  # held-out batches use seeds far from the training stream's


@dataclass(frozen=True)
class Setup:
    """One model + task pairing: how to build, feed, score and judge it."""

    name: str
    task: str
    metric: str
    lr: float
    batch: int
    eval_size: int
    default_steps: int  # the full run: past the first plateau (docs/numerics.md reports these)
    # The quick run `dojosim numerics` makes by default: all precisions in under 2 minutes on 2
    # busy cores (one thread), long enough to see the curves part, too short to rank them.
    quick_steps: int
    quick_batch: int
    quick_eval_size: int


SETUPS = {
    "fsd-mini": Setup("fsd-mini", "bev-scenes: 4 cameras -> 16x16 BEV occupancy", "bev_iou", 3e-3, 16, 256, 200,
                      quick_steps=24, quick_batch=8, quick_eval_size=64),
    "resnet-mini": Setup("resnet-mini", "shapes: 4-way classification of 24x24 images", "accuracy", 3e-3, 32, 256,
                         500, quick_steps=60, quick_batch=16, quick_eval_size=128),
}
# torch's intra-op threads. Set explicitly: the default (one per core) oversubscribes a busy
# machine -- on 2 shared cores one thread ran fsd-mini 3-15x faster than two -- and a fixed count
# keeps the floating-point reduction order, hence the results for a seed, the same run to run.
DEFAULT_THREADS = 1


def set_threads(threads: int) -> None:
    if threads < 1:
        raise SpecError("threads", f"must be at least 1, got {threads}")
    torch.set_num_threads(threads)
BEV_POS_WEIGHT = 4.0  # occupied cells are ~5% of the grid; weighting them keeps "all empty" from winning


@dataclass
class Run:
    policy: str
    losses: list[float]
    metric: float
    eval_loss: float
    seconds: float
    biases: dict[str, list[int]] = field(default_factory=dict)  # role -> [min, median, max] bias
    diverged: bool = False
    network: str = ""


def build_model(name: str, seed: int) -> torch.nn.Module:
    """The network for ``name``, initialised from ``seed`` (identical for every policy)."""
    return build_network(name, seed)[0]


def build_network(name: str, seed: int) -> tuple[torch.nn.Module, str]:
    """(network, what it is). fsd-mini is the zoo's FSD network when the zoo provides it, else our
    own small multi-camera -> BEV network (`minimodels.FsdMini`), and the result says which."""
    setup(name)
    torch.manual_seed(seed)
    if name == "resnet-mini":
        return ResNetMini(), "numerics.minimodels.ResNetMini (3-stage ResNet of basic blocks)"
    try:
        return ZooFsd(SceneSpec()), "dojosim.workload.torch_module('fsd-mini', **ZOO_FSD_OVERRIDES)"
    except (ImportError, AttributeError, KeyError, ValueError, TypeError, RuntimeError, SpecError) as err:
        torch.manual_seed(seed)
        return FsdMini(SceneSpec()), f"numerics.minimodels.FsdMini (zoo fsd-mini unavailable: {err})"


def setup(name: str) -> Setup:
    if name not in SETUPS:
        raise UnknownNameError("model", name, SETUPS, what="experiment model")
    return SETUPS[name]


def batch_for(name: str, size: int, seed: int):
    return bev_scenes(size, seed) if name == "fsd-mini" else shapes(size, seed, size=24)


def loss_fn(name: str, out, target):
    if name == "fsd-mini":
        return F.binary_cross_entropy_with_logits(
            out, target, pos_weight=torch.tensor(BEV_POS_WEIGHT))
    return F.cross_entropy(out, target)


CALIBRATION_BATCHES = 8  # training batches whose statistics replace BatchNorm's running averages
CALIBRATION_SEED_OFFSET = 2_000_003


def recalibrate_batchnorm(name: str, model, batch: int, seed: int) -> None:
    """Recompute every BatchNorm's running mean/variance as a plain average over a few training
    batches, with the final weights (and, under emulation, in the training precision).

    Why: after a few hundred steps at a high learning rate the exponential running averages still
    lag the weights, and the held-out metric then measures that lag more than the network -- in a
    trial (fsd-mini, seed 1, FP32) held-out IoU was 0.18 with the running averages and 0.46 with
    batch statistics, at the same training loss. Recalibrating removes that noise for every
    precision alike."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(CALIBRATION_BATCHES):
            model(batch_for(name, batch, seed + CALIBRATION_SEED_OFFSET + i)[0])
    for m, mom in zip(norms, momenta):
        m.momentum = mom


def evaluate(name: str, model, size: int, seed: int) -> tuple[float, float]:
    """(metric, loss) on the held-out set: BEV IoU of cells with logit > 0, or top-1 accuracy."""
    model.eval()
    hits = union = correct = 0
    losses = []
    with torch.no_grad():
        for start in range(0, size, 128):
            x, y = batch_for(name, min(128, size - start), seed + EVAL_SEED_OFFSET + start)
            out = model(x)
            losses.append(float(loss_fn(name, out, y)))
            if name == "fsd-mini":
                pred = out > 0
                hits += int((pred & (y > 0)).sum())
                union += int((pred | (y > 0)).sum())
            else:
                correct += int((out.argmax(1) == y).sum())
    model.train()
    metric = hits / union if name == "fsd-mini" else correct / size
    return metric, statistics.fmean(losses)


def _bias_summary(model) -> dict[str, list[int]]:
    by_role: dict[str, list[int]] = {}
    for key, bias in emulation_state(model)["biases"].items():
        by_role.setdefault(key.rsplit(":", 1)[-1], []).append(bias)
    return {role: [min(v), int(statistics.median(v)), max(v)] for role, v in sorted(by_role.items())}


def train(name: str, policy: str, steps: int, seed: int = 0, batch: int | None = None,
          on_step=None, eval_size: int | None = None) -> Run:
    """Train ``name`` for ``steps`` steps under ``policy``; ``on_step(i)`` is called after each."""
    s = setup(name)
    if policy not in POLICIES:
        raise UnknownNameError("policies", policy, POLICIES, what="precision policy")
    batch = batch or s.batch
    model, network = build_network(name, seed)
    if policy != "fp32":
        emulate(model, preset(policy, seed))
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.0)
    losses: list[float] = []
    start = time.perf_counter()
    diverged = False
    for i in range(steps):
        x, y = batch_for(name, batch, seed * 7919 + i)
        loss = loss_fn(name, model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step:
            on_step(i)
        if not math.isfinite(losses[-1]):
            diverged = True
            break
    seconds = time.perf_counter() - start
    recalibrate_batchnorm(name, model, batch, seed)
    metric, eval_loss = evaluate(name, model, eval_size or s.eval_size, seed)
    biases = _bias_summary(model) if policy.startswith("cfp8") else {}
    return Run(policy, losses, metric, eval_loss, seconds, biases, diverged, network)


def run_experiment(name: str = "fsd-mini", steps: int | None = None, policies=POLICIES, seed: int = 0,
                   batch: int | None = None, on_step=None, *, eval_size: int | None = None,
                   threads: int = DEFAULT_THREADS, on_policy=None) -> dict:
    """All ``policies`` on model ``name`` (``steps`` each, default: the model's full run): a
    JSON-ready dict. The same arguments (threads included) give the same numbers.
    ``on_policy(policy)`` is called before each precision starts training."""
    s = setup(name)
    steps = s.default_steps if steps is None else steps
    if steps < 1:
        raise SpecError("steps", f"must be at least 1, got {steps}")
    if eval_size is not None and eval_size < 1:
        raise SpecError("eval_size", f"must be at least 1, got {eval_size}")
    set_threads(threads)
    runs = []
    for p in policies:
        if on_policy:
            on_policy(p)
        runs.append(train(name, p, steps, seed, batch, on_step, eval_size))
    return {"model": name, "network": runs[0].network if runs else "", "task": s.task, "metric": s.metric, "steps": steps,
            "batch": batch or s.batch, "seed": seed, "lr": s.lr, "eval_size": eval_size or s.eval_size,
            "threads": threads, "torch": torch.__version__, "runs": [asdict(r) for r in runs]}


def write_results(result: dict, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """``numerics_<model>.json`` (everything) and ``numerics_<model>_loss.csv`` (step x policy),
    through the safe writer; returns the paths written."""
    import io

    from ..outfile import make_output_dir, write_text

    out = make_output_dir(out_dir, force=force, what="--out")
    stem = f"numerics_{result['model']}"
    js = write_text(out / f"{stem}.json", json.dumps(result, indent=1), force=force, what="--out")
    runs = result["runs"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["step"] + [r["policy"] for r in runs])
    for i in range(max(len(r["losses"]) for r in runs)):
        w.writerow([i] + [r["losses"][i] if i < len(r["losses"]) else "" for r in runs])
    cs = write_text(out / f"{stem}_loss.csv", buf.getvalue(), force=force, what="--out")
    return [js, cs]


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_results(result: dict, path: str | Path, *, force: bool = False) -> Path:
    """Loss curves (raw, faint; moving average, bold) beside a bar chart of the final metric."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..outfile import atomic_path, make_output_dir

    path = Path(path)
    make_output_dir(path.parent, force=force, what="--plot")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    window = max(1, result["steps"] // 15)
    for i, r in enumerate(result["runs"]):
        colour = f"C{i}"
        ax.plot(r["losses"], color=colour, alpha=0.2, lw=0.8)
        ax.plot(_smooth(r["losses"], window), color=colour, lw=1.8, label=r["policy"])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title(f"{result['model']}: {result['task'].split(':')[0]}")
    ax.legend(frameon=False)
    names = [r["policy"] for r in result["runs"]]
    vals = [r["metric"] for r in result["runs"]]
    bars = bx.bar(range(len(vals)), vals, color=[f"C{i}" for i in range(len(vals))])
    for b_, v in zip(bars, vals):
        bx.text(b_.get_x() + b_.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    bx.set_xticks(range(len(vals)), names, rotation=25, ha="right", fontsize=8)
    bx.set_ylabel(f"held-out {result['metric']}")
    bx.set_ylim(0, max(1.0, max(vals) * 1.1) if vals else 1.0)
    fig.tight_layout()
    try:
        with atomic_path(path, force=force, what="--plot", suffixes=(".png",)) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        plt.close(fig)
    return path
