"""Which importer reads a file: "stix", "misp", "csv" or "text", from its first 64 KiB.

What is certain is decided, what is not is refused rather than guessed:
- compressed or binary input (gzip, zip, bzip2, xz, 7z, PDF, NUL bytes, not UTF-8) -> InvalidInput
  saying what it is; `open_input` gunzips a gzip file, so callers pass it the path;
- UTF-16 -> InvalidInput (convert to UTF-8);
- XML: STIX 1.x -> InvalidInput "STIX 1.x ... not supported" (convert with stix2-elevator); other
  XML -> InvalidInput;
- JSON: a MISP event (`{"Event": ...}`, `{"response": [...]}`, a list of those) -> "misp"; a STIX
  bundle or object (`type`, `spec_version`, `objects`) -> "stix"; a STIX 1.x JSON package ->
  InvalidInput; other JSON -> InvalidInput;
- CSV when the first lines split consistently on one delimiter (comma, semicolon, tab, pipe) and
  either the first line is a header naming a value column or the delimiter is not a tab (a tab
  with two columns is a text list with a count, like ipsum's) or there are three columns or more;
  a `.csv`/`.tsv` name settles a split that is consistent;
- anything else is "text" (one value per line).
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from typing import Any, BinaryIO

from accord.errors import InvalidInput
from accord.ingest.stix import STIX1_REFUSAL
from accord.ingest.tabular import header_of, sniff_delimiter

__all__ = ["HEAD_BYTES", "detect", "open_input"]

HEAD_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_MAGIC = (
    (_GZIP_MAGIC, "gzip-compressed: decompress it first (a .gz file given by path is read as is)"),
    (b"PK\x03\x04", "a zip archive: extract the file from it first"),
    (b"BZh", "bzip2-compressed: decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract the file from it first"),
    (b"%PDF-", "a PDF document, not a data file"),
)
_BOM = b"\xef\xbb\xbf"
_XML_START = re.compile(r"<[?!A-Za-z_]")
_STIX1_XML = re.compile(r"STIX_Package|stix\.mitre\.org|cybox\.mitre\.org|<stix:|<cybox:", re.IGNORECASE)
_FIRST_KEY = re.compile(r'\s*[\[{]\s*\{?\s*"([^"\\]*)"\s*:')
_MISP_KEYS = frozenset({"Event", "response"})
_MISP_EVENT = re.compile(r'(?<!\\)"Event"\s*:\s*\{')
_STIX_TYPE = re.compile(r'(?<!\\)"type"\s*:\s*"[a-z0-9-]+"')
_STIX_VERSION = re.compile(r'(?<!\\)"spec_version"\s*:\s*"2\.[01]"')
_STIX1_JSON = re.compile(r'(?<!\\)"(stix_header|stix_package|STIX_Package)"\s*:')
_STIX1_VERSION = re.compile(r'(?<!\\)"version"\s*:\s*"1\.\d')
# A bare MISP event (no "Event" wrapper, as PyMISP writes one): STIX property names are lower case,
# so MISP's capitalised lists or its own fields tell them apart.
_BARE_MISP = re.compile(r'(?<!\\)"(Attribute|Object|threat_level_id|Orgc)"\s*:')
_MISP_INFO = re.compile(r'(?<!\\)"info"\s*:')
_COMMENT_STARTS = ("#", "//", ";")
_SAMPLE_LINES = 20


class _CheckedGzip(gzip.GzipFile):
    """A gzip reader whose damage (truncation, a bad CRC, trailing junk) is an InvalidInput that
    says so, not an EOFError or BadGzipFile from deep inside an importer."""

    def _checked(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            inner = getattr(self, "fileobj", None)
            where = {"byte": inner.tell()} if inner is not None and not inner.closed else {}
            raise InvalidInput(f"the gzip input is damaged: {exc or 'it ends early'}", **where) from None

    def read(self, size: int | None = -1) -> bytes:
        return bytes(self._checked(super().read, size))

    def read1(self, size: int = -1) -> bytes:
        return bytes(self._checked(super().read1, size))

    def readline(self, size: int | None = -1) -> bytes:
        return bytes(self._checked(super().readline, size))

    def readinto(self, b: Any) -> int:
        return int(self._checked(super().readinto, b))

    def peek(self, n: int) -> bytes:
        return bytes(self._checked(super().peek, n))

    def __next__(self) -> bytes:
        return bytes(self._checked(super().__next__))


def open_input(path: str) -> BinaryIO:
    """The file's bytes to read, gunzipped when it is gzip (known by its magic number, not its name).

    The caller closes what it gets (closing the gzip reader closes the file too).
    """
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return _CheckedGzip(filename=path, mode="rb")  # type: ignore[return-value]
    return open(path, "rb")  # returned to the caller, who closes it


def detect(head: bytes, filename: str = "") -> str:
    """The format of an input from its first bytes (up to 64 KiB are looked at) and, as a tie-break,
    its name; raises InvalidInput for what no importer reads (see the module docstring)."""
    head = head[:HEAD_BYTES]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InvalidInput(f"the input is {what}", byte=0)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput("the input is UTF-16; convert it to UTF-8", byte=0)
    head = head.removeprefix(_BOM)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InvalidInput("the input is binary (it contains NUL bytes), not a text or JSON file", byte=nul)
    text = _decode(head)
    start = text.lstrip()
    if not start:
        raise InvalidInput("the input is empty")
    if _XML_START.match(start):
        if _STIX1_XML.search(start) is not None:
            raise InvalidInput(f"{STIX1_REFUSAL} (this is STIX 1.x XML)", line=1)
        raise InvalidInput(
            "the input is XML, which no importer reads (expected STIX 2 or MISP JSON, CSV or text)"
        )
    if start[0] in "{[":
        return _json_format(start)
    if filename.lower().endswith((".json", ".stix")):
        return "stix"  # JSON that is malformed from its first character: the STIX reader says where
    return _table_or_text(text, filename)


def _decode(head: bytes) -> str:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(head) - 3 and e.reason == "unexpected end of data":
            return head[: e.start].decode("utf-8")  # a character cut at the end of the head
        raise InvalidInput(
            f"the input is not UTF-8 text (binary, or another encoding: {e.reason})", byte=e.start
        ) from None


def _json_format(text: str) -> str:
    first = _FIRST_KEY.match(text)
    if first is not None and first.group(1) in _MISP_KEYS:
        return "misp"
    stix = _STIX_TYPE.search(text)
    misp = _MISP_EVENT.search(text)
    if misp is not None and (stix is None or misp.start() < stix.start()):
        return "misp"
    if _BARE_MISP.search(text) is not None and _MISP_INFO.search(text) is not None:
        return "misp"
    if _STIX1_JSON.search(text) is not None or (
        _STIX1_VERSION.search(text) is not None and _STIX_VERSION.search(text) is None
    ):
        raise InvalidInput(f"{STIX1_REFUSAL} (this is STIX 1.x JSON)", line=1)
    if stix is not None or _STIX_VERSION.search(text) is not None:
        return "stix"
    raise InvalidInput(
        "the input is JSON but neither STIX 2 (no 'type') nor a MISP event (no 'Event')", line=1
    )


def _table_or_text(text: str, filename: str) -> str:
    lines = text.splitlines()
    if len(text) >= HEAD_BYTES - 4 and len(lines) > 1:
        lines = lines[:-1]  # probably cut short by the head's end
    data = [line for line in lines if line.strip() and not line.lstrip().startswith(_COMMENT_STARTS)]
    data = data[:_SAMPLE_LINES]
    if not data:
        return "text"
    sniffed = sniff_delimiter(data)
    named_csv = filename.lower().endswith((".csv", ".tsv"))
    if sniffed is None:  # one column: CSV only with a header such as `value` or `url`
        return "csv" if header_of([data[0]]) is not None else "text"
    delimiter, columns = sniffed
    rows = list(csv.reader(data, delimiter=delimiter))
    if not all(len(row) == columns for row in rows):
        return "text"
    if named_csv or header_of(rows[0]) is not None:
        return "csv"
    if len(rows) < 2:
        return "text"
    return "csv" if delimiter != "\t" or columns >= 3 else "text"
