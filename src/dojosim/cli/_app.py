"""The typer app every command module registers on, and the output conventions they share."""
from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

app = typer.Typer(
    name="dojosim",
    help="Predict training time, memory, energy and cost on Tesla Dojo and NVIDIA clusters.",
    no_args_is_help=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_show_locals=False,
)

# Tables and progress go to stdout only when it is a terminal or the user asked for a table;
# machine output (--json) is plain JSON with nothing else on stdout.
# markup=False: user strings (system, part and model names, notes) are printed as they are;
# Rich markup in them ("[/bold]") would otherwise be parsed, raise MarkupError or restyle the
# output. Styling is done with rich.text.Text / style= instead of markup.
console = Console(highlight=False, soft_wrap=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def _default(obj: Any):
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout (pydantic models and numpy values included)."""
    sys.stdout.write(json.dumps(obj, default=_default, indent=2) + "\n")


def is_interactive() -> bool:
    """True when stdout is a terminal: progress bars show there and stay quiet in pipes."""
    return sys.stdout.isatty()


def mark(value: str, assumed: bool) -> str:
    """How an assumed figure is shown in text: '≈ 2 TB/s (assumed)'."""
    return f"≈ {value} (assumed)" if assumed else value


def approx(value: str, assumed: bool) -> str:
    """The compact mark for table cells: '≈ 2 TB/s' (`ASSUMED_LEGEND` under the table explains it)."""
    return f"≈ {value}" if assumed else value


ASSUMED_LEGEND = "≈ = rests on assumed figures, not published ones (`dojosim show NAME --sources` says which)."


def print_table(title: str | None, cols, rows, *, key: int = 0) -> None:
    """Print a table laid out for the terminal's width (or $COLUMNS in a pipe) by `report.table.fit`:
    never a cut number; headers wrap, then the table turns on its side or becomes blocks."""
    from ..report.table import fit

    for part in fit(title, cols, rows, console.width, key=key):
        console.print(part)


def wrote(paths, *, json_mode: bool = False) -> None:
    """Every writer says what it wrote: one line per file (on stderr when stdout carries JSON)."""
    out = err_console if json_mode else console
    for p in paths:
        out.print(f"wrote {p}", markup=False, highlight=False, soft_wrap=True)


JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
FORCE_OPTION = typer.Option(False, "--force", help="Overwrite existing output files, and write through "
                                                   "symbolic links.")


def check_plot_dir(plot, force: bool):
    """Check a ``--plot`` directory before any long computation (see `dojosim.outfile`)."""
    if plot is None:
        return None
    from ..outfile import check_output_dir

    return check_output_dir(plot, force=force, what="--plot")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        console.print(f"dojosim {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    version_flag: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                      help="Print the version and exit."),
) -> None:
    """Predict training time, memory, energy and cost on Tesla Dojo and NVIDIA clusters.

    Start with: dojosim compare (the FSD network on a Dojo ExaPOD vs H100s of equal power).
    Every command has an example in its --help; `dojosim explain-split dp75 cp40 mb1 z1` reads
    the split labels the tables print.
    """


@app.command("version")
def version() -> None:
    """Print the dojosim version (also: dojosim --version).

    Example: dojosim version
    """
    from .. import __version__

    console.print(__version__)
