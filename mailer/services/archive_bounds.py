"""Bounds on zip archives (XLSX, DOCX, ODT): what a few KB may declare to unpack to (zip bombs).

One rule for every place that takes an Office file: the contacts/parties import (XLSX) and the
generic documents that are sent (DOCX, XLSX, ODT, and FatturaPA/API attachments, which pass the
same checks).
"""

from __future__ import annotations

import io
import zipfile
from typing import overload

MAX_UNPACKED_BYTES = 200 * 1024 * 1024


@overload
def unpacked_size(archive: zipfile.ZipFile) -> int: ...
@overload
def unpacked_size(archive: bytes) -> int | None: ...
def unpacked_size(archive: zipfile.ZipFile | bytes) -> int | None:
    """Sum of the entries' declared uncompressed sizes; None when the bytes are not a zip archive."""
    if isinstance(archive, zipfile.ZipFile):
        return sum(info.file_size for info in archive.infolist())
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            return unpacked_size(opened)
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
