"""The split: how one training step is spread over the devices.

Fields follow the ``strategy:`` block of the run format (docs/validation.md). `check` validates a
strategy against a model and a device count and raises `StrategyError` naming the field; the
engine calls it before costing anything.

One degree serves two ideas that place and communicate alike: for a transformer, ``cp`` is
Megatron's context parallelism (the sequence split over ranks); for a CNN it is the *spatial*
split (feature-map rows over ranks). Users may write ``spatial:`` for the latter; it is stored in
``cp`` and `Strategy.label` names it ``spatial`` when it knows the model is a CNN.
"""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import ConfigDict, Field, ValidationError, model_validator

from .errors import StrategyError, from_pydantic
from .specmodel import SpecModel

Recompute = Literal["none", "selective", "full"]
Precision = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "cfp8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
Schedule = Literal["1f1b", "gpipe"]
ParallelDim = Literal["tp", "cp", "ep", "pp", "dp"]

DEFAULT_ORDER: tuple[str, ...] = ("tp", "cp", "ep", "pp", "dp")


class Strategy(SpecModel):
    """Parallel degrees, batch, schedule, recompute, ZeRO stage, precision and level mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dp: int = Field(1, ge=1, description="data-parallel replicas")
    tp: int = Field(1, ge=1, description="tensor-parallel degree")
    pp: int = Field(1, ge=1, description="pipeline stages")
    # Uneven stages: layers per stage, first to last; or Megatron-LM's first/last-stage counts
    # (--decoder-first/last-pipeline-num-layers), the other stages sharing the rest. None of
    # them, and pp not dividing the layers: the balanced split of `stage_layers`.
    pp_layers: tuple[int, ...] | None = Field(None, description="layers per pipeline stage, first to last")
    pp_first_layers: int | None = Field(None, ge=1, description="layers on the first pipeline stage")
    pp_last_layers: int | None = Field(None, ge=1, description="layers on the last pipeline stage")
    cp: int = Field(1, ge=1, description="context-parallel degree (sequence split in attention)")
    ep: int = Field(1, ge=1, description="expert-parallel degree (within data-parallel replicas)")
    sequence_parallel: bool = False
    interleave: int = Field(1, ge=1, description="virtual pipeline chunks per device; 1 = plain 1F1B")
    micro_batch: int | None = Field(None, ge=1, description="samples per micro-batch; None = tool picks")
    global_batch: int = Field(1, ge=1, description="samples per optimizer step")
    recompute: Recompute = "none"
    zero: int = Field(0, ge=0, le=3, description="ZeRO stage; FSDP FULL_SHARD = 3, SHARD_GRAD_OP = 2")
    precision: Precision = "bf16"
    schedule: Schedule = "1f1b"
    # Innermost first: which parallel dimension fills the fastest (innermost) hardware level.
    order: tuple[ParallelDim, ...] = DEFAULT_ORDER

    @model_validator(mode="before")
    @classmethod
    def _spatial_alias(cls, data):
        """``spatial: N`` (a CNN's row split) is stored in ``cp``; ``cp`` stays accepted."""
        if isinstance(data, dict) and "spatial" in data:
            data = dict(data)
            spatial = data.pop("spatial")
            if data.get("cp", 1) not in (1, None, spatial):
                raise ValueError(f"spatial={spatial} and cp={data['cp']} name one degree; give one of them")
            data["cp"] = spatial
        return data

    def label(self, model=None, *, spatial: bool | None = None) -> str:
        """The split in one short line, e.g. 'dp32 tp4 pp8 v12 mb2 z1 sp'; `explain` spells it out.

        Every field that differs from its default shows, so two different strategies never share
        a label. With ``model`` a CNN (or ``spatial=True``), the row split reads ``spatial40``
        instead of ``cp40``."""
        parts = [f"{k}{getattr(self, k)}" for k in ("dp", "tp", "pp") if getattr(self, k) != 1]
        if self.cp != 1:
            cnn = is_cnn(model) if spatial is None else spatial
            parts.append(f"{'spatial' if cnn else 'cp'}{self.cp}")
        if self.ep != 1:
            parts.append(f"ep{self.ep}")
        parts = parts or ["dp1"]
        if self.pp_layers is not None:
            parts.append("stages:" + "/".join(map(str, self.pp_layers)))
        if self.pp_first_layers is not None or self.pp_last_layers is not None:
            parts.append(f"stages:{self.pp_first_layers or '*'}..{self.pp_last_layers or '*'}")
        if self.interleave != 1:
            parts.append(f"v{self.interleave}")
        if self.micro_batch:
            parts.append(f"mb{self.micro_batch}")
        if self.recompute != "none":
            parts.append(self.recompute)
        if self.zero:
            parts.append(f"z{self.zero}")
        if self.sequence_parallel:
            parts.append("sp")
        if self.precision != "bf16":
            parts.append(self.precision)
        if self.schedule != "1f1b":
            parts.append(self.schedule)
        if placement_order(self) != placement_order(Strategy(**{k: getattr(self, k) for k in _DEGREES})):
            parts.append("order:" + ",".join(placement_order(self)))
        return " ".join(parts)

    @property
    def devices(self) -> int:
        # EP reuses the data-parallel ranks (experts are sharded across DP replicas), so it does
        # not multiply the device count.
        return self.dp * self.tp * self.pp * self.cp

    @property
    def micro_batches(self) -> int:
        """Micro-batches per replica per step (gradient-accumulation steps x pipeline)."""
        mb = self.micro_batch or 1
        return self.global_batch // (self.dp * mb)

    @property
    def uneven_fields(self) -> bool:
        """True when the run says how to split the layers over the stages itself."""
        return (self.pp_layers is not None or self.pp_first_layers is not None
                or self.pp_last_layers is not None)

    @classmethod
    def from_dict(cls, data: dict, path: str = "strategy") -> "Strategy":
        if data is not None and not isinstance(data, dict):
            raise StrategyError(path, f"expected a mapping of strategy fields, got {type(data).__name__}")
        data = {k: v for k, v in (data or {}).items() if v is not None or k == "micro_batch"}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc, path) from None


