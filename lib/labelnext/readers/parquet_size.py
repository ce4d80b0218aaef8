"""How much memory a Parquet file decodes to, measured before it is decoded.

A Parquet file's footer says how many rows and columns it holds and how many values each column
chunk has, so fixed-width columns cost ``num_values x width`` and are known without reading a
page. Strings and binaries (``BYTE_ARRAY``) are not: a dictionary-encoded chunk can repeat one
long value a million times in a few bytes of indices, and a ``DELTA_BYTE_ARRAY`` chunk can do the
same with shared prefixes. For those, :func:`decoded_size` walks the chunk's page headers (a few
bytes each, read in place) to learn which pages are plain (their decoded size is their
uncompressed size) and how many values are dictionary- or prefix-encoded, bounds those by the
dictionary page's size, and where the bound is too loose reads the values *as a dictionary*
(``read_dictionary``: the indices and the distinct values, never the expansion) and sums
``binary_length`` of the dictionary taken by the indices. It stops as soon as the total passes the
limit, so a file that would take gigabytes is refused having cost a few megabytes.

A page header it cannot parse (or a chunk of more than :data:`MAX_PAGES` pages) makes it read that
whole chunk as a dictionary, whose memory is bounded by the chunk's distinct values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["ChunkPages", "DecodedSize", "decoded_size", "read_page_headers"]

_FIXED_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}
_OFFSET_BYTES = 4  # an Arrow string or list holds one 32-bit offset per value
# Parquet's PageType and Encoding enums (parquet.thrift)
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
_DICTIONARY_ENCODINGS = frozenset({2, 8})  # PLAIN_DICTIONARY, RLE_DICTIONARY
_DELTA_BYTE_ARRAY = 7
#: Page headers walked per column chunk; past it the chunk is measured by reading it.
MAX_PAGES = 20_000
#: Dictionaries with more entries than this are measured by reading, not by walking them.
_MAX_WALKED_ENTRIES = 2_000_000
_HEADER_READ = 512
#: Decoded bytes one batch of a prefix-coded chunk may take while it is measured, at most.
_BATCH_BYTES = 64 * 1024 * 1024
_MAX_HEADER = 16 * 1024 * 1024
# Parquet codecs whose page bytes pyarrow.decompress reads as they are (Parquet's old LZ4 uses
# Hadoop's framing, which it does not: such pages are measured by reading)
_CODECS = {
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "ZSTD": "zstd",
    "BROTLI": "brotli",
    "LZ4_RAW": "lz4_raw",
}


@dataclass
class ChunkPages:
    """What a column chunk's page headers say."""

    dictionary_bytes: int = 0  # uncompressed size of the dictionary page
    dictionary_entries: int = 0
    dictionary_at: int = -1  # file offset of the dictionary page's (compressed) bytes
    dictionary_stored: int = 0  # its compressed size
    plain_bytes: int = 0  # uncompressed size of the plain (non-expanding) data pages
    plain_values: int = 0
    expanding_values: int = 0  # values in dictionary- or prefix-encoded pages
    expanding_first: bool = True  # every expanding page comes before every plain page
    has_delta: bool = False
    complete: bool = True  # False: a header could not be read, or too many pages


@dataclass
class DecodedSize:
    """The decoded size found so far, and the bytes of each column (by leaf path)."""

    total: int = 0
    by_column: dict[str, int] = field(default_factory=dict)

    def add(self, column: str, n_bytes: int) -> None:
        self.total += n_bytes
        self.by_column[column] = self.by_column.get(column, 0) + n_bytes

    def largest(self, n: int = 3) -> list[tuple[str, int]]:
        """The ``n`` columns taking the most bytes, largest first."""
        shown = [kv for kv in self.by_column.items() if kv[1] > 0]
        return sorted(shown, key=lambda kv: -kv[1])[:n]


