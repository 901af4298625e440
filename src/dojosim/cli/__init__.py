"""The `dojosim` command: a thin layer over the Python API.

Each command group lives in its own module and registers on the shared app; `main` turns a user's
mistake (`SpecError`) into one line on stderr and exit code 2.
"""
from __future__ import annotations

import sys

import typer

from ..errors import SpecError

try:  # typer >= 0.20 carries its own copy of click; older typers use click itself
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, UsageError
from ._app import app, err_console

# Importing the modules registers their commands on `app`.
from . import hardware as _hardware  # noqa: F401,E402
from . import models as _models  # noqa: F401,E402
from . import engine as _engine  # noqa: F401,E402
from . import plan as _plan  # noqa: F401,E402
from . import report as _report  # noqa: F401,E402
from . import numerics as _numerics  # noqa: F401,E402
from . import explain as _explain  # noqa: F401,E402
from . import cloud as _cloud  # noqa: F401,E402
from . import claims as _claims  # noqa: F401,E402
from . import buildout as _buildout  # noqa: F401,E402
from . import sensitivity as _sensitivity  # noqa: F401,E402


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_line(err: UsageError) -> str:
    """A click usage error (bad option, missing argument) as one line naming the command."""
    cmd = err.ctx.command_path if err.ctx is not None else "dojosim"
    return f"error: {cmd}: {_one_line(err.format_message())} (see {cmd} --help)"


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit with ``code``: the only way a command fails."""
    err_console.print(_one_line(message), markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


# Options that may repeat; users also write them once with several values (`--set a=1 b=2`).
REPEATED = ("--set", "--fix")


def expand_repeated(argv: list[str]) -> list[str]:
    """``--set a=1 b=2`` -> ``--set a=1 --set b=2``: after a repeatable option and its value,
    every following KEY=VALUE word that is not an option joins it."""
    out: list[str] = []
    current, need_value = None, False
    for word in argv:
        if need_value:
            out.append(word)
            need_value = False
        elif current and "=" in word and not word.startswith("-"):
            out += [current, word]
        else:
            current = None
            out.append(word)
            if word in REPEATED:
                current, need_value = word, True
            elif "=" in word and word.split("=", 1)[0] in REPEATED:
                current = word.split("=", 1)[0]
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; ``argv`` lets tests call it in-process.

    Every user mistake ends here as one line on stderr and exit code 2: a `SpecError` from the
    library, or a usage error (unknown option, bad integer) from click. Anything else is a bug
    and keeps its traceback.
    """
    try:
        args = expand_repeated(list(sys.argv[1:] if argv is None else argv))
        code = app(args=args, prog_name="dojosim", standalone_mode=False)
    except SpecError as err:
        fail(f"error: {err}")
    except UsageError as err:
        fail(_usage_line(err))
    except ClickException as err:
        fail(f"error: {err.format_message()}")
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        fail("error: interrupted", 130)
    except BrokenPipeError:  # `dojosim ... | head`: the reader left; nothing to say
        sys.stderr.close()
        sys.exit(0)
    except OSError as err:
        # A path the user gave that the system refuses (a name too long, a permission); the
        # readers and writers turn the usual cases into SpecErrors, this catches the rest.
        name = str(err.filename or "")
        name = f"{name[:80]}…: " if len(name) > 80 else (f"{name}: " if name else "")
        fail(f"error: {name}{err.strerror or err}")
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
