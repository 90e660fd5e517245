"""Untrusted image files and zip folders of images -> RGB PIL images and an ImageSet.

Every upload is refused or read with one sentence a student can act on; no PIL or zipfile
exception escapes. Nothing is extracted to disk: zip entries are read into memory one at a
time through core.data.zips, which never decompresses more than an entry's declared size + 1
bytes (declared sizes are capped before anything is decompressed) and checks each CRC-32.
Names quoted in a sentence are shortened to 40 characters (core.errors.shorten).

Caps, and why:
- MAX_UPLOAD_BYTES (50 MiB): one image or one zip as uploaded; larger ones are refused unread.
- MAX_IMAGE_PIXELS (50 million): checked on the header size before any pixel is decoded, so a
  20000x20000 decompression bomb costs nothing. 50 million lets a 50-megapixel phone photo
  (8160x6120) through; decoded it is ~150 MB of RGB for a moment. (PIL itself warns from 89
  million pixels and refuses from 179 million; its refusal becomes the same sentence here.)
- MIN_SIDE (8 px): an image narrower than that holds no picture (a 1x1 tracking pixel, an
  icon sliver); stretched to a model's input it is a flat smear, so prediction refuses it and
  a zip skips it with a note.
- MAX_ZIP_PIXELS (100 million): the decoded pixels of all images of one zip (or of one batch of
  uploads) together, counted from each header (after a JPEG's reduced-scale draft) before its
  pixels are decoded. A 50 MB zip of photos holds far fewer; a zip of flat drawings, which
  compress ~1,000 times, could otherwise hold thousands of 50-megapixel images (measured:
  a flat 49-megapixel PNG of 160 kB takes ~2.3 s to decode and resize here, see SECURITY.md).
- MAX_ZIP_ENTRIES (5,000), MAX_UNCOMPRESSED_BYTES (300 MiB), MAX_COMPRESSION_RATIO (200 over
  more than 20 MiB): a zip of photos barely compresses (JPEG, PNG are compressed already);
  a zip bomb compresses thousands of times. The entry count and directory size are read from
  the end record zipfile will use (zip64's when present) before zipfile parses the directory
  (measured: 300,000 empty entries in a 26 MB zip took zipfile 4 s and ~300 MB to list).
- 16-bit, 32-bit and floating-point images are scaled to 8 bits in float32 bands of about a
  million pixels: no full-size temporary beyond the decoded image itself.
- MAX_CLASSES (100), MIN_CLASS_IMAGES (2): each class needs an image to train on and one to test.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import stat
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F

from core.data import zips
from core.data.images import ImageSet, stratified_split
from core.errors import ConfigError, shorten

MAX_UPLOAD_BYTES = 50 * 2**20  # one uploaded image or zip
MAX_IMAGE_PIXELS = 50_000_000  # width x height from the header, before decoding
MAX_ZIP_PIXELS = 100_000_000  # decoded pixels of one zip's (or one batch's) images together
MIN_SIDE = 8  # pixels; a thinner image carries no picture
MAX_ZIP_ENTRIES = 5_000  # files and folders listed in one zip
MAX_DIRECTORY_BYTES_PER_ENTRY = 1024  # a zip's file list, on average per allowed entry (names ~20-300 B)
MAX_UNCOMPRESSED_BYTES = 300 * 2**20  # all entries of one zip together, as declared
MAX_COMPRESSION_RATIO = 200  # unpacked : packed, over the whole zip ...
MIN_BOMB_BYTES = 20 * 2**20  # ... once it unpacks to more than this (flat drawings compress well)
MAX_CLASSES = 100
MIN_CLASS_IMAGES = 2  # one for the training split and one for the test split
MIN_ZIP_IMAGE_SIZE, MAX_ZIP_IMAGE_SIZE = 8, 64  # the page offers at most 64: 5,000 at 128 px peaked at 1.9 GB

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # PIL may open nothing else (no EPS, no PSD)
FORMAT_LIST = "PNG, JPEG, WebP, BMP, GIF or TIFF"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff")
SYSTEM_FILES = ("__macosx", "thumbs.db", "desktop.ini")  # with dotfiles: made by the OS, not the student
SHOWN_NAMES = 5  # entry names listed in one note before "and N more"

_OTHER_FILES = {  # leading bytes of files students pick by mistake -> what they are
    b"PK\x03\x04": "a zip archive or an Office document",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_UPLOAD_MB = MAX_UPLOAD_BYTES // 2**20
_MILLION_PIXELS = MAX_IMAGE_PIXELS // 10**6
_DRIVE = re.compile(r"^[A-Za-z]:")
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")  # in PIL's DecompressionBombError message
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # more than 8 bits per pixel
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
BAND_PIXELS = 2**20  # a high-bit-depth image is scaled to 8 bits this many pixels at a time

# reason -> (singular, plural) opening of the note that lists the skipped entries
_SKIP_NOTES = {
    "not an image": ("Skipped 1 file that is not an image", "Skipped {n} files that are not images"),
    "unsupported format": (
        f"Skipped 1 image in a format this app cannot read (use {FORMAT_LIST})",
        f"Skipped {{n}} images in formats this app cannot read (use {FORMAT_LIST})",
    ),
    "corrupt image": ("Skipped 1 corrupt image", "Skipped {n} corrupt images"),
    "image too large": ("Skipped 1 image too large to read", "Skipped {n} images too large to read"),
    "image too small": (
        f"Skipped 1 image smaller than {MIN_SIDE} pixels on a side",
        f"Skipped {{n}} images smaller than {MIN_SIDE} pixels on a side",
    ),
    "not in a class folder": (
        "Skipped 1 file outside any class folder",
        "Skipped {n} files outside any class folder",
    ),
    "hidden or system file": ("Skipped 1 hidden or system file", "Skipped {n} hidden or system files"),
    "repeated entry": ("Skipped 1 repeated entry", "Skipped {n} repeated entries"),
}


class ImageFileError(ConfigError):
    """An image or zip that cannot be used; its message is one sentence naming the file.

    `reason` is a short key ("corrupt image", "not an image", ...) by which a zip groups the
    entries it skips.
    """

    def __init__(self, message: str, reason: str = "unreadable"):
        super().__init__(message)
        self.reason = reason


class PixelBudget:
    """The decoded pixels that a set of images read together (one zip, one batch) may still cost.

    Each image spends its pixels from its header, before they are decoded; an image that would
    overspend raises PixelBudgetError and spends nothing.
    """

    def __init__(self, pixels: int | None = None):
        self.total = self.left = MAX_ZIP_PIXELS if pixels is None else pixels

    def spend(self, pixels: int, name: str) -> None:
        if pixels > self.left:
            raise PixelBudgetError(
                f"The image '{name}' is left out: with it, the images read together would pass "
                f"{self.total / 1e6:,.0f} million pixels.",
                "over the pixel budget",
            )
        self.left -= pixels


class PixelBudgetError(ImageFileError):
    """An image that the pixel budget of its zip or batch cannot pay for."""


# ---- one image ------------------------------------------------------------------------------


def open_image(
    data: bytes, name: str, *, draft_side: int | None = None, budget: PixelBudget | None = None
) -> tuple[Image.Image, list[str]]:
    """Decode untrusted bytes into an upright RGB image, with notes (sentences) on what was changed.

    Animated images give their first frame; transparency is filled with white; CMYK, palette,
    1-bit and 16-bit images become 8-bit RGB; EXIF orientation is applied. `draft_side` lets a
    JPEG decode at a reduced scale that still keeps at least that many pixels on each side;
    `budget` pays for the pixels decoded. Raises ImageFileError for anything that cannot be read.
    """
    name = shorten(name)
    img, changes = _decode(data, name, draft_side, budget)
    notes = []
    if "frames" in changes:
        notes.append(f"The image '{name}' is animated; only its first frame is used.")
    if "pages" in changes:
        notes.append(f"The image '{name}' has several pages; only the first page is used.")
    if "transparent" in changes:
        notes.append(f"The image '{name}' has transparent areas; they are filled with white.")
    return img, notes


def image_to_tensor(img: Image.Image, size: int, channels: int = 3) -> torch.Tensor:
    """Centre square of the image resized to size x size: (channels, size, size) float32 in [0, 1].

    The same picture as resizing the shorter side to `size` and centre-cropping, but cropped
    first, so a 8 x 6,000,000 strip never becomes a 32 x 24,000,000 tensor on the way. Resized
    as a PIL image (v2's resize hands PIL images to PIL): 1.6x faster than on a uint8 tensor for
    small images, and within 1/255 of it.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    mode = "L" if channels == 1 else "RGB"
    if img.mode != mode:  # convert() would copy even an RGB image: 200 MB at 50 megapixels
        img = img.convert(mode)
    side = min(img.size)
    if img.width != img.height:
        img = F.center_crop(img, [side, side])
    img = F.resize(img, [size, size], antialias=True)  # on PIL: PIL's bilinear, as antialiased as torch's
    return F.pil_to_tensor(img).to(torch.float32).div_(255.0)  # (C, size, size)


def _decode(
    data: bytes, name: str, draft_side: int | None, budget: PixelBudget | None = None
) -> tuple[Image.Image, set[str]]:
    """Bytes -> loaded, upright RGB image and the set of changes made ("frames", "pages", "transparent")."""
    name = shorten(name)
    if not data:
        raise ImageFileError(f"The file '{name}' is empty.", "not an image")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageFileError(
            f"The file '{name}' is {_megabytes(len(data))} MB; the limit is {_UPLOAD_MB} MB.",
            "image too large",
        )
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as e:
        found = _BOMB_PIXELS.search(str(e))
        pixels = f"{int(found.group(1)) / 1e6:,.0f} million" if found else "too many"
        raise ImageFileError(
            f"The image '{name}' has {pixels} pixels; the limit is {_MILLION_PIXELS} million pixels.",
            "image too large",
        ) from None
    except UnidentifiedImageError:
        raise _not_an_image(data, name) from None
    except Exception:
        raise _corrupt(name) from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFileError(
            f"The image '{name}' is {width}×{height} pixels ({width * height / 1e6:,.0f} million); "
            f"the limit is {_MILLION_PIXELS} million pixels.",
            "image too large",
        )
    if min(width, height) < MIN_SIDE:
        raise ImageFileError(
            f"The image '{name}' is only {width}×{height} pixels; an image needs at least "
            f"{MIN_SIDE} pixels on each side.",
            "image too small",
        )
    changes = set()
    try:
        if getattr(img, "is_animated", False) and img.format != "MPO":  # MPO: a JPEG and its preview
            changes.add("pages" if img.format == "TIFF" else "frames")
        if draft_side and img.format in ("JPEG", "MPO"):
            img.draft(None, (draft_side, draft_side))  # decode at 1/2, 1/4 or 1/8 scale when that is enough
    except Exception:
        raise _corrupt(name) from None
    if budget is not None:
        budget.spend(img.width * img.height, name)  # the size that will be decoded, draft included
    try:
        img.load()  # raises on a truncated file: ImageFile.LOAD_TRUNCATED_IMAGES is left at PIL's False
    except Exception:
        raise _corrupt(name) from None
    with contextlib.suppress(Exception):  # an unreadable EXIF block leaves the image as stored
        ImageOps.exif_transpose(img, in_place=True)  # phone photos, stored sideways; a copy costs 200 MB
    try:
        if img.mode in _DEEP_MODES:
            img = _deep_to_grey(
                img
            )  # the deep image goes before its RGB copy is made: 200 MB less at the peak
        rgb, transparent = _to_rgb(img)
    except Exception:
        raise _corrupt(name) from None
    if transparent:
        changes.add("transparent")
    return rgb, changes


def _to_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """Any 8-bit PIL mode -> RGB; transparent areas composited on white. Returns (image, had transparency)."""
    if img.mode == "1":
        img = img.convert("L")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:  # an alpha channel that is opaque everywhere
            return rgba.convert("RGB"), False
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), True
    return (img if img.mode == "RGB" else img.convert("RGB")), False  # RGB, L, P, CMYK, YCbCr, LAB, HSV