_DEGREES = ("dp", "tp", "pp", "cp", "ep")


def is_cnn(model) -> bool:
    """True for a model whose ``cp`` degree splits image rows (no token sequence)."""
    return model is not None and not getattr(model, "seq_len", None) and \
        getattr(model, "spatial_rows", None) is not None


def placement_order(strategy: Strategy) -> tuple[str, ...]:
    """The parallel dimensions that are split (> 1), innermost hardware level first; ep reuses
    the data-parallel ranks and takes no level of its own."""
    return tuple(d for d in strategy.order if d != "ep" and getattr(strategy, d) > 1)


def label(strategy, model=None, *, spatial: bool | None = None) -> str:
    """`Strategy.label` for a Strategy or a plain strategy dict (as stored in results)."""
    if not isinstance(strategy, Strategy):
        strategy = Strategy.from_dict({k: v for k, v in dict(strategy or {}).items() if k in Strategy.model_fields})
    return strategy.label(model, spatial=spatial)


def balanced_stages(layers: int, pp: int) -> tuple[int, ...]:
    """Layers per stage when pp does not divide them: every stage gets floor(layers/pp) and the
    remainder goes one each to the middle stages first, then the first, then the last. The sizes
    are DeepSpeed's `partition_uniform` (floor or ceil per stage); the placement keeps the extra
    layers off the stages that also carry the embedding and the output layer and loss, the way
    Megatron-LM users set --decoder-first/last-pipeline-num-layers and DeepSpeed's partition by
    parameters shifts layers away from the embedding."""
    q, r = divmod(layers, pp)
    counts = [q] * pp
    for i in (list(range(1, pp - 1)) + [0, pp - 1])[:r]:
        counts[i] += 1
    return tuple(counts)


