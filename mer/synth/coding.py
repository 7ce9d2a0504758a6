"""Spreadsheets (the CASME II coding file and other corpora's sheets), byte-identical for equal rows.

openpyxl stamps the save time into docProps/core.xml and every zip entry; here the document
properties carry a fixed date and the archive is rewritten with sorted entries, a fixed
entry time and fixed attributes.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from mer.atomic import atomic_path

# The 2014 release's first-sheet layout: blank headers at columns 2 and 6 (pandas: "Unnamed: 2").
HEADER = (
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
)
FIXED_TIME = datetime.datetime(2014, 5, 8)


def _workbook_bytes(sheets: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> bytes:
    """An xlsx holding `sheets` = (title, lines) in order; None cells stay empty."""
    workbook = Workbook()
    for index, (title, lines) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = title
        for line in lines:
            sheet.append(list(line))
    workbook.properties.creator = "mer synth"
    workbook.properties.created = FIXED_TIME
    workbook.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    # ExcelWriter directly: openpyxl's save_workbook would overwrite `modified` with now().
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return buffer.getvalue()


def _normalised_zip(data: bytes) -> bytes:
    """The same archive with entries sorted by name and fixed timestamps and attributes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in sorted(source.namelist()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(name))
    return out.getvalue()


def write_workbook(path: Path, sheets: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
    """Write an xlsx with the given sheets (title, lines), byte-identical for equal input."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(_normalised_zip(_workbook_bytes(sheets)))


def write_coding(path: Path, rows: Sequence[Sequence[object]]) -> None:
    """Write the CASME II coding file: one row per clip, in HEADER's column order (None = empty cell)."""
    write_workbook(path, [("Sheet1", [HEADER, *rows])])