def _deep_to_grey(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float grey -> 8-bit grey, scaled rather than clipped at 255.

    I;16* is 0..65535. Mode I (32-bit) and F have no fixed range: I up to 255 is read as 8-bit,
    up to 65535 as 16-bit, F within 0..1 as a fraction; anything else is stretched over its finite
    minimum..maximum (NaN is black; infinities clip to black or white). Two passes over bands of
    BAND_PIXELS in float32: the only full-size array is the 8-bit result.
    """
    low, high = _finite_range(img)
    if img.mode.startswith("I;16"):
        low, scale = 0.0, 65535.0
    elif img.mode == "F" and low >= 0.0 and high <= 1.0:
        low, scale = 0.0, 1.0
    elif img.mode == "I" and low >= 0.0 and high <= 255.0:
        low, scale = 0.0, 255.0
    elif img.mode == "I" and low >= 0.0 and high <= 65535.0:
        low, scale = 0.0, 65535.0
    else:
        scale = max(high - low, 1e-12)
    grey = np.empty((img.height, img.width), np.uint8)  # (H, W)
    for top, band in _bands(img):
        band -= np.float32(low)
        band *= np.float32(255.0 / scale)
        np.nan_to_num(band, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(band, 0.0, 255.0, out=band)
        np.rint(band, out=band)
        grey[top : top + len(band)] = band  # cast to uint8 in place
    return Image.fromarray(grey, mode="L")


def _finite_range(img: Image.Image) -> tuple[float, float]:
    """(min, max) of the image's finite pixels, (0, 0) if none is finite; band by band."""
    low, high = math.inf, -math.inf
    for _, band in _bands(img):
        finite = band[np.isfinite(band)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else (0.0, 0.0)


def _bands(img: Image.Image):
    """(first row, (rows, W) float32 array) of about BAND_PIXELS pixels each, top to bottom."""
    rows = max(1, BAND_PIXELS // img.width)
    for top in range(0, img.height, rows):
        bottom = min(img.height, top + rows)
        yield top, np.array(img.crop((0, top, img.width, bottom)), dtype=np.float32)  # (rows, W), a copy


def _not_an_image(data: bytes, name: str) -> ImageFileError:
    """The error for bytes PIL cannot identify, naming what they are where the header says."""
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return ImageFileError(
            f"The file '{name}' is a HEIC or AVIF photo, which this app cannot read; "
            "export it as JPEG or PNG first.",
            "unsupported format",
        )
    head = data[:256].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower():
        return ImageFileError(
            f"The file '{name}' is an SVG drawing, which this app cannot read; export it as PNG first.",
            "unsupported format",
        )
    if data.startswith(_IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
        return _corrupt(name)  # an image's signature with a header PIL cannot parse
    for signature, kind in _OTHER_FILES.items():
        if data.startswith(signature):
            return ImageFileError(f"The file '{name}' is {kind}, not an image.", "not an image")
    return ImageFileError(
        f"The file '{name}' is not an image this app can read; use {FORMAT_LIST}.", "not an image"
    )


def _corrupt(name: str) -> ImageFileError:
    return ImageFileError(f"The image '{name}' is damaged or incomplete and cannot be read.", "corrupt image")


# ---- a zip of class folders -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ZipImport:
    """The images of a zip of class folders, split for training, and what was left out and why."""

    images: ImageSet  # (N, 3, size, size) RGB; class names are the folder names, sorted
    skipped: dict[str, list[str]]  # reason -> entry names, e.g. "corrupt image" -> ["cats/broken.jpg"]
    notes: list[str]  # sentences to show beside the class counts


def read_image_zip(
    data: bytes, name: str, size: int = 32, test_fraction: float = 0.25, seed: int = 0
) -> ZipImport:
    """Read a zip with one folder of images per class (ImageFolder layout) into a stratified ImageSet.

    Class folders sit at the zip's root or under a single top folder (clouds/cirrus/*.jpg);
    folders nested deeper belong to their class folder. Files outside any class folder, hidden
    and system files, non-images and unreadable images are skipped and noted. The whole zip is
    refused, with one sentence naming it, when it is unsafe, too large or cannot make a
    classification task. Same bytes and seed, same split.
    """
    if not MIN_ZIP_IMAGE_SIZE <= size <= MAX_ZIP_IMAGE_SIZE:
        raise ConfigError(
            f"The image size must be between {MIN_ZIP_IMAGE_SIZE} and {MAX_ZIP_IMAGE_SIZE} pixels, "
            f"not {size}."
        )
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"The test fraction must be between 0 and 1, not {test_fraction}.")
    name = shorten(name)  # as every sentence quotes it
    zf = _open_zip(data, name)
    files = _safe_files(zf, name)
    skipped: dict[str, list[str]] = {}
    by_class, folders = _layout(files, skipped)
    labels, changes, class_names = [], Counter(), []
    budget = PixelBudget()
    x = torch.empty(
        (sum(len(entries) for entries in by_class.values()), 3, size, size)
    )  # rows unused cost nothing
    for folder in sorted(by_class):
        n_before = len(labels)
        for path, info in by_class[folder]:
            try:
                img, made = _decode(_read_entry(data, info, path), path, size, budget)
            except PixelBudgetError:
                raise ImageFileError(
                    f"The zip file '{name}' holds more than {budget.total / 1e6:,.0f} million pixels "
                    "of images; make them smaller (a few hundred pixels a side is plenty) or zip fewer."
                ) from None
            except ImageFileError as e:
                skipped.setdefault(e.reason, []).append(path)
                continue
            x[len(labels)] = image_to_tensor(img, size)  # (3, size, size) float32 in [0, 1]
            del img  # a decoded image may be 200 MB: gone before the next one is decoded
            changes.update(made)
            labels.append(len(class_names))
        if len(labels) > n_before:
            class_names.append(folder)
    _check_classes(name, class_names, labels, skipped)
    images = stratified_split(x[: len(labels)], np.array(labels), tuple(class_names), test_fraction, seed)
    del x  # the split holds its own copy: at the peak the images are held twice, never three times
    notes = _notes(skipped, sorted(folders - set(class_names)), changes)
    return ZipImport(images, {reason: sorted(paths) for reason, paths in skipped.items()}, notes)


def _open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    """Refuse empty, oversized, non-zip, damaged and over-full archives; else the open ZipFile."""
    if not data:
        raise ImageFileError(f"The file '{name}' is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageFileError(
            f"The zip file '{name}' is {_megabytes(len(data))} MB; the limit is {_UPLOAD_MB} MB."
        )
    try:
        return zips.open_zip(data, MAX_ZIP_ENTRIES, MAX_ZIP_ENTRIES * MAX_DIRECTORY_BYTES_PER_ENTRY)
    except zips.ZipProblem as problem:
        raise ImageFileError(f"The zip file '{name}' {problem}.") from None
    except Exception:
        if data.startswith(b"PK"):
            raise ImageFileError(f"The zip file '{name}' is damaged and cannot be opened.") from None
        if data.startswith(_IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
            raise ImageFileError(
                f"The file '{name}' is an image, not a zip archive; upload a zip with one folder per class."
            ) from None
        raise ImageFileError(f"The file '{name}' is not a zip archive.") from None


def _safe_files(zf: zipfile.ZipFile, name: str) -> list[tuple[str, zipfile.ZipInfo | None]]:
    """Check every entry before reading any; returns (path with '/' separators, info) of each.

    Folders come back with info None. Refuses the whole zip for an entry that escapes its
    folder, a symbolic link, an encrypted entry, an unknown compression method, or sizes that
    add up to a zip bomb.
    """
    entries = []
    unpacked = packed = 0
    for info in zf.infolist():
        path = info.filename.replace("\\", "/")  # Windows tools write '\'; '..\..\x' is a traversal too
        parts = path.split("/")
        if path.startswith("/") or _DRIVE.match(path) or ".." in parts:
            raise ImageFileError(
                f"The zip file '{name}' is refused: its entry '{shorten(info.filename)}' points outside its "
                "folder."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ImageFileError(
                f"The zip file '{name}' is refused: its entry '{shorten(info.filename)}' is a symbolic link."
            )
        if info.flag_bits & 0x1:
            raise ImageFileError(
                f"The zip file '{name}' is password-protected; zip the folder again without a password."
            )
        if info.compress_type not in zips.COMPRESSIONS:
            raise ImageFileError(
                f"The zip file '{name}' uses a compression method this app cannot read; "
                "zip the folder again with your computer's standard zip tool."
            )
        unpacked += info.file_size
        packed += info.compress_size
        entries.append((path.rstrip("/"), None if path.endswith("/") else info))
    if unpacked > MAX_UNCOMPRESSED_BYTES:
        raise ImageFileError(
            f"The zip file '{name}' would unpack to {unpacked / 2**20:,.0f} MB; "
            f"the limit is {MAX_UNCOMPRESSED_BYTES // 2**20} MB."
        )
    if unpacked > MIN_BOMB_BYTES and unpacked > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise ImageFileError(
            f"The zip file '{name}' is refused: it unpacks to {unpacked / max(packed, 1):,.0f} times its "
            "size, like a zip bomb, and photos never compress that well."
        )
    return entries


def _layout(
    entries: list[tuple[str, zipfile.ZipInfo | None]], skipped: dict[str, list[str]]
) -> tuple[dict[str, list[tuple[str, zipfile.ZipInfo]]], set[str]]:
    """Group files by class folder: (class -> [(path, info)] sorted by path, every class-level folder).

    Hidden and system files, repeated entries and files outside any class folder go to `skipped`.
    While every image (judged by its suffix) lies at least two folders down inside one shared
    top folder, that folder is a wrapper and is looked through (clouds/cirrus/a.jpg -> cirrus).
    """
    files, dirs, seen = [], [], set()
    for path, info in entries:
        parts = path.split("/")
        if any(part.startswith(".") or part.lower() in SYSTEM_FILES for part in parts):
            if info is not None:
                skipped.setdefault("hidden or system file", []).append(path)
        elif info is None:
            dirs.append(parts)
        elif path in seen:
            skipped.setdefault("repeated entry", []).append(path)
        else:
            seen.add(path)
            files.append((parts, info))
    images = [parts for parts, _ in files if parts[-1].lower().endswith(IMAGE_SUFFIXES)]
    depth = 0
    while images and all(len(p) >= depth + 3 for p in images) and len({p[depth] for p in images}) == 1:
        depth += 1
    prefix = images[0][:depth] if depth else []
    by_class: dict[str, list[tuple[str, zipfile.ZipInfo]]] = {}
    for parts, info in sorted(files, key=lambda f: f[0]):
        path = "/".join(parts)
        if parts[:depth] != prefix or len(parts) < depth + 2:
            skipped.setdefault("not in a class folder", []).append(path)
            continue
        folder = unicodedata.normalize("NFC", parts[depth])  # macOS zips spell 'é' as 'e' + accent
        by_class.setdefault(folder, []).append((path, info))
    folders = {
        unicodedata.normalize("NFC", parts[depth])
        for parts in dirs
        if len(parts) > depth and parts[:depth] == prefix
    }
    return by_class, folders | set(by_class)


def _read_entry(data: bytes, info: zipfile.ZipInfo, path: str) -> bytes:
    """The entry's bytes: never more than its declared size (capped) is decompressed; damaged -> corrupt."""
    if info.file_size > MAX_UPLOAD_BYTES:
        raise ImageFileError(f"The file '{shorten(path)}' is too large.", "image too large")
    try:
        return zips.read_member(data, info)
    except zips.ZipProblem as problem:
        raise ImageFileError(f"The file '{shorten(path)}' {problem}.", "corrupt image") from None


def _check_classes(
    name: str, class_names: list[str], labels: list[int], skipped: dict[str, list[str]]
) -> None:
    """Refuse a zip that cannot make a classification task: no images, one class, tiny or too many classes."""
    if not class_names:
        loose = skipped.get("not in a class folder", [])
        if any(path.lower().endswith(IMAGE_SUFFIXES) for path in loose):
            raise ImageFileError(
                f"The zip file '{name}' has its images at the top level; put them in one folder per "
                "class (for example cats/ and dogs/)."
            )
        raise ImageFileError(
            f"The zip file '{name}' holds no images this app can read; it needs one folder of "
            f"{FORMAT_LIST} images per class."
        )
    if len(class_names) > MAX_CLASSES:
        raise ImageFileError(
            f"The zip file '{name}' has {len(class_names)} class folders; the limit is {MAX_CLASSES}."
        )
    if len(class_names) == 1:
        raise ImageFileError(
            f"The zip file '{name}' has only one class folder ('{shorten(class_names[0])}'); "
            "it needs at least two classes."
        )
    counts = np.bincount(labels, minlength=len(class_names))
    small = [f"'{shorten(c)}'" for c, n in zip(class_names, counts, strict=True) if n < MIN_CLASS_IMAGES]
    if small:
        which = f"class folder {small[0]}" if len(small) == 1 else f"class folders {_listing(small)}"
        raise ImageFileError(
            f"The {which} in '{name}' {'has' if len(small) == 1 else 'have'} only 1 image; every class "
            f"needs at least {MIN_CLASS_IMAGES} (one to train on and one to test on)."
        )


def _notes(skipped: dict[str, list[str]], empty_folders: list[str], changes: Counter) -> list[str]:
    """Sentences on what was skipped, which folders were left out, and what was changed."""
    notes = []
    for reason, (one, many) in _SKIP_NOTES.items():
        paths = sorted(skipped.get(reason, []))
        if paths:
            opening = one if len(paths) == 1 else many.format(n=len(paths))
            notes.append(f"{opening}: {_listing([shorten(path) for path in paths])}.")
    for folder in empty_folders:
        notes.append(f"Folder '{shorten(folder)}' has no images and is left out.")
    if changes["frames"]:
        notes.append(f"Used the first frame of {_count(changes['frames'], 'animated image')}.")
    if changes["pages"]:
        notes.append(f"Used the first page of {_count(changes['pages'], 'multi-page image')}.")
    if changes["transparent"]:
        notes.append(f"Filled the transparent areas of {_count(changes['transparent'], 'image')} with white.")
    return notes


def _listing(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c, d, e and 3 more'."""
    shown = names[:SHOWN_NAMES]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _megabytes(n: int) -> str:
    """Bytes as MB (MiB) to one decimal, rounded up: a file 4 bytes over 50 MB reads 50.1, not 50.0."""
    return f"{math.ceil(n / 2**20 * 10) / 10:.1f}"


def _count(n: int, noun: str) -> str:
    return f"1 {noun}" if n == 1 else f"{n} {noun}s"
