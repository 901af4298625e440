"""Tables that fit the reader's terminal without cutting a number.

`fit` lays a table out for a given width and returns rich renderables (the CLI prints them):

1. the plain table, when it fits;
2. the same table with headers wrapped over several lines and text cells (splits, notes) wrapped
   at spaces, when that fits;
3. the same with figures allowed to break between number and unit (never inside a number);
4. the table turned on its side (one column per row, e.g. one per system), when it has few rows
   and that fits;
5. otherwise one small two-column block per row.

Numbers are never wrapped and never cut: a number cell is as wide as the number.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

# With no more rows than this, a table too wide for the terminal is shown turned on its side.
MAX_TRANSPOSED_ROWS = 4


@dataclass(frozen=True)
class Col:
    """One column: its header (units belong in it), alignment, and whether its cells may wrap."""

    header: str
    justify: str = "right"
    wrap: bool = False  # text (splits, notes) may wrap at spaces; numbers never do


Cell = str | Text


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _natural(col: Col, cells: Sequence[Cell]) -> int:
    return max([cell_len(col.header)] + [max((cell_len(ln) for ln in _plain(c).splitlines()), default=0)
                                         for c in cells])


def _minimum(col: Col, cells: Sequence[Cell]) -> int:
    body = [(_longest_word if col.wrap else cell_len)(_plain(c)) for c in cells]
    return max([_longest_word(col.header), 1] + body)


def table_width(widths: Sequence[int]) -> int:
    """Width of a rich table with the default box and padding: 2 spaces + 1 rule per column, + 1."""
    return sum(widths) + 3 * len(widths) + 1


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


def _table(title, cols: Sequence[Col], rows, widths, wrap_headers: bool, show_header: bool = True) -> Table:
    t = Table(title=title, show_header=show_header, box=box.HEAVY_HEAD, title_justify="center")
    for col, w in zip(cols, widths):
        head = col.header
        if wrap_headers and cell_len(head) > w:
            head = "\n".join(textwrap.wrap(head, w, break_long_words=False))
        t.add_column(head, justify=col.justify, no_wrap=not col.wrap,
                     overflow="fold", width=w)
    for r in rows:
        t.add_row(*(_text(c) for c in r))
    return t


def fit(title: str | None, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, *,
        key: int = 0) -> list:
    """Renderables showing ``rows`` within ``width`` columns (see the module doc for the layouts).

    ``key`` is the column that names a row (a system, a part): it heads the row's column when
    the table is turned on its side, and titles the row's block in the last resort."""
    rows = [list(r) for r in rows]
    for r in rows:
        if len(r) != len(cols):
            raise ValueError(f"row has {len(r)} cells for {len(cols)} columns")
    columns = [[r[i] for r in rows] for i in range(len(cols))]
    natural = [_natural(c, cells) for c, cells in zip(cols, columns)]
    if table_width(natural) <= width:
        return [_table(title, cols, rows, natural, False)]
    minimum = [_minimum(c, cells) for c, cells in zip(cols, columns)]
    if table_width(minimum) <= width:
        return [_table(title, cols, rows, _spread(minimum, natural, width), True)]
    # Let a figure break between its number and its unit ("≈ 2.12" over "MW"): no digit is cut.
    loose = [Col(c.header, c.justify, wrap=True) for c in cols]
    loose_min = [_minimum(c, cells) for c, cells in zip(loose, columns)]
    if table_width(loose_min) <= width:
        return [_table(title, loose, rows, _spread(loose_min, natural, width), True)]
    if 0 < len(rows) <= MAX_TRANSPOSED_ROWS:
        side = transpose(cols, rows, key)
        out = fit(title, side[0], side[1], width, key=0) if _fits_plain(side, width) else None
        if out:
            return out
    return _records(title, cols, rows, width, key)


def transpose(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], key: int = 0):
    """(columns, rows) of the table turned on its side: one column per row, named by its ``key``."""
    new_cols = [Col("", justify="left", wrap=True)] + [Col(_plain(r[key]), justify="right", wrap=True)
                                                        for r in rows]
    new_rows = [[cols[i].header] + [r[i] for r in rows] for i in range(len(cols)) if i != key]
    return new_cols, new_rows


def _spread(minimum: Sequence[int], natural: Sequence[int], width: int) -> list[int]:
    """Column widths: each column's minimum, plus the spare width shared among the columns still
    short of their natural width in proportion to what each lacks."""
    widths = list(minimum)
    spare = width - table_width(widths)
    lack = [max(0, n - m) for n, m in zip(natural, minimum)]
    total = sum(lack)
    if spare <= 0 or total == 0:
        return widths
    if spare >= total:
        return [m + k for m, k in zip(minimum, lack)]
    for i, k in enumerate(lack):
        widths[i] += spare * k // total
    left = spare - sum(w - m for w, m in zip(widths, minimum))
    for i in sorted(range(len(widths)), key=lambda j: natural[j] - widths[j], reverse=True)[:left]:
        widths[i] += 1
    return widths


def _fits_plain(side, width: int) -> bool:
    cols, rows = side
    columns = [[r[i] for r in rows] for i in range(len(cols))]
    return table_width([_minimum(c, cells) for c, cells in zip(cols, columns)]) <= width


def _records(title, cols: Sequence[Col], rows, width: int, key: int) -> list:
    """One two-column block (field, value) per row; values that are text wrap, numbers never."""
    out: list = []
    if title:
        out.append(Text(title, style="bold"))
    for r in rows:
        t = Table(title=_plain(r[key]), show_header=False, box=box.SIMPLE, title_justify="left")
        t.add_column("field", justify="left", overflow="fold")
        t.add_column("value", justify="right", overflow="fold")
        for i, col in enumerate(cols):
            if i != key:
                t.add_row(Text(col.header), _text(r[i]))
        out.append(t)
    return out
