"""Spool folder: the ERP's print program drops PDFs (with a JSON sidecar) or FatturaPA files.

Layout of ``SPOOL_DIR``::

    SPOOL_DIR/                   the ERP writes here
      FATTURA-2024-00123.pdf     the document
      FATTURA-2024-00123.json    its sidecar: {"type", "number", "date", "party_code", totals...}
                                 (+ "replace": true to replace a document of another party or other totals)
      FATTURA__2024-03-15__123__C0001.pdf   or no sidecar: TYPE__DATE__NUMBER__PARTY.pdf
      IT01234567890_FPA01.xml    FatturaPA files (.xml, .xml.p7m) need no sidecar
      processing/                claimed by the running import (do not touch)
      done/                      imported
      error/                     refused, each with <name>.reason.txt saying why (in Italian)

Rules that make it crash-safe (no file lost, none imported twice):
- Files are only ever *renamed* inside SPOOL_DIR (same file system: atomic), never deleted.
- A file is claimed by renaming it into ``processing/`` before anything is read; one import runs
  at a time (a lock file in SPOOL_DIR plus a Redis lock when Redis answers).
- The document is committed with the PDF's SHA-256 (``Document.pdf_sha256``) before the files are
  moved on. A run that finds files left in ``processing/`` by a run that was stopped resumes them:
  when the same type+year+number already holds that very PDF, it only moves the files to ``done/``;
  otherwise the upsert by type+year+number writes the document once (never a duplicate).
- Files whose name starts with '.' or ends with .tmp/.part, and files younger than
  SPOOL_MIN_AGE_SECONDS, are left alone (the ERP may still be writing them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app

from ..extensions import db
from ..models import Document
from .audit import audit
from .intake import IntakeError, parse_document_payload, upsert_document
from .sending import database_unavailable

SUBDIRS = ("processing", "done", "error")
DOCUMENT_EXTENSIONS = (".pdf",)
FATTURAPA_EXTENSIONS = (".xml", ".p7m")
NAME_CONVENTION = re.compile(
    r"^(?P<type>[A-Z_]+)__(?P<date>\d{4}-\d{2}-\d{2})__(?P<number>[^_/\\][^/\\]*?)__(?P<party>[^/\\]+)\.pdf$",
    re.IGNORECASE,
)
MAX_SIDECAR_BYTES = 2 * 1024 * 1024
MAX_PDF_BYTES = 25 * 1024 * 1024  # as the API's body limit
SPOOL_REPLACE_HINT = 'per sostituirlo aggiungi "replace": true al file JSON di accompagnamento'
FATTURAPA_REPLACE_HINT = (
    "per sostituirlo importa il file dalla pagina «Importa documenti» spuntando «Sostituisci» "
    "o con flask import-fatturapa --replace"
)


@dataclass
class SpoolReport:
    """What one run did."""

    imported: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    resumed: int = 0
    skipped_busy: bool = False

    def as_dict(self) -> dict:
        """JSON-friendly summary."""
        return {
            "imported": self.imported,
            "errors": self.errors,
            "resumed": self.resumed,
            "skipped_busy": self.skipped_busy,
        }


def spool_dir() -> str:
    """The configured spool folder, with its sub-folders created."""
    root = current_app.config["SPOOL_DIR"]
    for sub in SUBDIRS:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    return root


def _sha256(path: str) -> str:
    """SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ignored(name: str) -> bool:
    """Temporary or hidden files the ERP may still be writing."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith((".tmp", ".part", ".reason.txt"))


def _free_name(directory: str, name: str) -> str:
    """A name not yet used in directory (adds -2, -3... before the extension)."""
    if not os.path.exists(os.path.join(directory, name)):
        return name
    stem, ext = os.path.splitext(name)
    n = 2
    while os.path.exists(os.path.join(directory, f"{stem}-{n}{ext}")):
        n += 1
    return f"{stem}-{n}{ext}"


def _display(name: str) -> str:
    """A file name as text: one that is not UTF-8 (a Windows share) is read as Windows-1252."""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _mtime(path: str) -> float:
    """Modification time of the entry itself (a symbolic link is not followed)."""
    return os.lstat(path).st_mtime


def _items(root: str, min_age: float) -> list[tuple[str, str | None]]:
    """(main file, sidecar or None) ready in the spool folder, oldest first.

    Symbolic links are taken too, so that they are moved to error/ rather than followed.
    """
    now = time.time()
    names = {
        n
        for n in os.listdir(root)
        if not _ignored(n)
        and (os.path.islink(os.path.join(root, n)) or os.path.isfile(os.path.join(root, n)))
    }
    items: list[tuple[str, str | None]] = []
    for name in names:
        lower = name.lower()
        path = os.path.join(root, name)
        if now - _mtime(path) < min_age:
            continue
        stem = name[: -len(".pdf")] if lower.endswith(".pdf") else None
        if lower.endswith(DOCUMENT_EXTENSIONS):
            sidecar = f"{stem}.json"
            if sidecar in names:
                if now - _mtime(os.path.join(root, sidecar)) >= min_age:
                    items.append((name, sidecar))
            else:
                items.append((name, None))  # name convention, or an error saying the sidecar is missing
        elif lower.endswith(FATTURAPA_EXTENSIONS):
            items.append((name, None))
        elif lower.endswith(".json"):
            continue  # handled with its PDF
    items.sort(key=lambda item: (_mtime(os.path.join(root, item[0])), item[0]))
    return items


@contextlib.contextmanager
def _single_runner(root: str):
    """Yield True when this process holds the spool lock (file lock + Redis lock when available)."""
    with open(os.path.join(root, ".lock"), "a+") as handle:
        redis_lock = None
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                from ..queue import get_redis

                redis_lock = get_redis().lock("recapito:spool:lock", timeout=3600, blocking_timeout=0)
                if not redis_lock.acquire(blocking=False):
                    yield False
                    return
            except Exception:  # noqa: BLE001 - Redis down: the file lock still protects a single host
                redis_lock = None
            yield True
        finally:
            if redis_lock is not None:
                with contextlib.suppress(Exception):
                    redis_lock.release()
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def import_spool() -> SpoolReport:
    """Import everything ready in the spool folder (resuming what a stopped run left behind)."""
    root = spool_dir()
    report = SpoolReport()
    with _single_runner(root) as mine:
        if not mine:
            report.skipped_busy = True
            return report
        processing = os.path.join(root, "processing")
        leftovers = _claimed_items(root, processing)
        report.resumed = len(leftovers)
        for main, sidecar in leftovers:
            _process(root, main, sidecar, report)
        min_age = float(current_app.config.get("SPOOL_MIN_AGE_SECONDS", 2))
        for main, sidecar in _items(root, min_age):
            # Claim: rename into processing/ (atomic). The sidecar goes first: a PDF alone in the
            # spool folder is never mistaken for a "name convention" file after a crash.
            if sidecar:
                os.rename(os.path.join(root, sidecar), os.path.join(processing, sidecar))
            os.rename(os.path.join(root, main), os.path.join(processing, main))
            _process(root, main, sidecar, report)
    return report


def _claimed_items(root: str, processing: str) -> list[tuple[str, str | None]]:
    """Items a stopped run left in processing/ (pulling back a half-claimed pair's PDF)."""
    names = sorted(n for n in os.listdir(processing) if not _ignored(n))
    items: list[tuple[str, str | None]] = []
    for name in names:
        lower = name.lower()
        if lower.endswith(".json"):
            pdf = name[:-5] + ".pdf"
            if pdf not in names:
                if os.path.exists(os.path.join(root, pdf)):
                    os.rename(os.path.join(root, pdf), os.path.join(processing, pdf))
                    items.append((pdf, name))
                else:
                    items.append((name, None))  # an orphan sidecar: goes to error/ with a reason
            continue
        if lower.endswith(".pdf"):
            sidecar = name[:-4] + ".json"
            items.append((name, sidecar if sidecar in names else None))
        else:
            items.append((name, None))
    return items


def _process(root: str, main: str, sidecar: str | None, report: SpoolReport) -> None:
    """Import one claimed item and move it to done/ or error/."""
    processing = os.path.join(root, "processing")
    path = os.path.join(processing, main)
    shown = _display(main)
    try:
        if any(os.path.islink(os.path.join(processing, n)) for n in (main, sidecar) if n):
            raise IntakeError(
                {
                    "file": "collegamento simbolico: la cartella di spool accetta solo file veri "
                    "(un collegamento potrebbe far leggere file di altre cartelle)"
                }
            )
        lower = main.lower()
        if lower.endswith(DOCUMENT_EXTENSIONS) and os.path.getsize(path) > MAX_PDF_BYTES:
            raise IntakeError(
                {
                    "file": f"PDF troppo grande ({os.path.getsize(path) / 1048576:.1f} MB; il limite è "
                    f"{MAX_PDF_BYTES / 1048576:.0f} MB)"
                }
            )
        sha = _sha256(path)
        if lower.endswith(".json"):
            raise IntakeError({"file": "file JSON senza il PDF corrispondente"})
        if lower.endswith(FATTURAPA_EXTENSIONS):
            results = _import_fatturapa(path, shown)
        else:
            results = [_import_pdf(path, shown, sidecar, sha)]
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if isinstance(exc, (IntakeError, ValueError, OSError)):
            reason = _reason(exc)
        elif database_unavailable(exc):
            raise  # the file stays in processing/ and is resumed by the next run
        else:
            # Anything else is about this file too (a value the database refuses, a parser's surprise):
            # it must not stop the run nor block the folder at every later run.
            current_app.logger.exception("spool: unexpected error on %s", shown)
            reason = f"errore inatteso durante l'importazione ({type(exc).__name__}): {str(exc)[:300]}"
        _move(root, "error", main, sidecar, reason=reason)
        report.errors.append({"file": shown, "error": reason})
        return
    _move(root, "done", main, sidecar)
    for result in results:
        report.imported.append({"file": shown, **result})


def _reason(exc: Exception) -> str:
    """A sentence a person understands."""
    if isinstance(exc, IntakeError):
        return "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
    if isinstance(exc, OSError):
        return f"file non leggibile ({exc.strerror or exc})"
    return str(exc)


def _read_sidecar(path: str) -> dict:
    """The JSON sidecar (size-limited)."""
    if os.path.getsize(path) > MAX_SIDECAR_BYTES:
        raise IntakeError({"sidecar": "file JSON troppo grande"})
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeError({"sidecar": f"JSON non valido ({exc})"}) from exc
    except RecursionError as exc:  # a spool run that raised it stopped, and left the file in processing/
        raise IntakeError({"sidecar": "JSON non valido (annidato troppo in profondità)"}) from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise IntakeError({"sidecar": "JSON non valido (numero troppo lungo)"}) from exc


def _import_pdf(path: str, name: str, sidecar: str | None, sha: str) -> dict:
    """A PDF with its sidecar or named by the convention TYPE__DATE__NUMBER__PARTY.pdf."""
    if sidecar:
        payload = _read_sidecar(os.path.join(os.path.dirname(path), sidecar))
    else:
        match = NAME_CONVENTION.match(name)
        if not match:
            raise IntakeError(
                {
                    "file": "manca il file JSON di accompagnamento e il nome non segue la convenzione "
                    "TIPO__AAAA-MM-GG__NUMERO__CODICECLIENTE.pdf"
                }
            )
        payload = {
            "type": match["type"].upper(),
            "date": match["date"],
            "number": match["number"],
            "party_code": match["party"],
        }
    replace = payload.get("replace", False) if isinstance(payload, dict) else False
    if not isinstance(replace, bool):
        raise IntakeError({"replace": "deve essere true o false"})
    data = parse_document_payload(payload)
    with open(path, "rb") as handle:
        pdf = handle.read()
    if not pdf.startswith(b"%PDF"):
        raise IntakeError({"file": "il file non è un PDF"})
    existing = db.session.scalar(
        db.select(Document).where(
            Document.type_code == data.type_code, Document.year == data.year, Document.number == data.number
        )
    )
    if existing is not None and existing.pdf_sha256 == sha and existing.source == "spool":
        return {
            "document_id": existing.id,
            "type": existing.type_code,
            "number": existing.number,
            "already_imported": True,
        }
    data.pdf = pdf
    data.extra = {
        **data.extra,
        "spool": {
            "file": name,
            "sha256": sha,
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    document, created = upsert_document(
        data, source="spool", source_ref=name, replace=replace, replace_hint=SPOOL_REPLACE_HINT
    )
    audit("document.import_spool", document, file=name, sha256=sha, created=created)
    return {
        "document_id": document.id,
        "type": document.type_code,
        "number": document.number,
        "already_imported": False,
    }


def _import_fatturapa(path: str, name: str) -> list[dict]:
    """A FatturaPA file dropped in the spool folder, or an SdI notification (by its name or root element)."""
    from . import sdi
    from .fatturapa import MAX_FILE_BYTES, FatturaPAError, import_fatturapa

    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if sdi.looks_like_notification(name, data):
        try:
            summary = sdi.import_notification(data, name, source="spool")
        except sdi.SdiError as exc:
            raise ValueError(str(exc)) from exc
        if not summary["duplicate"]:
            audit(
                "sdi.import",
                None,
                file=name,
                kind=summary["kind"],
                sdi_id=summary["sdi_id"],
                notification_id=summary["_id"],
            )
        return [
            {
                "sdi_kind": summary["kind"],
                "type": "SdI " + summary["kind"],
                "number": summary["invoice_file"],
                "documents": summary["documents"],
                "already_imported": summary["duplicate"],
            }
        ]
    try:
        summaries = import_fatturapa(data, name, replace_hint=FATTURAPA_REPLACE_HINT)
    except FatturaPAError as exc:
        raise ValueError(str(exc)) from exc
    for summary in summaries:
        audit(
            "document.import_fatturapa",
            None,
            file=name,
            number=summary["number"],
            document_id=summary["_document_id"],
        )
    return [
        {
            "document_id": s["_document_id"],
            "type": s["document_type"],
            "number": s["number"],
            "already_imported": False,
        }
        for s in summaries
    ]


def _move(root: str, target: str, main: str, sidecar: str | None, reason: str = "") -> None:
    """Move a processed item from processing/ to done/ or error/ (reason file first, then files)."""
    processing = os.path.join(root, "processing")
    directory = os.path.join(root, target)
    new_main = _free_name(directory, main)
    if reason:
        reason_path = os.path.join(directory, new_main + ".reason.txt")
        tmp = reason_path + ".tmp"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(f"{_display(main)}: {reason}\n({stamp})\n")
        os.replace(tmp, reason_path)
    if sidecar and os.path.exists(os.path.join(processing, sidecar)):
        stem = os.path.splitext(new_main)[0]
        os.rename(
            os.path.join(processing, sidecar), os.path.join(directory, _free_name(directory, stem + ".json"))
        )
    os.rename(os.path.join(processing, main), os.path.join(directory, new_main))


def spool_status() -> dict:
    """Counts of files waiting, in progress, done and refused (for the UI)."""
    root = spool_dir()

    def count(sub: str = "") -> int:
        folder = os.path.join(root, sub) if sub else root
        return sum(
            1
            for n in os.listdir(folder)
            if os.path.isfile(os.path.join(folder, n)) and not _ignored(n) and not n.lower().endswith(".json")
        )

    errors = []
    error_dir = os.path.join(root, "error")
    for name in sorted(os.listdir(error_dir), key=lambda n: -os.path.getmtime(os.path.join(error_dir, n)))[
        :20
    ]:
        if name.endswith(".reason.txt"):
            with open(os.path.join(error_dir, name), encoding="utf-8", errors="replace") as handle:
                errors.append(
                    {"file": _display(name[: -len(".reason.txt")]), "reason": handle.read().strip()}
                )
    return {
        "dir": root,
        "waiting": count(),
        "processing": count("processing"),
        "done": count("done"),
        "error": count("error"),
        "recent_errors": errors,
    }
