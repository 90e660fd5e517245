"""Untrusted zip archives (zips of images, PyTorch checkpoints), read without trusting what they declare.

zipfile and torch.load trust an archive's records: zipfile's read() inflates up to 2 GiB of a DEFLATE
entry, and a BZIP2 or LZMA entry without any limit, before it cuts the result to the declared size; the
entry count it uses comes from the zip64 end record when a zip64 locator is present. Here:
- `end_record` reads the end record zipfile will use (the zip64 one when its locator is there), so that
  callers cap the entries and the directory's bytes before zipfile parses the directory, and refuses an
  archive whose classic and zip64 records disagree (a zip that other readers would list differently);
- `read_member` decompresses at most the declared size + 1 bytes: one byte more is "more data than it
  declares", a damaged entry; the CRC-32 is checked;
- `stored_member` gives an uncompressed entry's bytes without a copy, CRC-checked (PyTorch writes every
  record of a checkpoint uncompressed).
Each problem is a ZipProblem whose text ends a sentence that the caller opens with the file's name.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass

COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_EOCD, _EOCD_SIZE = b"PK\x05\x06", 22
_LOCATOR, _LOCATOR_SIZE = b"PK\x06\x07", 20
_EOCD64, _EOCD64_SIZE = b"PK\x06\x06", 56
_LOCAL, _LOCAL_SIZE = b"PK\x03\x04", 30
_MAX_COMMENT = 0xFFFF


class ZipProblem(ValueError):
    """What is wrong with an archive or one of its entries, as the end of a sentence ('is damaged')."""


@dataclass(frozen=True)
class EndRecord:
    """What an archive's end record announces, as zipfile will read it."""

    entries: int
    directory_bytes: int
    zip64: bool


def end_record(data: bytes) -> EndRecord | None:
    """The end record zipfile will use, or None where there is none (zipfile refuses such a file).

    zipfile looks for the classic record at the very end, else for the last one in the final 64 KiB (a
    comment may follow it); a zip64 locator just before it makes zipfile read the zip64 record just
    before that, whose counts then replace the classic ones. ZipProblem if the two disagree: a field
    of the classic record that is not the 'see zip64' sentinel must equal the zip64 one, and the
    locator must point where zipfile reads.
    """
    at = len(data) - _EOCD_SIZE
    if at < 0:
        return None
    if data[at : at + 4] != _EOCD or data[at + 20 : at + 22] != b"\0\0":
        at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
        if at < 0 or len(data) < at + _EOCD_SIZE:
            return None
    on_disk, total, size, offset = struct.unpack_from("<HHII", data, at + 8)
    locator = at - _LOCATOR_SIZE
    if locator < 0 or data[locator : locator + 4] != _LOCATOR:
        if on_disk != total:
            raise ZipProblem("is split over several disks, which this app cannot read")
        return EndRecord(total, size, zip64=False)
    _, _, where, _ = struct.unpack_from("<IIQI", data, locator)
    z = locator - _EOCD64_SIZE
    if z < 0 or data[z : z + 4] != _EOCD64 or where != z:
        raise ZipProblem("has end records that disagree, so it is damaged or forged")
    on_disk64, total64, size64, offset64 = struct.unpack_from("<QQQQ", data, z + 24)
    pairs = ((on_disk, on_disk64, 0xFFFF), (total, total64, 0xFFFF), (size, size64, 0xFFFFFFFF),
             (offset, offset64, 0xFFFFFFFF))  # fmt: skip
    if any(classic not in (sentinel, big) for classic, big, sentinel in pairs):
        raise ZipProblem("has end records that disagree, so it is damaged or forged")
    if on_disk64 != total64:
        raise ZipProblem("is split over several disks, which this app cannot read")
    return EndRecord(total64, size64, zip64=True)


