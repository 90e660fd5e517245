"""Bad, odd and good image files and zips, made in memory for unit and page tests.

Each bad case is (file name, bytes, a fragment of the sentence it must be refused with).
Nothing here touches the disk or the network, and every case is small except the two
deliberately over the upload cap (50 MiB of zeros, made on demand).
"""

from __future__ import annotations

import bz2
import ctypes
import dataclasses
import functools
import gc
import io
import stat
import struct
import time
import warnings
import zipfile
import zlib

import numpy as np
from PIL import Image

from core.data.imagefiles import MAX_UPLOAD_BYTES
from core.data.imagezip import MAX_ZIP_ENTRIES

CLASS_COLOURS = (  # class i of good_zip is drawn in colour i (RGB), cycling past the sixth
    (220, 40, 40),
    (40, 180, 60),
    (50, 80, 220),
    (230, 200, 40),
    (150, 60, 190),
    (40, 190, 200),
)


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    """A PIL image saved to bytes in the given format."""
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def solid(colour, size: int = 16, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (size, size), colour)


def class_image(k: int, j: int, size: int) -> Image.Image:
    """Image j of class k: the class colour with a small lighter square whose place depends on j."""
    img = solid(CLASS_COLOURS[k % len(CLASS_COLOURS)], size)
    x = (3 * j) % max(1, size - 3)
    y = (5 * j) % max(1, size - 3)
    img.paste((255, 255, 255), (x, y, x + 3, y + 3))
    return img


def zip_of(entries, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name or ZipInfo, bytes) pairs, in order, repeated names allowed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # repeated names are a test case
        for entry, data in entries:
            zf.writestr(entry, data)
    return buffer.getvalue()


def good_entries(
    classes=("cats", "dogs"), per_class: int = 4, size: int = 16, top: str = "", fmt: str = "PNG"
) -> list[tuple[str, bytes]]:
    """Entries of an ImageFolder zip: top/class/class_j.png, each class in its own colour."""
    suffix = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "GIF": "gif", "TIFF": "tif"}[fmt]
    prefix = f"{top}/" if top else ""
    return [
        (f"{prefix}{name}/{name}_{j}.{suffix}", encode(class_image(k, j, size), fmt))
        for k, name in enumerate(classes)
        for j in range(per_class)
    ]


def good_zip(
    classes=("cats", "dogs"), per_class: int = 4, size: int = 16, top: str = "", fmt: str = "PNG"
) -> bytes:
    """A valid zip with one folder of `per_class` images per class (under `top` if given)."""
    return zip_of(good_entries(classes, per_class, size, top, fmt))


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb in 100 bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def noise_image(size: int = 48, seed: int = 0) -> Image.Image:
    """Random colours: compresses badly, so a cut file is cut inside its pixel data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def heic_header() -> bytes:
    """The first bytes of an iPhone HEIC photo (an ISO media 'ftyp' box of brand heic)."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64


def _patched(data: bytes, *, flags: int = 0, method: int | None = None, size: int | None = None) -> bytes:
    """Rewrite header fields of every entry in both its local and its central-directory header.

    Only for zips of plain text entries, whose bytes cannot contain a header signature by chance.
    """
    out = bytearray(data)
    for signature, flag_at, method_at, size_at in ((b"PK\x03\x04", 6, 8, 22), (b"PK\x01\x02", 8, 10, 24)):
        at = out.find(signature)
        while at >= 0:
            (old,) = struct.unpack_from("<H", out, at + flag_at)
            struct.pack_into("<H", out, at + flag_at, old | flags)
            if method is not None:
                struct.pack_into("<H", out, at + method_at, method)
            if size is not None:
                struct.pack_into("<I", out, at + size_at, size)
            at = out.find(signature, at + 4)
    return bytes(out)


def _lying_count(data: bytes, count: int) -> bytes:
    """The zip with its end record announcing `count` entries, whatever its directory holds."""
    out = bytearray(data)
    at = out.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", out, at + 8, count, count)  # entries on this disk, entries in all
    return bytes(out)


