"""The split: how one training step is spread over the devices.

Fields follow the ``strategy:`` block of the run format (docs/validation.md). `check`
validates a strategy against a model and a device count and raises `StrategyError` naming the
field; the engine calls it before costing anything.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import StrategyError, from_pydantic

Recompute = Literal["none", "selective", "full"]
Precision = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "cfp8"]
Schedule = Literal["1f1b", "gpipe"]
ParallelDim = Literal["tp", "cp", "ep", "pp", "dp"]

DEFAULT_ORDER: tuple[str, ...] = ("tp", "cp", "ep", "pp", "dp")


class Strategy(BaseModel):
    """Parallel degrees, batch, schedule, recompute, ZeRO stage, precision and level mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dp: int = Field(1, ge=1, description="data-parallel replicas")
    tp: int = Field(1, ge=1, description="tensor-parallel degree")
    pp: int = Field(1, ge=1, description="pipeline stages")
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

    @classmethod
    def from_dict(cls, data: dict, path: str = "strategy") -> "Strategy":
        data = {k: v for k, v in (data or {}).items() if v is not None or k == "micro_batch"}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc, path) from None


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
    if layers is not None:
        if s.pp > layers:
            fail("pp", f"pp={s.pp} is more than the {layers} layers")
        if layers % (s.pp * s.interleave):
            fail("pp" if s.interleave == 1 else "interleave",
                 f"pp*interleave = {s.pp}*{s.interleave} does not divide the {layers} layers")
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
