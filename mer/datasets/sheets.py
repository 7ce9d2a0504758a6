"""A generic annotation-sheet reader: sheet, header row and column map as data.

Most corpora ship one spreadsheet with one row per sample; a corpus module describes it
with a `SheetLayout` and gets a reader returning `ANNOTATION_COLUMNS` with raw values.
Headers are checked (ignoring case and surrounding spaces), so a file with another layout
is refused instead of read wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mer.datasets.registry import ANNOTATION_COLUMNS
from mer.errors import InputDataError


@dataclass(frozen=True)
class SheetLayout:
    """Where the samples are in a corpus's spreadsheet.

    `columns` maps a header text (or, for headerless sheets, a column position) to one of
    `ANNOTATION_COLUMNS`; columns the corpus lacks (apex in SMIC-E or CAS(ME)^3 part C,
    action units) are filled with empty cells. `header_row` is the 0-based line of the
    header (None: headerless). `keep` = (column, allowed lower-case values) filters rows,
    e.g. the micro-expression rows of a sheet that also lists macro-expressions.
    """

    dataset: str
    sheet: str | int
    header_row: int | None
    columns: Mapping[str | int, str]
    keep: tuple[str | int, tuple[str, ...]] | None = None
    excel_offset: int = field(init=False)

    def __post_init__(self) -> None:
        # Excel line of DataFrame index 0: header line + 2 (1-based, below the header).
        object.__setattr__(self, "excel_offset", 1 if self.header_row is None else self.header_row + 2)


def _find(table: pd.DataFrame, wanted: str | int) -> object:
    """The DataFrame column for a header text or position."""
    if isinstance(wanted, int):
        return table.columns[wanted] if wanted < len(table.columns) else None
    for column in table.columns:
        if str(column).strip().lower() == wanted.lower():
            return column
    return None


def reader(layout: SheetLayout) -> Callable[[Path], pd.DataFrame]:
    """A `read_annotation` function for the layout."""

    def read(path: Path) -> pd.DataFrame:
        table = pd.read_excel(path, sheet_name=layout.sheet, header=layout.header_row, engine="openpyxl")
        wanted = dict(layout.columns)
        if layout.keep is not None:
            wanted.setdefault(layout.keep[0], "_keep")
        found = {source: _find(table, source) for source in wanted}
        missing = [str(source) for source, column in found.items() if column is None]
        if missing:
            raise InputDataError(
                f"unexpected sheet layout: columns {missing} not found in sheet {layout.sheet!r} "
                f"(header line {layout.header_row}); found {[str(c) for c in table.columns]}",
                dataset=layout.dataset,
                path=str(path),
            )
        out = pd.DataFrame({"row": table.index + layout.excel_offset})
        for source, name in wanted.items():
            out[name] = table[found[source]].to_numpy()
        if layout.keep is not None:
            values = out["_keep"].astype(str).str.strip().str.lower()
            out = out[values.isin(layout.keep[1])].drop(columns="_keep")
        for name in ANNOTATION_COLUMNS:
            if name not in out:
                out[name] = None
        out = out[list(ANNOTATION_COLUMNS)]
        return out.dropna(how="all", subset=list(ANNOTATION_COLUMNS[1:])).reset_index(drop=True)

    return read