def _symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so the mode in the high 16 bits counts
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


CUT_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")  # each cut in half in bad_images()


def cut(data: bytes) -> bytes:
    """The first half of a file, as a broken upload or an interrupted copy leaves it."""
    return data[: len(data) // 2]


@functools.cache
def _many_entries() -> bytes:
    """One empty entry more than the zip cap allows."""
    return zip_of([(f"cats/{i}.txt", b"") for i in range(MAX_ZIP_ENTRIES + 1)], zipfile.ZIP_STORED)


@functools.cache
def _zeros(n: int) -> bytes:
    return bytes(n)


def bad_zips() -> list[tuple[str, bytes, str]]:
    """Zips refused as a whole: (file name, bytes, fragment of the message)."""
    good = good_entries()
    text = [("cats/a.txt", b"a"), ("dogs/b.txt", b"b")]  # plain entries for header patching
    return [
        ("notes.zip", b"these are my notes, not a zip", "is not a zip archive"),
        ("empty.zip", b"", "is empty"),
        ("damaged.zip", cut(good_zip()), "is damaged"),
        ("photo.zip", encode(solid((200, 0, 0)), "JPEG"), "is an image, not a zip archive"),
        ("too-big.zip", b"PK\x03\x04" + _zeros(MAX_UPLOAD_BYTES), "MB; the limit is 50 MB"),
        ("traversal.zip", zip_of([*good, ("../evil.png", good[0][1])]), "points outside its folder"),
        ("absolute.zip", zip_of([*good, ("/etc/evil.png", good[0][1])]), "points outside its folder"),
        ("backslash.zip", zip_of([*good, ("cats\\..\\..\\evil.png", good[0][1])]), "points outside"),
        ("drive.zip", zip_of([*good, ("C:/Windows/evil.png", good[0][1])]), "points outside its folder"),
        ("symlink.zip", zip_of([*good, _symlink_entry("cats/link.png", "/etc/passwd")]), "symbolic link"),
        ("encrypted.zip", _patched(zip_of(text), flags=0x1), "password-protected"),
        ("deflate64.zip", _patched(zip_of(text), method=9), "compression method"),
        (
            "declared-huge.zip",
            _patched(zip_of(text, zipfile.ZIP_STORED), size=400 * 2**20),
            "would unpack to",
        ),
        ("bomb.zip", zip_of([*good, ("cats/zeros.bmp", _zeros(24 * 2**20))]), "like a zip bomb"),
        (
            "too-many.zip",
            _many_entries(),
            f"{MAX_ZIP_ENTRIES + 1:,} entries",
        ),
        ("lying-count.zip", _lying_count(_many_entries(), 3), f"{MAX_ZIP_ENTRIES + 1:,} entries"),
        ("text-only.zip", zip_of(text), "holds no images"),
        ("only-junk.zip", zip_of([("__MACOSX/cats/._a.png", b"x"), (".DS_Store", b"x")]), "holds no images"),
        ("loose.zip", zip_of([("a.png", good[0][1]), ("b.png", good[1][1])]), "images at the top level"),
        ("one-class.zip", good_zip(classes=("cats",)), "only one class folder ('cats')"),
        ("one-dog.zip", zip_of(good[:5]), "class folder 'dogs'"),
        (
            "many-classes.zip",
            good_zip(classes=[f"c{i:03d}" for i in range(101)], per_class=2, size=8),
            "101 class folders",
        ),
    ]


def noted_zips() -> list[tuple[str, bytes, str]]:
    """Zips that load, with a note about what was left out: (file name, bytes, fragment of a note)."""
    good = good_entries()
    return [
        (
            "corrupt-inside.zip",
            zip_of([*good, ("cats/broken.jpg", cut(encode(noise_image(), "JPEG")))]),
            "Skipped 1 corrupt image: cats/broken.jpg.",
        ),
        ("notes-inside.zip", zip_of([*good, ("cats/notes.txt", b"hi")]), "not an image: cats/notes.txt."),
        (
            "mac-junk.zip",
            zip_of(
                [*good, ("__MACOSX/cats/._cats_0.png", b"x"), ("cats/.DS_Store", b"x"), ("Thumbs.db", b"x")]
            ),
            "Skipped 3 hidden or system files",
        ),
        ("loose-file.zip", zip_of([*good, ("readme.txt", b"hi")]), "outside any class folder: readme.txt."),
        (
            "empty-folder.zip",
            zip_of([*good, ("birds/", b"")]),
            "Folder 'birds' has no images and is left out.",
        ),
        (
            "heic-inside.zip",
            zip_of([*good, ("dogs/IMG_1.heic", heic_header())]),
            "format this app cannot read",
        ),
        (
            "pixel-inside.zip",
            zip_of([*good, ("dogs/pixel.png", encode(solid(0, 1), "PNG"))]),
            "smaller than 8",
        ),
        ("animated-inside.zip", zip_of([*good, ("cats/anim.gif", _animated("GIF"))]), "first frame of 1"),
        (
            "wrapped.zip",
            zip_of([*good_entries(top="pets"), ("pets/readme.txt", b"hi")]),
            "outside any class folder: pets/readme.txt.",
        ),
    ]


def bad_images() -> list[tuple[str, bytes, str]]:
    """Single images refused: (file name, bytes, fragment of the message)."""
    return [
        ("empty.png", b"", "is empty"),
        ("notes.png", b"Shopping list: milk, eggs, flour.\n", "not an image this app can read"),
        *[(f"truncated.{fmt.lower()}", cut(encode(noise_image(), fmt)), "damaged") for fmt in CUT_FORMATS],
        ("bomb.png", png_header(20_000, 20_000), "400 million pixels"),
        ("large.png", png_header(9_000, 9_000), "9000×9000 pixels"),
        ("pixel.png", encode(solid((0, 0, 0), 1), "PNG"), "at least 8 pixels on each side"),
        ("strip.png", encode(Image.new("RGB", (4, 100)), "PNG"), "only 4×100 pixels"),
        ("huge.jpg", b"\xff\xd8\xff" + _zeros(MAX_UPLOAD_BYTES), "MB; the limit is 50 MB"),
        ("scan.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "is a PDF document, not an image"),
        ("archive.jpg", good_zip(), "zip archive"),
        ("IMG_0001.heic", heic_header(), "HEIC"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>', "SVG drawing"),
        (
            "drawing.jpg",
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n",
            "not an image this app can read",
        ),
        ("icon.ico", encode(solid((0, 0, 255), 16), "ICO"), "not an image this app can read"),
    ]


def _animated(fmt: str) -> bytes:
    """Two frames: red, then blue."""
    frames = [solid((255, 0, 0)), solid((0, 0, 255))]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def _rotated_jpeg() -> bytes:
    """A portrait photo (red top half, blue bottom half, 16 wide x 32 tall) stored on its side.

    Stored as a phone does: landscape pixels plus EXIF orientation 6 ("turn 90° clockwise").
    """
    upright = Image.new("RGB", (16, 32), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 16, 16))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 32 x 16, red on the left
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def _transparent_rgba() -> bytes:
    """Left half opaque red, right half fully transparent black."""
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 8, 16))
    return encode(img, "PNG")


