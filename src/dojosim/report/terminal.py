"""Every table a command prints goes through here: one place decides how a table meets the terminal or a file.

A view describes a table as a `Grid` (title, columns, rows of rich-markup text) and hands it to `show`:

- on a terminal wide enough, a boxed rich table, nothing wrapped;
- narrower, sentence columns (`Column.wrap_min`) wrap at word boundaries, then the table drops its box lines,
  then the columns marked `drop` go (highest rank first, one line naming them), and last the table turns into
  one key-value block per row. A number never wraps and is never cut: rich would cut it with '…' instead.
- when stdout is not a terminal (a file, a pipe), `console_for` makes the console wide enough for any table,
  so a file gets every table whole, one line per row;
- with --csv, `console_for(csv_output=True)` gives a `CsvConsole`: each grid is written as CSV after a `# title`
  line, tables separated by a blank line; prose (`console.print`) is left out, which is why sentence columns
  that the terminal prints under a table (`in_terminal=False`) are columns of the CSV.
"""

import csv
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

# Not a terminal: a console this wide never wraps a table row or a sentence (rich's default there is 80).
FULL_WIDTH = 10_000
# A sentence squeezed below this reads as a ribbon of one-word lines (a search row once took 20 of them).
PROSE_MIN_WIDTH = 30


@dataclass(frozen=True)
class Column:
    """One column: its header, how it aligns, and how it may give way on a narrow terminal."""

    header: str
    right: bool = False  # numbers align right
    wrap_min: int = 0  # 0: never wraps (numbers, names); else wraps at word boundaries down to this many cells
    drop: int = 0  # 0: always shown; else left out on a narrow terminal, the highest rank first
    in_terminal: bool = True  # False: a CSV column whose text the terminal view prints elsewhere (under the table)
    in_csv: bool = True  # False: a terminal-only rendering of figures the CSV has as their own columns


def prose(
    header: str, wrap_min: int = PROSE_MIN_WIDTH, *, drop: int = 0, in_terminal: bool = True, in_csv: bool = True
) -> Column:
    """A sentence column (a bottleneck, a source, a summary): wraps at word boundaries."""
    return Column(header, wrap_min=wrap_min, drop=drop, in_terminal=in_terminal, in_csv=in_csv)


def num(header: str, *, drop: int = 0) -> Column:
    """A number column: right-aligned, never wrapped."""
    return Column(header, right=True, drop=drop)


