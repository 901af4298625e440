"""`dojosim claims`: Tesla's quantified Dojo claims against the model's predictions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import FORCE_OPTION, JSON_OPTION, app, console, emit_json

# The claim files ship with the repository (examples/claims); from elsewhere, name a directory.
_REPO_CLAIMS = Path(__file__).resolve().parents[3] / "examples" / "claims"


def default_claims_dir() -> Path:
    return _REPO_CLAIMS if _REPO_CLAIMS.is_dir() else Path("examples/claims")


@app.command("claims")
def claims_cmd(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Directory of claim files "
                                             "(default: the repository's examples/claims)."),
    json_: bool = JSON_OPTION,
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the ledger as an HTML page."),
    force: bool = FORCE_OPTION,
) -> None:
    """Check every quantified public Tesla claim about Dojo against dojosim's prediction.

    Example: dojosim claims
    """
    from ..outfile import check_output, write_text
    from ..plan.claims import ledger
    from ..report.claims_html import _need_text, _num, claimed_text

    if html is not None:
        check_output(html, force=force, what="--html")
    entries = ledger(directory or default_claims_dir())
    written = None
    if html is not None:
        from ..report.claims_html import render_claims_page

        written = str(write_text(html, render_claims_page(entries), force=force, what="--html"))
    if json_:
        out = {"claims": [e.to_dict() for e in entries]}
        if written:
            out["wrote"] = written
        emit_json(out)
        return
    t = Table(title="Tesla's Dojo claims vs dojosim")
    t.add_column("claim")
    t.add_column("claimed", justify="right")
    t.add_column("predicted", justify="right")
    t.add_column("ratio", justify="right")
    t.add_column("", justify="left")
    for e in entries:
        d = e.to_dict()
        t.add_row(e.id, claimed_text(d), _num(e.predicted, e.unit), f"{e.ratio:.2f}", "meets" if e.hit else "misses")
    console.print(t)
    for e in entries:
        if e.needs:
            console.print(f"{e.id}: what would have to be true (each alone):", markup=False)
            for n in e.needs:
                console.print(f"  {_need_text(n)}", markup=False)
    if written:
        console.print(f"wrote {written}", markup=False)