def open_zip(data: bytes, max_entries: int, max_directory_bytes: int) -> zipfile.ZipFile:
    """zipfile's view of the archive, once its end record promises at most `max_entries` entries in a
    directory of at most `max_directory_bytes` (zipfile's parsing costs time and memory in proportion).

    ZipProblem("holds N entries; the limit is M") for too many; zipfile.BadZipFile (or another
    exception) for a file zipfile cannot open; the caller words that.
    """
    record = end_record(data)
    if record is not None and (record.entries > max_entries or record.directory_bytes > max_directory_bytes):
        held = f"{record.entries:,} entries" if record.entries > max_entries else "too many entries"
        raise ZipProblem(f"holds {held}; the limit is {max_entries:,}")
    zf = zipfile.ZipFile(io.BytesIO(data))
    if len(zf.infolist()) > max_entries:  # cannot happen after the check above; kept as a guard
        raise ZipProblem(f"holds {len(zf.infolist()):,} entries; the limit is {max_entries:,}")
    return zf


def _data_start(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where the entry's (compressed) bytes begin, after its local header."""
    at = info.header_offset
    if at < 0 or data[at : at + 4] != _LOCAL or len(data) < at + _LOCAL_SIZE:
        raise ZipProblem("is damaged")
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    start = at + _LOCAL_SIZE + name_length + extra_length
    if start + info.compress_size > len(data):
        raise ZipProblem("is cut short")
    return start


def read_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, decompressing at most its declared size + 1 bytes, CRC-32 checked.

    ZipProblem for an unknown method, encryption, or a damaged entry: more or less data than declared,
    a broken stream or a wrong checksum.
    """
    if info.flag_bits & 0x1:
        raise ZipProblem("is password-protected")
    if info.compress_type not in COMPRESSIONS:
        raise ZipProblem("uses a compression method this app cannot read")
    start = _data_start(data, info)
    packed = memoryview(data)[start : start + info.compress_size]
    limit = info.file_size + 1  # one byte more than declared tells a lying entry from an honest one
    try:
        if info.compress_type == zipfile.ZIP_STORED:
            out = bytes(packed[:limit])
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(packed, limit)
        elif info.compress_type == zipfile.ZIP_BZIP2:
            out = bz2.BZ2Decompressor().decompress(packed, limit)
        else:
            out = _lzma(packed, limit)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        raise ZipProblem("is damaged") from None
    if len(out) > info.file_size:
        raise ZipProblem("holds more data than it declares, so it is damaged")
    if len(out) < info.file_size:
        raise ZipProblem("holds less data than it declares, so it is damaged")
    if zlib.crc32(out) != info.CRC:
        raise ZipProblem("fails its checksum (CRC-32), so it is damaged")
    return out


def _lzma(packed: memoryview, limit: int) -> bytes:
    """A zip LZMA entry: 2 bytes of version, the properties' size, 5 bytes of LZMA1 properties, the
    stream. The dictionary is capped at the output's size: an LZMA distance never reaches further back
    than the bytes decoded so far, so a header that asks for 4 GiB costs no more than the entry."""
    if len(packed) < 9 or struct.unpack_from("<H", packed, 2)[0] != 5:
        raise ValueError("bad LZMA header")
    lclppb, dict_size = packed[4], struct.unpack_from("<I", packed, 5)[0]
    if lclppb >= 9 * 5 * 5:
        raise ValueError("bad LZMA properties")
    lc, lp, pb = lclppb % 9, lclppb // 9 % 5, lclppb // 45
    lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": max(4096, min(dict_size, limit)), "lc": lc, "lp": lp,
             "pb": pb}  # fmt: skip
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1]).decompress(packed[9:], limit)


def stored_member(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """An uncompressed entry's bytes, without a copy, CRC-32 checked; ZipProblem otherwise."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        raise ZipProblem("holds a compressed or encrypted record")
    if info.compress_size != info.file_size:
        raise ZipProblem("declares two sizes for one record, so it is damaged")
    start = _data_start(data, info)
    record = memoryview(data)[start : start + info.file_size]
    if zlib.crc32(record) != info.CRC:
        raise ZipProblem("fails its checksum (CRC-32): it was changed or damaged")
    return record
