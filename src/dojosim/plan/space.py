"""The space of strategies a search walks: every valid split of a model over a device count.

Enumeration runs in two layers so that memory pruning can cut whole sub-trees early:

1. *shapes*: the parallel degrees (dp, tp, pp, cp, ep) and the ZeRO stage — pruned by a lower
   bound on the bytes of weights, gradients and optimizer state per device;
2. *variants* of one shape: micro-batch, interleave, recompute, sequence parallelism and the
   level-mapping order — pruned by a lower bound on activation bytes.

The bounds are deliberately loose (they leave out what an engine might not count), so pruning
never drops a strategy the engine would say fits; tests check that property against the engine.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from ..engine.placement import layout, level_info, switch_levels
from ..engine.precision import precision as precision_of
from ..errors import SpecError
from ..strategy import DEFAULT_ORDER, Strategy

RECOMPUTES = ("none", "selective", "full")

# Bytes per weight, gradient and activation element come from the engine's one precision table
# (`engine/precision.py`: fp8 training keeps them in 16-bit, as the engine charges them).
# Adam keeps two fp32 moments per parameter (8 bytes). The fp32 master copy of mixed precision is
# left out of the bound on purpose: an engine may fold it into the weights.
_OPTIMIZER_BYTES_MIN = 8


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    small, large = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                large.append(n // i)
        i += 1
    return small + large[::-1]


@dataclass(frozen=True)
class ModelFacts:
    """What the enumeration needs to know about a model (cheap to pickle to workers)."""

    layers: int | None
    heads: int | None
    kv_heads: int | None
    experts: int | None
    seq_len: int | None
    hidden: int | None
    params: float
    expert_params: float
    rows: int | None = None    # row blocks a CNN's feature maps split into (Model.spatial_rows)

    @classmethod
    def of(cls, model) -> "ModelFacts":
        expert_params = 0.0
        for block, op in model.iter_ops():
            if op.expert:
                expert_params += block.count * op.params
        return cls(layers=model.layers, heads=model.heads, kv_heads=model.kv_heads,
                   experts=model.experts, seq_len=model.seq_len, hidden=model.hidden,
                   params=float(model.params), expert_params=expert_params, rows=model.spatial_rows)


@dataclass(frozen=True)
class Space:
    """Which values each strategy field may take. ``None`` means "search every valid value"."""

    dp: tuple[int, ...] | None = None
    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    cp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    micro_batch: tuple[int, ...] | None = None
    interleave: tuple[int, ...] | None = None
    recompute: tuple[str, ...] = RECOMPUTES
    zero: tuple[int, ...] = (0, 1, 2, 3)
    sequence_parallel: tuple[bool, ...] = (False, True)
    precision: str = "bf16"
    schedule: str = "1f1b"
    # "all": every order of the dimensions whose degree is > 1 that places them differently on
    # the hardware levels; "default": tp, cp, ep, pp, dp innermost first only.
    orders: str = "all"
    # Named rules that drop strategies no training stack runs or that another strategy always
    # beats; `exhaustive=True` turns them off (see `rules_allow`).
    exhaustive: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_constraints(cls, constraints: dict | None, path: str = "constraints") -> "Space":
        """Build a space from ``{"tp": 8, "recompute": ["none", "full"], "orders": "default"}``."""
        if not constraints:
            return cls()
        if not isinstance(constraints, dict):
            raise SpecError(path, f"expected a mapping of strategy field -> value or list, got {constraints!r}")
        known = set(cls.__dataclass_fields__) - {"extra"}
        kwargs: dict = {}
        for key, value in constraints.items():
            if key not in known:
                raise SpecError(f"{path}.{key}", f"unknown constraint; known: {', '.join(sorted(known))}")
            if key == "exhaustive":
                kwargs[key] = bool(value)
                continue
            if key in ("precision", "schedule", "orders"):
                if not isinstance(value, str):
                    raise SpecError(f"{path}.{key}", f"expected one name, got {value!r}")
                if key == "orders" and value not in ("all", "default"):
                    raise SpecError(f"{path}.{key}", "must be 'all' or 'default'")
                kwargs[key] = value
                continue
            values = tuple(value) if isinstance(value, (list, tuple, set)) else (value,)
            if key in ("recompute",):
                bad = [v for v in values if v not in RECOMPUTES]
                if bad:
                    raise SpecError(f"{path}.{key}", f"{bad[0]!r} is not one of {', '.join(RECOMPUTES)}")
            elif key == "sequence_parallel":
                values = tuple(bool(v) for v in values)
            else:
                try:
                    values = tuple(int(v) for v in values)
                except (TypeError, ValueError):
                    raise SpecError(f"{path}.{key}", f"expected integers, got {value!r}") from None
                if any(v < (0 if key == "zero" else 1) for v in values):
                    raise SpecError(f"{path}.{key}", f"values must be positive, got {value!r}")
            kwargs[key] = values
        return cls(**kwargs)


@dataclass(frozen=True)
class Shape:
    """Parallel degrees and ZeRO stage: the outer layer of the enumeration."""

    dp: int
    tp: int
    pp: int
    cp: int
    ep: int
    zero: int


def _allowed(values: tuple | None, candidates: list[int]) -> list[int]:
    return candidates if values is None else [v for v in candidates if v in values]


def shapes(facts: ModelFacts, devices: int, global_batch: int, space: Space) -> list[Shape]:
    """Every (dp, tp, pp, cp, ep, zero) that multiplies to ``devices`` and divides the model."""
    out = []
    divs = divisors(devices)
    # Tensor parallelism splits attention heads; a model without heads (CNN) stays at tp=1
    # unless the user asks for it explicitly.
    tps = [t for t in divs if (facts.heads and facts.heads % t == 0) or t == 1 or (not facts.heads and space.tp)]
    if facts.kv_heads:
        tps = [t for t in tps if t <= facts.kv_heads or t % facts.kv_heads == 0]
    # pp need not divide the layers: the engine then uses the balanced uneven split
    pps = [p for p in divs if p == 1 or (facts.layers and p <= facts.layers)]
    # cp splits a token model's sequence, or a CNN's feature-map rows (spatial parallelism)
    cps = [c for c in divs if c == 1 or (facts.seq_len and facts.seq_len % (2 * c) == 0)
           or (not facts.seq_len and facts.rows and c <= facts.rows)]
    for tp in _allowed(space.tp, tps):
        for pp in _allowed(space.pp, pps):
            if devices % (tp * pp):
                continue
            for cp in _allowed(space.cp, cps):
                if devices % (tp * pp * cp):
                    continue
                dp = devices // (tp * pp * cp)
                if global_batch % dp or (space.dp is not None and dp not in space.dp):
                    continue
                eps = [1]
                if facts.experts:
                    eps = [e for e in divisors(facts.experts) if (dp * cp) % e == 0]
                for ep in _allowed(space.ep, eps):
                    # ZeRO shards over the data-parallel ranks; with one rank every stage is 0.
                    zeros = space.zero if dp * cp > 1 else tuple(z for z in space.zero if z == 0)
                    for zero in zeros:
                        if space.exhaustive or rules_allow_shape(pp, zero):
                            out.append(Shape(dp, tp, pp, cp, ep, zero))
    return out


def rules_allow_shape(pp: int, zero: int) -> bool:
    """Rule 1: ZeRO-2/3 shard gradients (and weights) across data-parallel ranks while pipeline
    stages accumulate them over micro-batches; Megatron-LM and DeepSpeed refuse the pair
    (DeepSpeed: "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism")."""
    return not (pp > 1 and zero >= 2)


def rules_sequence_parallel(tp: int, allowed: tuple[bool, ...]) -> list[bool]:
    """Rule 2: with tp > 1, sequence parallelism replaces each all-reduce by a reduce-scatter plus
    an all-gather of the same total volume and divides the norm/dropout activations by tp
    (Korthikanti et al. 2022), so the split without it is never better; search only with it."""
    if tp == 1:
        return [False]
    return [True] if True in allowed else list(allowed)


def static_bytes_lower_bound(facts: ModelFacts, shape: Shape, precision: str) -> float:
    """A lower bound on weights + gradients + optimizer bytes per device under ``shape``."""
    dense = facts.params - facts.expert_params
    per_device = dense / (shape.tp * shape.pp) + facts.expert_params / (shape.tp * shape.pp * shape.ep)
    pb = precision_of(precision).weight_bytes
    shard = shape.dp * shape.cp
    weights = pb * per_device / (shard if shape.zero >= 3 else 1)
    grads = pb * per_device / (shard if shape.zero >= 2 else 1)
    optim = _OPTIMIZER_BYTES_MIN * per_device / (shard if shape.zero >= 1 else 1)
    return weights + grads + optim


def activation_bytes_lower_bound(facts: ModelFacts, shape: Shape, micro_batch: int, sp: bool,
                                 precision: str) -> float:
    """The layer inputs one micro-batch keeps even under full recompute (Korthikanti et al.:
    2·s·b·h bytes per layer in 16-bit, split by tp under sequence parallelism and by cp)."""
    if not (facts.layers and facts.hidden and facts.seq_len):
        return 0.0
    pb = precision_of(precision).element_bytes
    per_layer = facts.seq_len * micro_batch * facts.hidden * pb / shape.cp / (shape.tp if sp else 1)
    return per_layer * facts.layers / shape.pp


def _level_sizes(system) -> list[int]:
    """Children per level, innermost first (the chip count of each level's children)."""
    sizes = []
    for level in getattr(system, "levels", ()):
        n = getattr(level, "children", None) or getattr(level, "count", None)
        if isinstance(n, int) and n > 0:
            sizes.append(n)
    return sizes


def placement_levels(system) -> tuple:
    """``system``'s levels as the engine's placement reads them (`placement.level_info`); a
    stand-in system known only by its children per level gets switches."""
    try:
        return level_info(system)
    except AttributeError:
        return switch_levels(_level_sizes(system))


def orders(shape: Shape, space: Space, levels) -> list[tuple[str, ...]]:
    """The level-mapping orders worth costing for ``shape``: one per distinct placement, as the
    engine places them (`placement.layout`). ``levels``: `placement_levels`, or children per
    level (switches)."""
    if space.orders == "default":
        return [DEFAULT_ORDER]
    degrees = {"tp": shape.tp, "cp": shape.cp, "ep": shape.ep, "pp": shape.pp, "dp": shape.dp}
    return list(_orders(tuple(levels), tuple(degrees.items())))


@functools.lru_cache(maxsize=4096)
def _orders(levels: tuple, degrees: tuple) -> tuple:
    deg = dict(degrees)
    if levels and not isinstance(levels[0], tuple):
        levels = switch_levels(levels)
    # ep reuses data-parallel ranks, so it takes no devices of its own in the order; where it
    # sits (inside cp or dp) follows from theirs.
    active = [d for d in DEFAULT_ORDER if deg[d] > 1 and d != "ep"]
    seen: dict[tuple, tuple[str, ...]] = {}
    for perm in itertools.permutations(active):
        it = iter(perm)
        full = tuple(next(it) if deg[d] > 1 and d != "ep" else d for d in DEFAULT_ORDER)
        seen.setdefault(layout(levels, deg, full) if levels else full, full)
    # The default order first, so ties resolve to the layout users expect.
    out = list(seen.values())
    out.sort(key=lambda o: o != DEFAULT_ORDER)
    return tuple(out)


# Recompute modes from least to most activation memory: what does not fit under one mode does
# not fit under the modes after it.
RECOMPUTE_BY_MEMORY = ("full", "selective", "none")


_TEMPLATE = Strategy()
_FIELDS = set(Strategy.model_fields)


def fast_strategy(values: dict) -> Strategy:
    """A `Strategy` from already valid values, without pydantic's per-field validation.

    The search builds hundreds of thousands of strategies whose values come from the
    enumeration itself; `model_construct` spends more time per strategy than an estimate's
    cache lookups. This copies a default instance's dict and overwrites the given fields (what
    `model_construct` does, minus the per-field default handling).
    """
    obj = _TEMPLATE.__class__.__new__(_TEMPLATE.__class__)
    d = dict(_TEMPLATE.__dict__)
    d.update(values)
    object.__setattr__(obj, "__dict__", d)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


@dataclass(frozen=True)
class Group:
    """Variants of one shape that differ only in micro-batch, recompute and order.

    ``micro_batches`` ascend: activation memory grows with the micro-batch, so once one does not
    fit, the larger ones do not either (the search relies on this; tests check it on the engine).
    The level orders are placed when first read: a search that rules a group out by its bounds
    never needs them (placing every order of a big system costs more than the rest of a search).
    """

    base: dict
    micro_batches: tuple[int, ...]
    recomputes: tuple[str, ...]
    pruned_variants: int              # (micro-batch, recompute) pairs the memory lower bound dropped
    shape: Shape
    space: Space
    levels: tuple

    @functools.cached_property
    def orders(self) -> tuple[tuple[str, ...], ...]:
        return tuple(orders(self.shape, self.space, self.levels))

    def make(self, mb: int, rc: str, order: tuple[str, ...]) -> Strategy:
        return fast_strategy({**self.base, "micro_batch": mb, "recompute": rc, "order": order})

    @property
    def size(self) -> int:
        return len(self.micro_batches) * len(self.recomputes) * len(self.orders)

    @property
    def bound_pruned(self) -> int:
        """Strategies the memory lower bound dropped."""
        return self.pruned_variants * len(self.orders)


def groups(facts: ModelFacts, shape: Shape, global_batch: int, space: Space,
           levels: tuple, capacity: float | None) -> list[Group]:
    """The variants of ``shape`` as groups (sequence parallelism x interleave)."""
    per_replica = global_batch // shape.dp
    mbs = _allowed(space.micro_batch, divisors(per_replica))
    static = static_bytes_lower_bound(facts, shape, space.precision)
    if space.exhaustive:
        sps = [s for s in space.sequence_parallel if not s or shape.tp > 1] or [False]
    else:
        sps = rules_sequence_parallel(shape.tp, space.sequence_parallel)
    rcs = tuple(r for r in RECOMPUTE_BY_MEMORY if r in space.recompute)
    if shape.pp > 1 and facts.layers and facts.layers % shape.pp == 0:
        ivs = _allowed(space.interleave, divisors(facts.layers // shape.pp))
    else:
        ivs = _allowed(space.interleave, [1])
    out = []
    for sp in sps:
        for iv in ivs:
            # Interleaving needs the micro-batches per replica to be a multiple of pp.
            valid = [mb for mb in mbs if iv == 1 or (per_replica // mb) % shape.pp == 0]
            fit = [mb for mb in valid if capacity is None or static + activation_bytes_lower_bound(
                facts, shape, mb, sp, space.precision) <= capacity]
            base = dict(dp=shape.dp, tp=shape.tp, pp=shape.pp, cp=shape.cp, ep=shape.ep, zero=shape.zero,
                        global_batch=global_batch, precision=space.precision, schedule=space.schedule,
                        sequence_parallel=sp, interleave=iv)
            if valid and rcs:
                out.append(Group(base, tuple(fit), rcs, (len(valid) - len(fit)) * len(rcs), shape, space, levels))
    return out


def variants(facts: ModelFacts, shape: Shape, global_batch: int, space: Space,
             levels: tuple, capacity: float | None):
    """Yield every `Strategy` of ``shape`` that passes the memory bound (all when no capacity)."""
    for g in groups(facts, shape, global_batch, space, levels, capacity):
        for rc in g.recomputes:
            for mb in g.micro_batches:
                for order in g.orders:
                    yield g.make(mb, rc, order)


def count(facts: ModelFacts, devices: int, global_batch: int, space: Space, levels: tuple) -> int:
    """Number of strategies in the space before memory pruning."""
    return sum(1 for sh in shapes(facts, devices, global_batch, space)
               for _ in variants(facts, sh, global_batch, space, levels, None))