def _grey16() -> bytes:
    """16-bit grey: mid-grey 32896 (= 128 x 257) with a black block and a white block."""
    a = np.full((16, 16), 32896, dtype=np.uint16)
    a[:4, :4] = 0
    a[-4:, -4:] = 65535
    return encode(Image.fromarray(a), "PNG")


def _palette_transparent() -> bytes:
    """Palette PNG: index 0 transparent (top half), index 1 green (bottom half)."""
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    img.paste(1, (0, 8, 16, 16))
    return encode(img, "PNG", transparency=0)


def _one_bit() -> bytes:
    """1-bit BMP: left half black, right half white."""
    img = Image.new("1", (16, 16), 0)
    img.paste(1, (8, 0, 16, 16))
    return encode(img, "BMP")


def _two_pages() -> bytes:
    pages = [solid((0, 0, 255)), solid((255, 0, 0))]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def odd_mode_images() -> list[tuple[str, bytes]]:
    """Readable images in awkward modes and formats: (file name, bytes)."""
    grey_alpha = Image.new("LA", (16, 16), (0, 0))
    grey_alpha.paste((0, 255), (0, 0, 8, 16))  # left half opaque black, right half transparent
    return [
        ("transparent.png", _transparent_rgba()),
        ("grey-alpha.png", encode(grey_alpha, "PNG")),
        ("cmyk.jpg", encode(solid((0, 255, 255, 0), mode="CMYK"), "JPEG", quality=95)),
        ("grey16.png", _grey16()),
        ("palette.png", _palette_transparent()),
        ("rotated.jpg", _rotated_jpeg()),
        ("animated.gif", _animated("GIF")),
        ("animated.webp", _animated("WEBP")),
        ("one-bit.bmp", _one_bit()),
        ("photo.tif", encode(solid((0, 0, 255)), "TIFF")),
        ("pages.tif", _two_pages()),
        ("photo.webp", encode(solid((0, 200, 0)), "WEBP", lossless=True)),
        ("grey.jpg", encode(solid(100, mode="L"), "JPEG", quality=95)),
    ]


