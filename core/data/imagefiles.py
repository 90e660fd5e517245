"""Untrusted image files -> RGB PIL images (a zip of class folders: core.data.imagezip).

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

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F

from core.errors import ConfigError, shorten

MAX_UPLOAD_BYTES = 50 * 2**20  # one uploaded image or zip
MAX_IMAGE_PIXELS = 50_000_000  # width x height from the header, before decoding
MAX_ZIP_PIXELS = 100_000_000  # decoded pixels of one zip's (or one batch's) images together
MIN_SIDE = 8  # pixels; a thinner image carries no picture

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # PIL may open nothing else (no EPS, no PSD)
FORMAT_LIST = "PNG, JPEG, WebP, BMP, GIF or TIFF"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff")

_OTHER_FILES = {  # leading bytes of files students pick by mistake -> what they are
    b"PK\x03\x04": "a zip archive or an Office document",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
UPLOAD_MB = MAX_UPLOAD_BYTES // 2**20
_MILLION_PIXELS = MAX_IMAGE_PIXELS // 10**6
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")  # in PIL's DecompressionBombError message
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # more than 8 bits per pixel
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
BAND_PIXELS = 2**20  # a high-bit-depth image is scaled to 8 bits this many pixels at a time


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
    img, changes = decode(data, name, draft_side, budget)
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


def _open(data: bytes, name: str) -> Image.Image:
    """The image's header read and its size checked (empty, too many bytes, too many pixels, a side
    too short); nothing decoded yet."""
    if not data:
        raise ImageFileError(f"The file '{name}' is empty.", "not an image")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageFileError(
            f"The file '{name}' is {megabytes(len(data))} MB; the limit is {UPLOAD_MB} MB.",
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
    return img


def decode(
    data: bytes, name: str, draft_side: int | None, budget: PixelBudget | None = None
) -> tuple[Image.Image, set[str]]:
    """Bytes -> loaded, upright RGB image and the set of changes made ("frames", "pages", "transparent")."""
    name = shorten(name)
    img = _open(data, name)
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
            # the deep image goes before its RGB copy is made: 200 MB less at the peak
            img = _deep_to_grey(img)
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
    if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
        return _corrupt(name)  # an image's signature with a header PIL cannot parse
    for signature, kind in _OTHER_FILES.items():
        if data.startswith(signature):
            return ImageFileError(f"The file '{name}' is {kind}, not an image.", "not an image")
    return ImageFileError(
        f"The file '{name}' is not an image this app can read; use {FORMAT_LIST}.", "not an image"
    )


def _corrupt(name: str) -> ImageFileError:
    return ImageFileError(f"The image '{name}' is damaged or incomplete and cannot be read.", "corrupt image")


def megabytes(n: int) -> str:
    """Bytes as MB (MiB) to one decimal, rounded up: a file 4 bytes over 50 MB reads 50.1, not 50.0."""
    return f"{math.ceil(n / 2**20 * 10) / 10:.1f}"