@dataclass
class _Pending:
    """The expanding pages of one chunk: bounded, then bounded tighter, then measured."""

    row_group: int
    column: str
    pages: ChunkPages
    chunk_bytes: int  # the chunk's uncompressed size
    values: int
    flat: bool
    bound: int = 0
    level: int = 0  # 0: bounded by the dictionary's size; 1: by its longest entry; 2: measured

    def __post_init__(self) -> None:
        pages = self.pages
        if pages.has_delta or not pages.complete or pages.dictionary_bytes == 0:
            # no dictionary to bound by: a prefix-coded value is at most every suffix of its
            # chunk put together, repeated; measure it
            self.bound = self.values * (max(self.chunk_bytes, 1) + _OFFSET_BYTES)
            self.level = 1  # nothing tighter to learn from headers: measure next
        else:
            self.bound = self.values * (pages.dictionary_bytes + _OFFSET_BYTES)

    @property
    def prefix_only(self) -> bool:
        """The expanding pages are the chunk's first ``values`` rows, plain pages after."""
        pages = self.pages
        return self.flat and pages.complete and pages.expanding_first and pages.plain_values > 0


def decoded_size(source: pa.NativeFile, parquet: pq.ParquetFile, max_bytes: int) -> DecodedSize:
    """Bytes the file's table takes once decoded, or (if over ``max_bytes``) at least that much.

    Parameters
    ----------
    source : pyarrow.NativeFile
        The file (a memory map or a buffer reader); page headers are read from it in place.
    parquet : pyarrow.parquet.ParquetFile
        The same file, opened (its footer read).
    max_bytes : int
        Stop measuring once the total exceeds this; the result is then a lower bound.

    Returns
    -------
    DecodedSize
        ``total`` in bytes and the bytes of each column (by leaf path): exact for fixed-width
        and plain columns, an upper bound (or the measured size) for dictionary-encoded ones.
    """
    meta = parquet.metadata
    schema = parquet.schema
    size = DecodedSize()
    pending: list[_Pending] = []
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for j in range(group.num_columns):
            chunk = group.column(j)
            path = chunk.path_in_schema
            kind = chunk.physical_type
            if kind in _FIXED_WIDTH:
                size.add(path, chunk.num_values * _FIXED_WIDTH[kind])
            elif kind == "FIXED_LEN_BYTE_ARRAY":
                size.add(path, chunk.num_values * max(1, schema.column(j).length or 1))
            else:  # BYTE_ARRAY
                pages = read_page_headers(source, chunk)
                whole = pages.has_delta or not pages.complete  # measured as one piece
                if not whole:  # a plain value's 4-byte length prefix stands for its offset
                    size.add(path, pages.plain_bytes)
                if pages.expanding_values or whole:
                    values = chunk.num_values if whole else pages.expanding_values
                    flat = schema.column(j).max_repetition_level == 0
                    pending.append(
                        _Pending(rg, path, pages, chunk.total_uncompressed_size, values, flat)
                    )
        if size.total > max_bytes:
            return size
    # tighten the loosest bound first, until the bounds fit or the measured part is over
    bounded = size.total + sum(p.bound for p in pending)
    reader: _DictionaryReader | None = None
    while bounded > max_bytes:
        loose = max((p for p in pending if p.level < 2), key=lambda p: p.bound, default=None)
        if loose is None:
            break
        before = loose.bound
        if loose.level == 0:
            longest = _longest_entry(source, loose.pages, _codec(meta, loose))
            loose.level = 1
            if longest is not None:
                loose.bound = min(loose.bound, loose.values * (longest + _OFFSET_BYTES))
        else:
            if reader is None:
                reader = _DictionaryReader(source, parquet, {p.column for p in pending})
            measured = sum(p.bound for p in pending if p.level == 2)
            loose.bound = reader.expanded_bytes(loose, max_bytes - size.total - measured)
            loose.level = 2
        bounded -= before - loose.bound
        if size.total + sum(p.bound for p in pending if p.level == 2) > max_bytes:
            break
    for p in pending:
        size.add(p.column, p.bound)
    return size


def _codec(meta: pq.FileMetaData, pending: _Pending) -> str | None:
    group = meta.row_group(pending.row_group)
    for j in range(group.num_columns):
        chunk = group.column(j)
        if chunk.path_in_schema == pending.column:
            compression = str(chunk.compression).upper()
            return "none" if compression == "UNCOMPRESSED" else _CODECS.get(compression)
    return None  # pragma: no cover - the pending chunk came from this row group