# ---- hostile files: cheap to make, costly to read naively; and what reading one costs -------------


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one call cost: the growth of the process's peak resident memory, and wall time."""

    peak_bytes: int
    seconds: float


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cost(fn, *args, **kwargs) -> tuple[object, Cost]:
    """(fn's result or the exception it raised, its Cost). Peak memory is the kernel's high-water mark
    of resident memory (VmHWM), reset just before the call (/proc/self/clear_refs), less the resident
    memory then: it counts every allocator (torch's, PIL's, numpy's), not Python's alone. Freed memory
    is handed back to the system first (malloc_trim), so that the call cannot reuse it unseen."""
    gc.collect()
    libc = ctypes.CDLL("libc.so.6")
    # glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so after a long
    # test session big arrays come from the heap, whose freed middle is not handed back: the same call
    # then measured 86-91 MB instead of 45-63. A fixed threshold (M_MMAP_THRESHOLD = -3) measures the
    # call, not the session's history.
    libc.mallopt(-3, 128 * 1024)
    libc.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the resident memory now
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except Exception as err:  # the refusal is the result under test
        result = err
    seconds = time.perf_counter() - start
    return result, Cost(max(0, _status_kib("VmHWM") - before) * 1024, seconds)


MIB = 2**20


def deflate_bomb(inflated: int) -> bytes:
    """A raw DEFLATE stream of `inflated` zero bytes (a multiple of 1 MiB): ~1 KB per MiB, made in
    milliseconds by repeating one fully flushed block, which a full flush makes self-contained."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    return block * (inflated // MIB) + zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


@functools.cache
def bzip2_bomb(inflated: int) -> bytes:
    """A BZIP2 stream of `inflated` zero bytes (16 MiB: ~50 bytes, made in ~0.4 s)."""
    return bz2.compress(bytes(inflated), 9)


@dataclasses.dataclass(frozen=True)
class RawEntry:
    """A zip entry written byte by byte, so that it may declare what it does not hold."""

    name: str
    packed: bytes
    size: int  # the uncompressed size it declares
    crc: int
    method: int = zipfile.ZIP_DEFLATED


def _local_header(e: RawEntry) -> bytes:
    name = e.name.encode()
    return struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, e.method, 0, 0x21, e.crc, len(e.packed), e.size,
                       len(name), 0) + name + e.packed  # fmt: skip


def _central_header(e: RawEntry, offset: int) -> bytes:
    name = e.name.encode()
    return struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, e.method, 0, 0x21, e.crc, len(e.packed),
                       e.size, len(name), 0, 0, 0, 0, 0, offset) + name  # fmt: skip


def _end_records(
    entries: int, size: int, offset: int, classic: tuple[int, int, int] | None, zip64: bool
) -> bytes:
    """The end records after a directory of `entries` entries, `size` bytes, at `offset`. `classic`
    (entries, size, offset) overrides what the classic record says; zip64 adds a zip64 record and its
    locator before it."""
    records = b""
    if zip64:
        at = offset + size
        records += struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
        records += struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    n, size, offset = classic or (entries, size, offset)
    return records + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, size, offset, 0)


def raw_zip(
    entries: list[RawEntry], classic: tuple[int, int, int] | None = None, zip64: bool = False
) -> bytes:
    """A zip written byte by byte from its entries (see _end_records for `classic` and `zip64`)."""
    body, directory = b"", b""
    for e in entries:
        directory += _central_header(e, len(body))
        body += _local_header(e)
    return body + directory + _end_records(len(entries), len(directory), len(body), classic, zip64)


def as_raw(name: str, data: bytes) -> RawEntry:
    """An honest stored entry."""
    return RawEntry(name, data, len(data), zlib.crc32(data), zipfile.ZIP_STORED)


def lying_entry_zip(method: int, inflated: int, classes=("cats", "dogs")) -> bytes:
    """A good zip plus 'cats/liar.png', which declares 1,000 bytes but whose stream inflates to
    `inflated` zero bytes: zipfile's read() inflates it whole (up to 2 GiB for DEFLATE, all of it for
    BZIP2) before it cuts the result to 1,000 bytes."""
    packed = deflate_bomb(inflated) if method == zipfile.ZIP_DEFLATED else bzip2_bomb(inflated)
    liar = RawEntry("cats/liar.png", packed, 1000, zlib.crc32(bytes(1000)), method)
    return raw_zip([as_raw(name, data) for name, data in good_entries(classes)] + [liar])


@functools.cache
def forged_directory_zip(entries: int, classic_agrees: bool) -> bytes:
    """A zip whose directory lists `entries` names, all pointing at one tiny entry, announced by a zip64
    record that zipfile prefers, while the classic record says 3 entries (or 'see zip64')."""
    one = as_raw("cats/a.txt", b"a")
    body = _local_header(one)
    head = _central_header(dataclasses.replace(one, name="000000"), 0)[:-6]  # the same for every name
    directory = b"".join(head + b"%06d" % i for i in range(entries))
    classic = (
        (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF) if classic_agrees else (3, 3 * len(head + b"000000"), len(body))
    )
    return body + directory + _end_records(entries, len(directory), len(body), classic, zip64=True)


def honest_zip64(data: bytes) -> bytes:
    """The same zip with a zip64 end record and its locator, the classic record saying 'see zip64' in
    every field, as streaming zip tools write it."""
    at = data.rfind(b"PK\x05\x06")
    _, _, _, n, _, size, offset, _ = struct.unpack_from("<4s4H2IH", data, at)
    return data[:at] + _end_records(n, size, offset, (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF), zip64=True)


@functools.cache
def flat_png(width: int, height: int) -> bytes:
    """One colour over width x height pixels: a 49-megapixel PNG is ~160 kB."""
    return encode(Image.new("RGB", (width, height), (200, 30, 30)), "PNG")


def deep_image(side: int, mode: str) -> bytes:
    """A side x side grey gradient in 16-bit ('I;16' PNG), 32-bit integer ('I' TIFF) or float ('F'
    TIFF) pixels, deflate-compressed; the float one holds a NaN and an infinity."""
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)[None, :].repeat(side, axis=0)  # (side, side)
    if mode == "I;16":
        return encode(Image.fromarray((ramp * 65535).astype(np.uint16)), "PNG")
    if mode == "I":
        return encode(
            Image.fromarray((ramp * 1e6).astype(np.int32)), "TIFF", compression="tiff_adobe_deflate"
        )
    ramp[0, 0], ramp[0, 1] = np.nan, np.inf
    return encode(Image.fromarray(ramp * 40.0 - 10.0), "TIFF", compression="tiff_adobe_deflate")
