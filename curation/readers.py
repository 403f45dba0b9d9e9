"""One datatrove reader for every input a curation recipe takes: WARC/ARC, HTML files, JSONL, Parquet, CSV,
plain text, PDF (``pdf.read_pdf``: reading order, tables as markdown) and catalog versions (doc/sft/rl).

datatrove's own readers skip undecodable records and broken files with a log line; here every unreadable
input is quarantined with its file, offset (byte offset for WARC, line/row number otherwise) and reason, so
``inputs = kept + dropped + quarantined`` holds (see ``ledger.py``). A truncated archive (``.warc``/``.warc.gz``/
``.arc.gz`` cut inside its last record, which warcio ends quietly) counts that partial record as one input
quarantined as ``truncated_record: ...`` (whatever its record type); a cut inside a gzip trailer loses nothing.
Files are sharded over ranks round-robin on a sorted list, as datatrove's ``get_shard`` does.
A PDF is one document (its ``offset`` is 0); an encrypted, malformed or wholly scanned PDF is quarantined with
its reason, and each page of a text PDF that is an image without a text layer is one more input, quarantined
as ``scanned_page`` (offset = page number) so that OCR work can be found.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from .ledger import Ledger
from .sources import expand_inputs, text_of

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
DEFAULT_MAX_BYTES = 50 << 20


class BadInput(Exception):
    """An input record that cannot become a document; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def decode_html(payload: bytes, declared: str | None = None) -> str:
    """Bytes of a page → str, using the declared charset, then <meta charset>, then UTF-8 (strict)."""
    candidates = []
    if declared:
        candidates.append(declared)
    m = META_CHARSET.search(payload[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for enc in candidates:
        try:
            return payload.decode(enc)
        except LookupError:
            continue
        except UnicodeDecodeError as e:
            last = f"{enc} decode failed at byte {e.start}"
    raise BadInput("invalid_encoding", last)


def _charset(content_type: str | None) -> str | None:
    if content_type and "charset=" in content_type.lower():
        return content_type.lower().split("charset=")[1].split(";")[0].strip(" \"'") or None
    return None


class CurationReader(PipelineStep):
    """Reads files, folders and catalog refs into datatrove ``Document``s.

    ``text_key``/``id_key``/``url_key`` map record fields for JSONL/Parquet/CSV (``text_key`` may also point
    at ``messages``/``prompt`` lists: their contents become the text). HTML payloads get
    ``metadata["html"] = True`` so the extraction step knows to extract them; text records pass through it.
    """

    name = "📖 huijin reader"
    type = "📖 - READER"

    def __init__(self, inputs: list[str], ledger: Ledger | None = None, store_root: str | None = None,
                 text_key: str | list[str] = "text", id_key: str = "id", url_key: str = "url", max_bytes: int = DEFAULT_MAX_BYTES,
                 keep_record: bool = False, limit: int = -1, progress: bool = False,
                 text_in_folders: bool = False) -> None:
        super().__init__()
        self.text_in_folders = text_in_folders  # read .txt/.md found in folders too (default: notes, skipped)
        self.inputs = [str(i) for i in inputs]
        self.ledger = ledger or Ledger()
        self.store_root = store_root
        self.text_key, self.id_key, self.url_key = text_key, id_key, url_key
        self.max_bytes = max_bytes
        self.keep_record = keep_record  # keep the source record (for verbs that write records back out)
        self.limit = limit
        self.progress = progress  # a tqdm bar of documents read per rank

    # -- datatrove entry point ---------------------------------------------------------------------
    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        from tqdm import tqdm

        skipped: list[str] = []
        items = expand_inputs(self.inputs, self.store_root, self.text_in_folders, skipped)[rank::world_size]
        if skipped and rank == 0:  # counted, and said once: .txt/.md in a folder are notes unless asked
            self.stat_update("skipped_note_files", value=len(skipped))
            logger.warning(f"skipped {len(skipped)} .txt/.md file(s) in input folders as notes, e.g. {skipped[0]} "
                           "(reader option text_in_folders: true reads them)")
        n = 0
        with tqdm(desc=f"rank {rank} read", unit="doc", disable=not self.progress, leave=False) as bar:
            for fmt, path in items:
                self.stat_update("input_files")
                for doc in self._read(fmt, path, rank):
                    self.stat_update("documents")
                    self.update_doc_stats(doc)
                    yield doc
                    bar.update()
                    n += 1
                    if 0 <= self.limit <= n:
                        return

    def _read(self, fmt: str, path: str, rank: int) -> Iterator[Document]:
        reader = {"warc": self._warc, "html": self._html, "jsonl": self._jsonl, "json": self._json,
                  "parquet": self._parquet,
                  "csv": self._csv, "text": self._text, "pdf": self._pdf, "catalog": self._catalog}[fmt]
        yield from reader(path, rank)

    # -- accounting helpers --------------------------------------------------------------------------
    def _doc(self, rank: int, text: str, path: str, offset: int | str, meta: dict[str, Any],
             doc_id: str | None = None) -> Document | None:
        """Count one input; return its Document, or quarantine it (empty / too large)."""
        acc = self.ledger.of(rank)
        acc.inputs += 1
        if not isinstance(text, str) or not text.strip():
            self.ledger.quarantine(rank, "empty_document", path, _int(offset), meta.get("url"))
            return None
        if len(text) > self.max_bytes:
            self.ledger.quarantine(rank, "too_large", path, _int(offset), f"{len(text)} characters")
            return None
        meta = {"source": path, "offset": offset, **meta}
        return Document(text=text, id=str(doc_id or f"{path}/{offset}"), metadata=meta)

    def _reader_drop(self, rank: int, reason: str) -> None:
        acc = self.ledger.of(rank)
        acc.inputs += 1
        acc.reader_drops[reason] += 1
        self.stat_update(f"dropped_{reason}")

    def _bad(self, rank: int, reason: str, path: str, offset: int | None, record: Any = None) -> None:
        self.ledger.of(rank).inputs += 1
        self.ledger.quarantine(rank, reason, path, offset, record)

    # -- formats -------------------------------------------------------------------------------------
    def _warc(self, path: str, rank: int) -> Iterator[Document]:
        from warcio.archiveiterator import ArchiveIterator

        offset = 0
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh, arc2warc=True)
                cut = False
                for record in it:
                    doc, offset, cut = self._warc_record(record, path, it, rank)
                    if doc is not None:
                        yield doc
                # warcio ends quietly when the last record's headers are cut short: left-over bytes are one record
                end = it.offset
                tail = fh.seek(0, 2) - end
                if not cut and tail > 0 and _has_content(fh, end, path):
                    self._bad(rank, f"truncated_record: {tail} bytes after the last whole record", path, end)
        except Exception as e:  # warcio, gzip and zlib raise many types for broken archives
            # the rest of a broken archive cannot be resynchronised: one quarantine entry for it
            self._bad(rank, f"bad_warc: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}", path, offset)

    def _warc_record(self, record: Any, path: str, it: Any, rank: int) -> tuple[Document | None, int, bool]:
        """The record's document (or None), its offset, and whether it was cut short (then quarantined)."""
        # the payload must be read before get_record_offset(), which skips to the record's end
        try:
            payload = record.content_stream().read()
            error = None
        except Exception as e:
            payload, error = b"", e
        offset = it.get_record_offset()  # drains the record: its LimitReader then says whether bytes were missing
        short = _truncated(record)
        if short:  # a truncated archive: the last record ends early (counted as an input, quarantined)
            url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>") or None
            self._bad(rank, f"truncated_record: {short}", path, offset, url)
            return None, offset, True
        if record.rec_type not in ("response", "resource", "conversion"):
            self.stat_update(f"skipped_{record.rec_type}")  # requests, warcinfo, metadata, revisits: not documents
            return None, offset, False
        return self._warc_payload(record, payload, error, path, offset, rank), offset, False

    def _warc_payload(self, record: Any, payload: bytes, error: Exception | None, path: str, offset: int,
                      rank: int) -> Document | None:
        headers = record.http_headers
        ctype = (headers.get_header("Content-Type") if headers else None) or record.rec_headers.get_header(
            "WARC-Identified-Payload-Type") or record.rec_headers.get_header("Content-Type") or ""
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>") or None
        meta = {"url": url, "date": record.rec_headers.get_header("WARC-Date"), "warc_type": record.rec_type}
        if error is not None:
            self._bad(rank, f"bad_record: {type(error).__name__}: {error}"[:200], path, offset, url)
            return None
        is_html = any(t in ctype.lower() for t in HTML_TYPES) or (not ctype and b"<html" in payload[:2048].lower())
        if not is_html:
            self._reader_drop(rank, "not_html")  # images, PDFs, robots.txt...: inputs, but not pages
            return None
        if headers and headers.get_statuscode() and not headers.get_statuscode().startswith("2"):
            self._reader_drop(rank, "http_status")  # error and redirect pages
            return None
        if len(payload) > self.max_bytes:
            self._bad(rank, "too_large", path, offset, f"{len(payload)} bytes {url}")
            return None
        try:
            html = decode_html(payload, _charset(ctype))
        except BadInput as e:
            self._bad(rank, str(e), path, offset, url)
            return None
        meta["html"] = True
        return self._doc(rank, html, path, offset, meta, record.rec_headers.get_header("WARC-Record-ID"))

    def _html(self, path: str, rank: int) -> Iterator[Document]:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            if path.lower().endswith(".gz"):
                raw = gzip.decompress(raw)
            if len(raw) > self.max_bytes:
                raise BadInput("too_large", f"{len(raw)} bytes")
            html = decode_html(raw)
        except (OSError, EOFError, BadInput) as e:
            self._bad(rank, getattr(e, "reason", "unreadable") + f": {e}"[:200], path, 0)
            return
        doc = self._doc(rank, html, path, 0, {"url": None, "html": True})
        if doc is not None:
            yield doc

    def _from_record(self, rec: Any, path: str, n: int, rank: int, kind: str | None = None) -> Document | None:
        if not isinstance(rec, dict):
            self._bad(rank, "not_an_object", path, n, str(rec)[:2000])
            return None
        text = text_of(rec, kind, self.text_key)
        meta = {"url": rec.get(self.url_key)}
        for k in ("lang", "source", "meta"):
            if rec.get(k) is not None and k != self.text_key and not isinstance(rec[k], (list, dict)):
                meta[f"in_{k}"] = rec[k]
        if self.keep_record:
            meta["_record"] = rec
        rid = rec.get(self.id_key)
        return self._doc(rank, text, path, n, meta, None if rid is None else str(rid))

    def _jsonl(self, path: str, rank: int) -> Iterator[Document]:
        opener = gzip.open if path.lower().endswith(".gz") else open
        try:
            with opener(path, "rb") as f:
                for lineno, raw in enumerate(f, 1):
                    if not raw.strip():
                        continue
                    try:
                        rec = json.loads(raw.decode("utf-8"))
                    except UnicodeDecodeError as e:
                        self._bad(rank, f"invalid_utf8 at byte {e.start}", path, lineno, raw.decode("utf-8", "replace"))
                        continue
                    except json.JSONDecodeError as e:
                        self._bad(rank, f"invalid_json: {e.msg} at column {e.colno}", path, lineno, raw[:2000])
                        continue
                    doc = self._from_record(rec, path, lineno, rank)
                    if doc is not None:
                        yield doc
        except (OSError, EOFError) as e:  # truncated or corrupt gzip
            self._bad(rank, f"unreadable: {type(e).__name__}: {e}"[:200], path, None)

    def _json(self, path: str, rank: int) -> Iterator[Document]:
        """A ``.json`` file holding one JSON array of records (or one object, e.g. a benchmark dump); a file
        that does not parse as one JSON value is read as JSON Lines (its bad lines quarantined one by one)."""
        try:
            with open(path, "rb") as f:
                raw = f.read(self.max_bytes + 1)
            data = json.loads(raw.decode("utf-8")) if len(raw) <= self.max_bytes else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        except OSError as e:
            self._bad(rank, f"unreadable: {type(e).__name__}: {e}"[:200], path, None)
            return
        if data is None:
            yield from self._jsonl(path, rank)
            return
        for n, rec in enumerate(data if isinstance(data, list) else [data], 1):
            doc = self._from_record(rec, path, n, rank)
            if doc is not None:
                yield doc

    def _parquet(self, path: str, rank: int) -> Iterator[Document]:
        import pyarrow.parquet as pq

        row = 0
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
                for rec in batch.to_pylist():
                    row += 1
                    doc = self._from_record(rec, path, row, rank)
                    if doc is not None:
                        yield doc
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError for corrupt files
            self._bad(rank, f"unreadable_parquet: {type(e).__name__}: {e}"[:200], path, row)

    def _csv(self, path: str, rank: int) -> Iterator[Document]:
        opener = gzip.open if path.lower().endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
                dialect = "excel-tab" if path.lower().endswith(".tsv") else "excel"
                for n, rec in enumerate(csv.DictReader(f, dialect=dialect), 1):
                    doc = self._from_record(rec, path, n, rank)
                    if doc is not None:
                        yield doc
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            self._bad(rank, f"unreadable_csv: {type(e).__name__}: {e}"[:200], path, None)

    def _text(self, path: str, rank: int) -> Iterator[Document]:
        try:
            with (gzip.open(path) if path.lower().endswith(".gz") else open(path, "rb")) as f:
                raw = f.read()
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self._bad(rank, f"invalid_utf8 at byte {e.start}", path, 0)
            return
        except (OSError, EOFError) as e:
            self._bad(rank, f"unreadable: {e}"[:200], path, 0)
            return
        doc = self._doc(rank, text, path, 0, {"url": None})
        if doc is not None:
            yield doc

    def _pdf(self, path: str, rank: int) -> Iterator[Document]:
        from .pdf import PdfProblem, read_pdf

        try:
            size = os.path.getsize(path)
            if size > self.max_bytes:
                raise PdfProblem("too_large", f"{size} bytes")
            r = read_pdf(path)
        except PdfProblem as e:
            self._bad(rank, str(e)[:300], path, 0)
            return
        except OSError as e:
            self._bad(rank, f"unreadable: {type(e).__name__}: {e}"[:200], path, 0)
            return
        for page in r.scanned_pages:
            self._bad(rank, "scanned_page: an image without a text layer (OCR needed)", path, page)
        doc = self._doc(rank, r.text, path, 0, {"url": None, "pdf_pages": r.pages, "pdf_tables": r.tables,
                                                 "pdf_scanned_pages": r.scanned_pages or None})
        if doc is not None:
            self.stat_update("pdf_tables", value=r.tables)
            yield doc

    def _catalog(self, ref: str, rank: int) -> Iterator[Document]:
        from catalogs import Store

        store = Store.open(self.store_root, create=False)
        m = store.resolve(ref)
        if m.kind not in ("doc", "sft", "rl"):
            raise ValueError(f"{m.ref} is a '{m.kind}' version: only doc, sft and rl versions carry text")
        for n, rec in enumerate(store.iter_records(m), 1):
            doc = self._from_record(rec, m.ref, n, rank, kind=m.kind)
            if doc is not None:
                yield doc


def _truncated(record: Any) -> str:
    """Why a warcio record is incomplete ('' when whole): headers cut before Content-Length, or a short body.

    Call after the record was drained (``get_record_offset``): its ``LimitReader`` then holds the bytes missing."""
    length = (record.rec_headers.get_header("Content-Length") or "").strip()
    if record.rec_type is None or not length.isdigit():
        return f"{record.rec_type or 'unknown'} record headers cut short (no Content-Length)"
    missing = getattr(record.raw_stream, "limit", 0)
    if isinstance(missing, int) and missing > 0:
        return f"{record.rec_type} record is {missing} bytes short"
    return ""


def _has_content(fh: Any, start: int, path: str) -> bool:
    """Whether the bytes of ``fh`` from ``start`` hold more than blank padding (a gzip tail: once inflated)."""
    import zlib

    fh.seek(start)
    raw = fh.read(1 << 20)
    if not path.lower().endswith(".gz"):
        return bool(raw.strip(b"\x00\r\n\t "))
    while raw.strip(b"\x00"):  # each gzip member must be whole and hold only blank lines
        d = zlib.decompressobj(47)
        try:
            out = d.decompress(raw)
        except zlib.error:
            return True
        if not d.eof or out.strip(b"\x00\r\n\t "):
            return True
        raw = d.unused_data
    return False


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) else None


def read_all(inputs: list[str], **kw: Any) -> tuple[list[Document], Ledger]:
    """Read inputs in-process (one rank): used by the single verbs and tests."""
    reader = CurationReader(inputs, **kw)
    return list(reader.run(None, 0, 1)), reader.ledger


__all__ = ["BadInput", "CurationReader", "decode_html", "read_all"]
