"""Spreadsheet files in and out: CSV and XLSX tables read row by row (bounded), and written safely.

Reading (`read_table`) bounds what a file may make us hold in memory and refuses damaged or
ambiguous files with an Italian message naming the line; writing (`to_csv`, `to_xlsx`) neutralises
formulas in every cell (`safe_cell`), and `unguard_cell` reads an exported value back as it was.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from .archive_bounds import MAX_UNPACKED_BYTES, unpacked_size

# Bounds on what a file may make us hold in memory (an XLSX is a zip: a few KB can declare a sheet of
# a million rows of 16,384 cells, which openpyxl pads with empty cells).
MAX_ROWS = 200_000
MAX_COLUMNS = 256
MAX_XLSX_UNPACKED_BYTES = MAX_UNPACKED_BYTES


class ImportFileError(Exception):
    """The file cannot be read at all (format, encoding, missing columns)."""


def _cell(value: Any) -> str:
    """A cell as text (numbers from XLSX without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "strftime"):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def read_table(data: bytes, filename: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) of a CSV or XLSX file, header included (line 1)."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        _check_unpacked_size(data)
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise ImportFileError(
                f"Il file XLSX non si apre ({type(exc).__name__}): è un foglio Excel valido?"
            ) from exc
        try:
            sheet = workbook.worksheets[0]
            width = min(sheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
            rows = []
            for number, row in enumerate(sheet.iter_rows(values_only=True, max_col=width), start=1):
                if number > MAX_ROWS:
                    raise ImportFileError(
                        f"Riga {number}: il foglio ha più di {MAX_ROWS} righe "
                        "(anche vuote): dividilo in più file."
                    )
                rows.append([_cell(v) for v in row] if any(v is not None for v in row) else [])
        except ImportFileError:
            raise
        except Exception as exc:  # a workbook that opens may still be damaged inside its sheet
            raise ImportFileError(
                f"Il foglio del file XLSX è danneggiato ({type(exc).__name__}): "
                "salvalo di nuovo da Excel e riprova."
            ) from exc
        finally:
            workbook.close()
        yield from enumerate(rows, start=1)
        return
    if not name.endswith((".csv", ".txt")):
        raise ImportFileError("Formato non supportato: carica un file .csv o .xlsx.")
    # Excel's «Testo Unicode» is UTF-16 with a BOM; then UTF-8 (with or without BOM), then Windows-1252.
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # cp1252 leaves five byte values undefined: such a file is not text
        raise ImportFileError(
            "Il file non è un testo CSV leggibile (né UTF-8 né Windows-1252): "
            "esportalo di nuovo dal gestionale come CSV."
        )
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFileError(
            f"Riga {line}: il file contiene caratteri nulli (NUL), quindi non è un testo CSV: "
            "esportalo di nuovo dal gestionale come CSV."
        )
    first_line = text.split("\n", 1)[0]
    delimiter = max([";", ",", "\t", "|"], key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = last_start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            _check_quotes_closed(text, delimiter, last_start, reader.line_num)
            return
        except csv.Error as exc:  # the only one left with newline="": a field over the size limit
            raise ImportFileError(
                f"Riga {start}: un campo supera {csv.field_size_limit()} caratteri "
                '(forse un apice «"» aperto e mai chiuso): controlla il file.'
            ) from exc
        yield start, [c.strip() for c in cells]
        last_start, start = start, reader.line_num + 1


def _unclosed_quote(record: str, delimiter: str) -> bool:
    """True when a quoted field of this CSV text opens and never closes.

    Python's csv module then silently takes the rest of the file as that one field. Quotes are special
    only at the start of a field (as in the csv module); "" inside a quoted field is an escaped quote."""
    field_end = re.compile("[" + re.escape(delimiter) + "\r\n]")
    pos, size = 0, len(record)
    while pos < size:
        if record[pos] == '"':
            pos += 1
            while True:
                close = record.find('"', pos)
                if close == -1:
                    return True
                if record.startswith('"', close + 1):
                    pos = close + 2
                    continue
                pos = close + 1
                break
        found = field_end.search(record, pos)
        if found is None:
            return False
        pos = found.end()
    return False


def _check_quotes_closed(text: str, delimiter: str, last_start: int, last_line: int) -> None:
    """Refuse a CSV whose last record opens a quote that never closes (it would swallow every line after it)."""
    lines = io.StringIO(text, newline="").readlines()
    if _unclosed_quote("".join(lines[last_start - 1 :]), delimiter):
        span = ""
        if last_line > last_start:
            span = f": le righe {last_start}–{last_line} finirebbero tutte in un solo campo"
        raise ImportFileError(
            f'Riga {last_start}: un apice «"» si apre e non è mai chiuso{span}. '
            "Chiudi l'apice (o toglilo) e carica di nuovo il file."
        )


def _check_unpacked_size(data: bytes) -> None:
    """Refuse an XLSX that would unpack beyond MAX_XLSX_UNPACKED_BYTES (a zip bomb), before reading it."""
    unpacked = unpacked_size(data)  # None: not a zip, load_workbook says so in its own words
    if unpacked is not None and unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError(
            f"Il file XLSX, decompresso, supera {MAX_XLSX_UNPACKED_BYTES // 1048576} MB: "
            "non sembra un elenco di anagrafiche o contatti (salvalo come CSV)."
        )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text (CSV/formula injection) with a leading apostrophe.

    A value that itself starts with an apostrophe gets one more, so `unguard_cell` gives back exactly
    what was exported."""
    if isinstance(value, str) and value[:1] in (*FORMULA_STARTS, "'"):
        return "'" + value
    return value


def unguard_cell(value: str) -> str:
    """The value `safe_cell` guarded, as it was: an import reads back what the export wrote (issue 14.13)."""
    if value[:1] == "'" and value[1:2] in (*FORMULA_STARTS, "'"):
        return value[1:]
    return value


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """CSV separated by semicolons, UTF-8 with BOM (what Excel in Italian opens correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(header: list[str], rows: list[list[Any]], title: str = "Export") -> bytes:
    """An XLSX workbook with one sheet."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