def stage_layers(s: Strategy, layers: int) -> tuple[int, ...]:
    """Layers on each pipeline stage, first to last (assumes `check` passed)."""
    if s.pp_layers is not None:
        return tuple(s.pp_layers)
    first, last = s.pp_first_layers, s.pp_last_layers
    if first is None and last is None:
        if layers % s.pp == 0:
            return (layers // s.pp,) * s.pp
        return balanced_stages(layers, s.pp)
    fixed = [x for x in (first, last) if x is not None]
    inner = s.pp - len(fixed)
    rest = layers - sum(fixed)
    q, r = divmod(rest, inner) if inner else (0, 0)
    middle = [q + (1 if i < r else 0) for i in range(inner)]
    return tuple(([first] if first is not None else []) + middle + ([last] if last is not None else []))


def _check_stages(s: Strategy, layers: int | None, fail) -> None:
    """The pipeline split of the layers: even, balanced, or as the run gives it."""
    if s.pp_layers is not None and (s.pp_first_layers is not None or s.pp_last_layers is not None):
        fail("pp_layers", "give either pp_layers or pp_first_layers/pp_last_layers, not both")
    if s.uneven_fields and layers is None:
        fail("pp_layers", "uneven pipeline stages need a model with a layer count")
    if s.uneven_fields and s.interleave > 1:
        fail("interleave", "interleaved 1F1B needs equal stages; uneven stages run plain 1F1B")
    if layers is None:
        return
    if s.pp > layers:
        fail("pp", f"pp={s.pp} is more than the {layers} layers")
    if s.interleave > 1 and layers % (s.pp * s.interleave):
        fail("interleave", f"pp*interleave = {s.pp}*{s.interleave} does not divide the {layers} layers")
    if s.pp_layers is not None:
        if len(s.pp_layers) != s.pp:
            fail("pp_layers", f"lists {len(s.pp_layers)} stages, but pp={s.pp}")
        if any(n < 1 for n in s.pp_layers):
            fail("pp_layers", "every stage needs at least one layer")
        if sum(s.pp_layers) != layers:
            fail("pp_layers", f"the stages hold {sum(s.pp_layers)} layers, the model has {layers}")
    elif s.uneven_fields:
        fixed = [x for x in (s.pp_first_layers, s.pp_last_layers) if x is not None]
        field = "pp_first_layers" if s.pp_first_layers is not None else "pp_last_layers"
        inner = s.pp - len(fixed)
        rest = layers - sum(fixed)
        if s.pp < 2:
            fail(field, f"first/last-stage layer counts need pp >= 2, got pp={s.pp}")
        if (inner == 0 and rest != 0) or (inner > 0 and rest < inner):
            fail(field, f"leaves {rest} layers for the other {inner} stages of {layers}")


def check(strategy: Strategy, *, devices: int, layers: int | None = None, heads: int | None = None,
          kv_heads: int | None = None, experts: int | None = None, seq_len: int | None = None,
          rows: int | None = None, path: str = "strategy") -> None:
    """Raise `StrategyError` when the split is impossible for this model on ``devices``."""
    s = strategy

    def fail(field: str, reason: str) -> None:
        raise StrategyError(f"{path}.{field}", reason)

    if s.devices != devices:
        fail("dp", f"dp*tp*pp*cp = {s.dp}*{s.tp}*{s.pp}*{s.cp} = {s.devices}, but the system has {devices} devices")
    if heads and heads % s.tp:
        fail("tp", f"tp={s.tp} does not divide the {heads} attention heads")
    if kv_heads and s.tp > kv_heads and s.tp % kv_heads:
        fail("tp", f"tp={s.tp} neither divides nor is a multiple of the {kv_heads} key/value heads")
    _check_stages(s, layers, fail)
    if s.interleave > 1 and s.pp == 1:
        fail("interleave", "interleave > 1 needs pipeline parallelism (pp > 1)")
    if s.cp > 1 and seq_len and seq_len % (2 * s.cp):
        fail("cp", f"cp={s.cp} does not split the sequence of {seq_len} into 2*cp equal chunks")
    if s.cp > 1 and not seq_len and rows is not None and s.cp > rows:
        # a CNN's context parallelism splits feature-map rows (Model.spatial_rows)
        fail("cp", f"cp={s.cp} is more than the {rows} row blocks of the smallest feature map")
    if s.sequence_parallel and s.tp == 1:
        fail("sequence_parallel", "sequence parallelism needs tp > 1")
    if s.ep > 1:
        if not experts:
            fail("ep", "expert parallelism needs a model with experts")
        if experts % s.ep:
            fail("ep", f"ep={s.ep} does not divide the {experts} experts")
        if (s.dp * s.cp) % s.ep:
            fail("ep", f"ep={s.ep} must divide dp*cp = {s.dp * s.cp} (experts are spread over data-parallel ranks)")
    if s.global_batch % s.dp:
        fail("global_batch", f"global_batch={s.global_batch} is not a multiple of dp={s.dp}")
    mb = s.micro_batch
    if mb is not None and (s.global_batch // s.dp) % mb:
        fail("micro_batch", f"micro_batch={mb} does not divide the {s.global_batch // s.dp} samples per replica")
    if s.pp > 1 and s.interleave > 1 and mb is not None and s.micro_batches % s.pp:
        fail("interleave", f"interleaved 1F1B needs the {s.micro_batches} micro-batches to be a multiple of pp={s.pp}")
    if sorted(s.order) != sorted(DEFAULT_ORDER):
        fail("order", f"must list each of {', '.join(DEFAULT_ORDER)} once")


# The legend of `Strategy.label`: one entry per token; {n} is the number in the token.
LEGEND: tuple[tuple[str, str, str], ...] = (
    ("dpN", r"dp(\d+)", "data parallel: {n} replicas of the model, each takes 1/{n} of the global batch"),
    ("tpN", r"tp(\d+)", "tensor parallel: each layer's matrices split over {n} devices (Megatron-LM)"),
    ("ppN", r"pp(\d+)", "pipeline parallel: the layers cut into {n} stages that micro-batches flow through"),
    ("cpN", r"cp(\d+)", "context parallel: a transformer's sequence split over {n} devices in attention; "
                        "for a CNN, the spatial split (see spatialN)"),
    ("spatialN", r"spatial(\d+)", "spatial split (CNNs): each image's feature-map rows over {n} devices, "
                                  "with halo exchange (older run files call it cp)"),
    ("epN", r"ep(\d+)", "expert parallel: a mixture-of-experts layer's experts spread over {n} data-parallel "
                        "ranks"),
    ("stages:A/B/..", r"stages:(\S+)", "layers per pipeline stage, first to last, when they are not equal"),
    ("vN", r"v(\d+)", "interleaved pipeline: {n} virtual stages (model chunks) per device"),
    ("mbN", r"mb(\d+)", "micro-batch: {n} sample(s) per forward/backward pass; the rest of a replica's "
                        "batch is gradient accumulation"),
    ("selective", r"selective", "selective recompute: attention activations recomputed in the backward pass"),
    ("full", r"full", "full recompute: every layer's activations recomputed in the backward pass"),
    ("zN", r"z(\d)", "ZeRO stage {n}: 1 shards the optimizer state over data-parallel ranks, 2 also the "
                     "gradients, 3 also the weights (FSDP)"),
    ("sp", r"sp", "sequence parallel: norms and dropouts split over the tensor-parallel ranks"),
    ("fp32 tf32 fp16 fp8 cfp8", r"(fp32|tf32|fp16|fp8|cfp8)", "precision of the math ({n}; bf16 when not shown)"),
    ("gpipe", r"gpipe", "GPipe schedule: all forwards, then all backwards (1F1B when not shown)"),
    ("order:A,B,C", r"order:(\S+)", "hardware levels filled innermost first: {n} (tp, cp, pp, dp when "
                                   "not shown)"),
)


def explain(label_text: str) -> list[tuple[str, str]]:
    """(token, meaning) for every token of a split label such as 'dp75 cp40 mb1 z1'; an unknown
    token raises `SpecError` naming it."""
    import re

    from .errors import SpecError

    out = []
    tokens = label_text.split()
    if not tokens:
        raise SpecError("split", "give a split label, e.g. 'dp32 tp4 pp8 v12 mb2 z1 sp'")
    for tok in tokens:
        for _, pattern, meaning in LEGEND:
            m = re.fullmatch(pattern, tok)
            if m:
                out.append((tok, meaning.format(n=m.group(1) if m.groups() else "")))
                break
        else:
            known = ", ".join(t for t, _, _ in LEGEND)
            raise SpecError("split", f"unknown token {tok!r}; tokens are {known}")
    return out