def _longest_entry(source: pa.NativeFile, pages: ChunkPages, codec: str | None) -> int | None:
    """The longest value of a chunk's (plain-encoded) dictionary page, or None if unknown.

    The page is decompressed (its size is already counted against the limit) and its
    length-prefixed values walked; a dictionary whose values all have one length (ids,
    hashes, UUIDs) is checked in one vectorised step.
    """
    entries = pages.dictionary_entries
    if codec is None or pages.dictionary_at < 0 or not 0 < entries <= _MAX_WALKED_ENTRIES:
        return None
    try:
        stored = source.read_at(pages.dictionary_stored, pages.dictionary_at)
        if codec == "none":
            data = bytes(stored)
        else:
            data = pa.decompress(
                stored, decompressed_size=pages.dictionary_bytes, codec=codec, asbytes=True
            )
    except (OSError, pa.ArrowException, ValueError):
        return None
    if len(data) != pages.dictionary_bytes or len(data) < 4 * entries:
        return None
    first = int.from_bytes(data[:4], "little", signed=True)
    step = first + 4
    if first >= 0 and step * entries == len(data):
        rows = np.frombuffer(data, dtype=np.uint8).reshape(entries, step)
        prefixes = np.ascontiguousarray(rows[:, :4]).view("<i4")
        if bool((prefixes == first).all()):
            return first
    unpack = struct.Struct("<i").unpack_from
    position = longest = 0
    try:
        for _ in range(entries):
            (length,) = unpack(data, position)
            if length < 0:
                return None
            position += 4 + length
            longest = max(longest, length)
    except struct.error:
        return None
    return longest if position == len(data) else None


