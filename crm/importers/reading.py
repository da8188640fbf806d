"""Streaming CSV input: encoding check with the offending byte, delimiter sniffing, rows as dicts."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"


class FileProblem(ValueError):
    """The file as a whole cannot be read (encoding, missing columns, empty)."""

    def __init__(self, message: str, *, column: str = "", row: int = 0, file: str = "") -> None:
        super().__init__(message)
        self.column, self.row, self.file = column, row, file


def _guess_encoding(sample: bytes) -> str:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    if b"\x00" in sample:
        return "UTF-16 or a binary file"
    high = [b for b in sample if b >= 0x80]
    if high and all(b >= 0xA0 or b in (0x80, 0x8A, 0x8C, 0x8E, 0x92, 0x96, 0x97, 0x9A, 0x9C, 0x9E) for b in high):
        return "Latin-1 / Windows-1252"
    return "a non-UTF-8 encoding"


def check_encoding(path: Path, encoding: str = "utf-8") -> None:
    """Read the whole file once in chunks (memory stays flat) and refuse it at the first undecodable byte."""
    if encoding.lower().replace("_", "-") not in {"utf-8", "utf8", "utf-8-sig"}:
        with path.open("rb") as fh:
            decoder = codecs.getincrementaldecoder(encoding)()
            offset = 0
            while chunk := fh.read(_CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise FileProblem(f"{path.name}: not {encoding} at byte {offset + exc.start}") from None
                offset += len(chunk)
        return
    offset = 0
    pending = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            data = pending + chunk
            final = not chunk
            try:
                _text, consumed = codecs.utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                sample = data[max(0, exc.start - 200) : exc.start + 200]
                raise FileProblem(
                    f"{path.name}: not UTF-8 at byte {bad} (looks like {_guess_encoding(sample)}); "
                    "save it as UTF-8 and try again"
                ) from None
            offset += consumed
            pending = data[consumed:]
            if final:
                break
    if offset == 0:
        raise FileProblem(f"{path.name} is empty")


def sniff_delimiter(path: Path, encoding: str = "utf-8-sig") -> str:
    with path.open(encoding=encoding, newline="") as fh:
        sample = fh.read(_SNIFF_BYTES)
    header = sample.splitlines()[0] if sample else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


@dataclass
class CsvSource:
    """One CSV file, read as many times as needed; rows come out as (row number, {column: value})."""

    path: Path
    delimiter: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if not self.path.is_file():
            raise FileProblem(f"{self.path} does not exist")
        check_encoding(self.path, self.encoding)
        if self.encoding.lower() in {"utf-8", "utf8"}:
            self.encoding = "utf-8-sig"  # a BOM from Excel is not part of the first column name
        if not self.delimiter:
            self.delimiter = sniff_delimiter(self.path, self.encoding)
        if len(self.delimiter) != 1 or self.delimiter in '\r\n"':
            raise FileProblem(
                f"the delimiter must be one character other than a quote or line break, not {self.delimiter!r}"
            )
        self.columns = self._header()

    def _header(self) -> list[str]:
        with self.path.open(encoding=self.encoding, newline="") as fh:
            try:
                header = next(csv.reader(fh, delimiter=self.delimiter or ","), None)
            except csv.Error as exc:
                raise FileProblem(f"{self.path.name}: cannot read the header ({exc})", row=1) from None
        if not header or not any(h.strip() for h in header):
            raise FileProblem(f"{self.path.name} has no header row")
        return [h.strip() for h in header]

    def require(self, *columns: str) -> None:
        """Refuse the file when a required column is absent, naming every missing one."""
        missing = [c for c in columns if c and c not in self.columns]
        if missing:
            names = ", ".join(f"“{c}”" for c in missing)
            found = ", ".join(self.columns[:30])
            raise FileProblem(
                f"{self.path.name}: required column{'s' if len(missing) > 1 else ''} {names} missing "
                f"(columns found: {found})",
                column=", ".join(missing),
                row=1,
                file=self.path.name,
            )

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open(encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter or ",")
            next(reader, None)
            columns = self.columns
            width = len(columns)
            number = 1
            while True:
                number += 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise FileProblem(
                        f"{self.path.name}: cannot read line {reader.line_num} ({exc})", row=number, file=self.path.name
                    ) from None
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) < width:
                    values = values + [""] * (width - len(values))
                yield number, dict(zip(columns, values, strict=False))