@dataclass(frozen=True)
class Grid:
    """A table as data: rows of cells in rich markup, one cell per column."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    show_header: bool = True

    @staticmethod
    def of(title: str, columns: Sequence[Column | str], rows: Sequence[Sequence[object]], **kw: bool) -> "Grid":
        """A grid from plain header names (left-aligned, never wrapped) or `Column`s, and cells of any kind."""
        cols = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
        return Grid(title, cols, tuple(tuple(str(cell) for cell in row) for row in rows), **kw)


class CsvConsole(Console):
    """The console of --csv: tables become CSV on `csv_file`; everything printed as prose is left out."""

    def __init__(self, file: IO[str] | None = None) -> None:
        super().__init__(quiet=True)
        self.csv_file = file or sys.stdout
        self.tables_written = 0

    def write_grid(self, grid: Grid) -> None:
        keep = [i for i, c in enumerate(grid.columns) if c.in_csv]
        if self.tables_written:
            self.csv_file.write("\n")
        self.csv_file.write(f"# {grid.title}\n")
        writer = csv.writer(self.csv_file, lineterminator="\n")
        # A header row even where the terminal table has none: every CSV table reads the same way.
        writer.writerow([grid.columns[i].header.replace("\n", " ") for i in keep])
        writer.writerows([_plain(row[i]) for i in keep] for row in grid.rows)
        self.tables_written += 1


def console_for(csv_output: bool = False, file: IO[str] | None = None) -> Console:
    """The console a command prints its tables to: CSV, the terminal at its width, or a file at full width."""
    if csv_output:
        return CsvConsole(file)
    console = Console(file=file)
    return console if console.is_terminal else Console(file=file, width=FULL_WIDTH)


def is_csv(console: Console) -> bool:
    """Whether tables go out as CSV (a view adds, as a table, what the terminal says in prose)."""
    return isinstance(console, CsvConsole)


def show(console: Console, grid: Grid) -> None:
    """Print a grid as the console allows (see the module's docstring for the order of what gives way)."""
    if isinstance(console, CsvConsole):
        console.write_grid(grid)
        return
    columns = [i for i, c in enumerate(grid.columns) if c.in_terminal]
    width = console.width
    for boxed in (True, False):
        table = _table(grid, columns, width, boxed)
        if table is not None:
            console.print(table)
            return
    for rank in sorted({grid.columns[i].drop for i in columns if grid.columns[i].drop}, reverse=True):
        dropped = [i for i in columns if grid.columns[i].drop >= rank]
        table = _table(grid, [i for i in columns if i not in dropped], width, boxed=False)
        if table is not None:
            console.print(table)
            names = ", ".join(grid.columns[i].header.replace("\n", " ") for i in dropped)
            console.print(f"[dim]left out at {width} columns: {names} (wider terminal, --csv or --json)[/]")
            return
    _print_blocks(console, grid, columns)


def show_lines(console: Console, heading: str | None, items: Sequence[str]) -> None:
    """A heading (if any), then one entry per item, wrapped at word boundaries with a hanging indent (not in CSV)."""
    if isinstance(console, CsvConsole) or not items:
        return
    if heading is not None:
        console.print(heading, highlight=False)
    indent = "  " if heading is not None else ""
    width = max(PROSE_MIN_WIDTH, console.width - len(indent) - 2)
    for item in items:
        lines = Text.from_markup(item).wrap(console, width)
        for n, line in enumerate(lines):
            line.rstrip()
            console.print(Text(indent if n == 0 else indent + "  ") + line, highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------------------------- layout


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def _natural(grid: Grid, i: int) -> tuple[int, int]:
    """A column's width unwrapped, and its narrowest: header words may stack, numbers and names may not."""
    cells = max((cell_len(_plain(row[i])) for row in grid.rows), default=0)
    header = grid.columns[i].header if grid.show_header else ""
    header_lines = max((cell_len(line) for line in header.split("\n")), default=0)
    header_word = max((cell_len(word) for word in header.split()), default=0)
    natural = max(cells, header_lines)
    wrap_min = grid.columns[i].wrap_min
    return natural, min(natural, max(cells if not wrap_min else wrap_min, header_word))


def _widths(grid: Grid, columns: list[int], room: int) -> dict[int, int] | None:
    """Widths for the columns within `room` cells, or None: sentence columns share what numbers leave."""
    sizes = {i: _natural(grid, i) for i in columns}
    if sum(natural for natural, _ in sizes.values()) <= room:
        return {i: natural for i, (natural, _) in sizes.items()}
    if sum(narrowest for _, narrowest in sizes.values()) > room:
        return None
    widths = {i: narrowest for i, (_, narrowest) in sizes.items()}
    spare = room - sum(widths.values())
    for i in columns:  # first unstack the headers of columns that never wrap: a few cells each
        if not grid.columns[i].wrap_min and sizes[i][0] - widths[i] <= spare:
            spare -= sizes[i][0] - widths[i]
            widths[i] = sizes[i][0]
    # Then the sentences share the rest, the least wanting first, each at most its fair share.
    wrapping = sorted((i for i in columns if grid.columns[i].wrap_min), key=lambda i: sizes[i][0] - widths[i])
    for n, i in enumerate(wrapping):
        extra = min(sizes[i][0] - widths[i], spare // (len(wrapping) - n))
        widths[i] += extra
        spare -= extra
    return widths


def _stacked(header: str, width: int) -> str:
    """A header narrower than its words' line: its words stacked (a number column never wraps, nor its header)."""
    lines = header.split("\n")
    if max(cell_len(line) for line in lines) <= width:
        return header
    return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in lines)


def _table(grid: Grid, columns: list[int], width: int, boxed: bool) -> Table | None:
    """The rich table within `width`, or None where even wrapped sentences and stacked headers do not fit."""
    chrome = 3 * len(columns) + 1 if boxed else 2 * (len(columns) - 1)  # borders and padding rich adds
    widths = _widths(grid, columns, width - chrome)
    if widths is None:
        return None
    table = Table(
        title=grid.title or None,
        show_header=grid.show_header,
        box=box.HEAVY_HEAD if boxed else None,  # rich's default box; unboxed, two spaces between columns
        pad_edge=boxed,
        header_style="table.header" if boxed else "bold underline",
    )
    for i in columns:
        col = grid.columns[i]
        table.add_column(
            _stacked(col.header, widths[i]),
            justify="right" if col.right else "left",
            width=widths[i],
            no_wrap=not col.wrap_min,
            overflow="fold",
        )
    for row in grid.rows:
        table.add_row(*(row[i] for i in columns))
    return table


def _print_blocks(console: Console, grid: Grid, columns: list[int]) -> None:
    """The last resort on a narrow terminal: one block per row, its first cell as a heading, then key: value."""
    if grid.title:
        console.print(f"[bold]{grid.title}[/]", highlight=False)
    first, rest = columns[0], columns[1:]
    for row in grid.rows:
        block = Table.grid(padding=(0, 2))
        block.add_column(style="dim", no_wrap=True)
        block.add_column(overflow="fold")
        for i in rest:
            block.add_row(grid.columns[i].header.replace("\n", " "), row[i])
        console.print(f"[bold]{row[first]}[/]", highlight=False)
        console.print(Padding(block, (0, 0, 0, 2), expand=False))
