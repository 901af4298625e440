"""What a zoo family hands out when torch is wanted: a module maker and an inputs maker."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Factory:
    module: Callable[[], object]                  # () -> torch.nn.Module
    inputs: Callable[[int, str], tuple]           # (batch, device) -> example inputs
