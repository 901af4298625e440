"""The `dojosim` command: a thin layer over the Python API.

Each command group lives in its own module and registers on the shared app; `main` turns a user's
mistake (`SpecError`) into one line on stderr and exit code 2.
"""
from __future__ import annotations

import sys

from ..errors import SpecError
from ._app import app, err_console

# Importing the modules registers their commands on `app`.
from . import hardware as _hardware  # noqa: F401,E402
from . import models as _models  # noqa: F401,E402
from . import engine as _engine  # noqa: F401,E402
from . import plan as _plan  # noqa: F401,E402
from . import report as _report  # noqa: F401,E402
from . import numerics as _numerics  # noqa: F401,E402
from . import claims as _claims  # noqa: F401,E402
from . import buildout as _buildout  # noqa: F401,E402


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; ``argv`` lets tests call it in-process."""
    try:
        app(args=argv, prog_name="dojosim", standalone_mode=True)
    except SpecError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)


__all__ = ["app", "main"]
