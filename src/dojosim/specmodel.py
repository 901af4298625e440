"""`SpecModel`: the pydantic base of the public data types (Strategy, System and its parts).

Building one from bad values raises a `SpecError` naming the field (``strategy.dp: Input should
be greater than or equal to 1``), the one error family of the public API, instead of pydantic's
multi-line `ValidationError`.

The conversion sits in the metaclass's ``__call__``, which only a direct construction
(``Strategy(dp=0)``) goes through: a custom ``__init__`` would also run inside pydantic's own
validation of nested models and ``model_validate``, turning their errors into nested ones.
"""
from __future__ import annotations

from pydantic import BaseModel, ValidationError

from .errors import from_pydantic


class _SpecMeta(type(BaseModel)):
    def __call__(cls, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise from_pydantic(exc, cls.__name__.lower()) from None


class SpecModel(BaseModel, metaclass=_SpecMeta):
    pass
