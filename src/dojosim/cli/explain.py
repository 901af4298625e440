"""CLI command `dojosim explain-split`: what each token of a split label means."""
from __future__ import annotations

from typing import List

import typer

from ._app import JSON_OPTION, app, emit_json, print_table


@app.command("explain-split")
def explain_split(
    tokens: List[str] = typer.Argument(..., help="A split label as the tables print it, e.g. dp75 cp40 mb1 z1."),
    json_: bool = JSON_OPTION,
) -> None:
    """Spell out a split label, token by token.

    Example: dojosim explain-split dp32 tp4 pp8 v12 mb2 z1 sp
    """
    from ..report.table import Col
    from ..strategy import explain

    rows = explain(" ".join(tokens))
    if json_:
        emit_json([{"token": t, "meaning": m} for t, m in rows])
        return
    print_table(f"split {' '.join(tokens)}", [Col("token", "left"), Col("meaning", "left", wrap=True)],
                [list(r) for r in rows])
