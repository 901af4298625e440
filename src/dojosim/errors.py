"""The one error family a user sees.

A user's mistake (bad unit, unknown preset, impossible split, a model that does not fit) raises a
`SpecError` that names the field path and the reason. The CLI prints `str(err)` on one line and
exits 2. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpecError(ValueError):
    """A user-facing error: `path` names the field (dotted, e.g. ``levels[1].topology.shape``)."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def prefixed(self, outer: str) -> "SpecError":
        """The same error, of the same class, seen from an enclosing field (``system`` + ``chip``)."""
        path = f"{outer}.{self.path}" if self.path and outer else (outer or self.path)
        # Not copy.copy: subclasses with their own __init__ signature (UnknownNameError) cannot
        # be rebuilt from args, so clone the instance state directly.
        err = self.__class__.__new__(self.__class__)
        err.__dict__.update(self.__dict__)
        err.path = path
        err.args = (f"{path}: {self.reason}" if path else self.reason,)
        return err


class UnitError(SpecError):
    """A quantity string with a bad or missing unit."""


class UnknownNameError(SpecError):
    """An unknown preset, zoo model or option; the message lists the closest names."""

    def __init__(self, path: str, name: str, known: Iterable[str], what: str = "name"):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        self.name = name
        self.known = known
        super().__init__(path, f"unknown {what} {name!r}{hint}")


class StrategyError(SpecError):
    """An impossible parallel split."""


class NotFiniteError(SpecError):
    """Inputs that make a prediction NaN or infinite (each figure valid, their arithmetic not)."""


class FitError(SpecError):
    """A model that does not fit in the memory of the machine under the chosen split."""


def from_pydantic(exc, root: str = "") -> SpecError:
    """Turn the first error of a pydantic ``ValidationError`` into a one-line `SpecError`."""
    first = exc.errors()[0]
    parts = [root] if root else []
    for loc in first.get("loc", ()):
        if isinstance(loc, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{loc}]"
            else:
                parts.append(f"[{loc}]")
        else:
            parts.append(str(loc))
    msg = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        msg = "unknown key"
    # pydantic prefixes custom errors with "Value error, "; the user needs only the reason.
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return SpecError(".".join(parts), msg)