class _DictionaryReader:
    """Reads string chunks as dictionaries: indices plus distinct values, never the expansion.

    Prefix-coded (``DELTA_BYTE_ARRAY``) chunks, which Arrow cannot read as a dictionary, are
    decoded a few rows at a time instead (at most :data:`_BATCH_BYTES` per batch if no value is
    longer than the whole chunk's encoded size), stopping as soon as the total passes the limit.
    """

    def __init__(self, source: pa.NativeFile, parquet: pq.ParquetFile, columns: set[str]):
        self._source = source
        self._metadata = parquet.metadata
        self._file = pq.ParquetFile(
            source, metadata=parquet.metadata, read_dictionary=sorted(columns), pre_buffer=False
        )

    def expanded_bytes(self, pending: _Pending, budget: int) -> int:
        if pending.pages.has_delta:
            return self._decoded_in_batches(pending, budget)
        if pending.prefix_only:
            # the dictionary pages come first: read just their rows, not the plain rest
            batches: Iterator[pa.RecordBatch] = self._file.iter_batches(
                batch_size=pending.values,
                row_groups=[pending.row_group],
                columns=[pending.column],
            )
            batch = next(batches, None)
            return 0 if batch is None else _string_bytes(batch.column(0))
        table = self._file.read_row_group(pending.row_group, columns=[pending.column])
        return sum(_string_bytes(chunk) for chunk in table.column(0).chunks)

    def _decoded_in_batches(self, pending: _Pending, budget: int) -> int:
        plain = pq.ParquetFile(self._source, metadata=self._metadata, pre_buffer=False)
        rows = min(65_536, max(16, _BATCH_BYTES // (pending.chunk_bytes + _OFFSET_BYTES)))
        total = 0
        for batch in plain.iter_batches(
            batch_size=rows, row_groups=[pending.row_group], columns=[pending.column]
        ):
            total += _string_bytes(batch.column(0))
            if total > budget:
                break
        return total


def _string_bytes(array: pa.Array) -> int:
    """Decoded bytes of the strings in ``array`` (dictionary arrays counted as if expanded)."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        lengths = pc.binary_length(array.dictionary)
        taken = lengths.take(array.indices)
        return int(pc.sum(taken).as_py() or 0) + _OFFSET_BYTES * len(array)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _string_bytes(array.flatten()) + _OFFSET_BYTES * len(array)
    if pa.types.is_map(kind):
        return _string_bytes(array.keys) + _string_bytes(array.items)
    if pa.types.is_struct(kind):
        return sum(_string_bytes(child) for child in array.flatten())
    if pa.types.is_binary(kind) or pa.types.is_string(kind):
        return int(pc.sum(pc.binary_length(array)).as_py() or 0) + _OFFSET_BYTES * len(array)
    if pa.types.is_large_binary(kind) or pa.types.is_large_string(kind):
        return int(pc.sum(pc.binary_length(array)).as_py() or 0) + 8 * len(array)
    return 0


# ----------------------------------------------------------------------------------------------
# Page headers: Thrift compact protocol, just what PageHeader needs


def read_page_headers(source: pa.NativeFile, chunk: pq.ColumnChunkMetaData) -> ChunkPages:
    """Walk the page headers of one column chunk, reading only the headers."""
    pages = ChunkPages()
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
        if 0 < chunk.dictionary_page_offset < start:
            start = chunk.dictionary_page_offset
    end = start + chunk.total_compressed_size
    offset = start
    seen_plain = False
    for _ in range(MAX_PAGES):
        if offset >= end:
            return pages
        header = _read_header(source, offset)
        if header is None:
            pages.complete = False
            return pages
        consumed, page_type, uncompressed, compressed, num_values, encoding = header
        if page_type == _DICTIONARY_PAGE:
            if pages.dictionary_at >= 0:  # one dictionary per chunk: anything else is unknown
                pages.complete = False
                return pages
            pages.dictionary_bytes = uncompressed
            pages.dictionary_entries = num_values
            pages.dictionary_at = offset + consumed
            pages.dictionary_stored = compressed
        elif page_type in (_DATA_PAGE, _DATA_PAGE_V2):
            if encoding in _DICTIONARY_ENCODINGS or encoding == _DELTA_BYTE_ARRAY:
                pages.expanding_values += num_values
                pages.has_delta |= encoding == _DELTA_BYTE_ARRAY
                if seen_plain:
                    pages.expanding_first = False
            else:
                pages.plain_bytes += uncompressed
                pages.plain_values += num_values
                seen_plain = True
        if compressed < 0 or consumed <= 0:
            pages.complete = False
            return pages
        offset += consumed + compressed
    pages.complete = offset >= end
    return pages


def _read_header(source: pa.NativeFile, offset: int) -> tuple[int, int, int, int, int, int] | None:
    """(header bytes, page type, uncompressed size, compressed size, values, encoding)."""
    want = _HEADER_READ
    while want <= _MAX_HEADER:
        try:
            data = source.read_at(want, offset)
        except (OSError, pa.ArrowException):
            return None
        try:
            return _parse_page_header(data)
        except _Truncated:
            if len(data) < want:  # the file ended: a broken header
                return None
            want *= 4
        except (ValueError, IndexError):
            return None
    return None


class _Truncated(Exception):
    pass


class _Compact:
    """A reader of Thrift's compact protocol over a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Truncated
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, kind: int) -> None:
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.byte()
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.take(8)
        elif kind == 8:
            self.take(self.varint())
        elif kind in (9, 10):
            head = self.byte()
            count = head >> 4
            if count == 15:
                count = self.varint()
            element = head & 0x0F
            for _ in range(count):
                if element in (1, 2):
                    self.byte()
                else:
                    self.skip(element)
        elif kind == 11:
            count = self.varint()
            if count:
                types = self.byte()
                for _ in range(count):
                    self.skip(types >> 4)
                    self.skip(types & 0x0F)
        elif kind == 12:
            for _field_id, field_kind in self.fields():
                self.skip(field_kind)
        else:
            raise ValueError(f"unknown compact type {kind}")

    def take(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative length")
        if self.pos + n > len(self.data):
            raise _Truncated
        self.pos += n

    def fields(self) -> Iterator[tuple[int, int]]:
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind


def _parse_page_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    reader = _Compact(data)
    page_type = uncompressed = compressed = -1
    num_values, encoding = 0, 0
    for field_id, kind in reader.fields():
        if field_id in (1, 2, 3) and kind == 5:
            value = reader.zigzag()
            if field_id == 1:
                page_type = value
            elif field_id == 2:
                uncompressed = value
            else:
                compressed = value
        elif field_id in (5, 7, 8) and kind == 12:
            # DataPageHeader / DictionaryPageHeader: 1 num_values, 2 encoding;
            # DataPageHeaderV2: 1 num_values, 4 encoding
            encoding_field = 4 if field_id == 8 else 2
            for inner_id, inner_kind in reader.fields():
                if inner_id == 1 and inner_kind == 5:
                    num_values = reader.zigzag()
                elif inner_id == encoding_field and inner_kind == 5:
                    encoding = reader.zigzag()
                else:
                    reader.skip(inner_kind)
        else:
            reader.skip(kind)
    if min(page_type, uncompressed, compressed) < 0 or num_values < 0:
        raise ValueError("incomplete page header")
    return reader.pos, page_type, uncompressed, compressed, num_values, encoding
