"""Hostile zips and images: each costs a bounded amount of memory and time, and gets one sentence.

Memory is the growth of the process's peak resident memory (tests.badfiles.cost); the hostile files
are made here, in milliseconds, and each would cost the old reader hundreds of MB or many seconds
(SECURITY.md has the figures before and after).
"""

from __future__ import annotations

import io
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data import imagefiles, imagezip, zips
from core.data.imagefiles import ImageFileError, PixelBudget, open_image
from core.data.imagezip import read_image_zip
from tests.badfiles import (
    MIB,
    RawEntry,
    as_raw,
    cost,
    deep_image,
    flat_png,
    forged_directory_zip,
    good_entries,
    good_zip,
    honest_zip64,
    lying_entry_zip,
    png_header,
    raw_zip,
    zip_of,
)


def _one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and ". " not in message


# ---- members are never decompressed past their declared size ---------------------------------------


@pytest.mark.parametrize(
    ("method", "inflated"),
    [(zipfile.ZIP_DEFLATED, 256 * MIB), (zipfile.ZIP_BZIP2, 16 * MIB)],
    ids=["deflate", "bzip2"],
)
def test_an_entry_that_inflates_past_its_declared_size_is_a_corrupt_entry_and_costs_nothing(method, inflated):
    data = lying_entry_zip(method, inflated)  # 256 MiB of zeros in 270 kB, or 16 MiB in ~50 bytes
    result, spent = cost(read_image_zip, data, "liar.zip")
    assert isinstance(result, imagezip.ZipImport), result  # the good images load
    assert result.skipped == {"corrupt image": ["cats/liar.png"]}
    assert "Skipped 1 corrupt image: cats/liar.png." in result.notes
    assert spent.peak_bytes < 8 * MIB, spent  # zipfile's read() inflated it all


def test_read_member_reads_declared_plus_one_bytes_and_names_what_is_wrong():
    body = b"x" * 5000
    deflated = _raw_deflate(body)
    cases = {
        "more data than it declares": RawEntry("a", deflated, 4000, 0),
        "less data than it declares": RawEntry("a", deflated, 6000, 0),
        "fails its checksum": RawEntry("a", deflated, 5000, 12345),
        "is damaged": RawEntry("a", b"\xff" * 40, 5000, 0),
    }
    for words, entry in cases.items():
        data = raw_zip([entry])
        info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
        with pytest.raises(zips.ZipProblem, match=words):
            zips.read_member(data, info)
    good = raw_zip([RawEntry("a", deflated, 5000, zipfile.crc32(body))])
    assert zips.read_member(good, zipfile.ZipFile(io.BytesIO(good)).infolist()[0]) == body


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_every_compression_method_zipfile_writes_reads_back(method):
    data = zip_of(good_entries(), method)
    result = read_image_zip(data, f"{method}.zip")
    assert result.images.class_names == ("cats", "dogs") and not result.skipped


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


# ---- the end record zipfile uses is the one that is checked ---------------------------------------


def test_a_zip64_record_announcing_a_huge_directory_is_refused_before_zipfile_parses_it():
    data = forged_directory_zip(100_000, classic_agrees=True)  # 5 MB of directory; zipfile: ~2 s to parse
    result, spent = cost(read_image_zip, data, "forged.zip")
    assert isinstance(result, ImageFileError)
    assert str(result) == "The zip file 'forged.zip' holds 100,000 entries; the limit is 5,000."
    assert spent.peak_bytes < 4 * MIB, spent


def test_a_zip_whose_classic_and_zip64_records_disagree_is_refused():
    data = forged_directory_zip(100_000, classic_agrees=False)  # the classic record says 3 entries
    result, spent = cost(read_image_zip, data, "forged.zip")
    assert (
        str(result) == "The zip file 'forged.zip' has end records that disagree, so it is damaged or forged."
    )
    assert _one_sentence(str(result)) and spent.peak_bytes < 4 * MIB, spent


def test_a_zip64_locator_pointing_elsewhere_is_refused():
    data = bytearray(honest_zip64(good_zip()))
    locator = data.rfind(b"PK\x06\x07")
    data[locator + 8] ^= 0x01  # the zip64 record's offset, off by one
    with pytest.raises(ImageFileError, match="end records that disagree"):
        read_image_zip(bytes(data), "moved.zip")


def test_an_honest_zip64_archive_loads():
    """Streaming zip tools write a zip64 end record with 'see zip64' in every classic field; the old
    check read 65,535 entries there and refused it as holding too many."""
    data = honest_zip64(good_zip())
    assert zips.end_record(data) == zips.EndRecord(8, zips.end_record(good_zip()).directory_bytes, True)
    result = read_image_zip(data, "streamed.zip")
    assert result.images.class_names == ("cats", "dogs") and len(result.images.y_train) == 6


# ---- decoded pixels: a budget per zip and per batch, spent from the headers -------------------------


def test_pixels_are_counted_from_the_headers_before_any_is_decoded():
    bombs = [(f"cats/big{i}.png", png_header(7000, 7000)) for i in range(3)]  # 3 x 49 million pixels, 300 B
    result, spent = cost(read_image_zip, zip_of([*good_entries(), *bombs]), "pixels.zip")
    assert str(result) == (
        "The zip file 'pixels.zip' holds more than 100 million pixels of images; make them smaller "
        "(a few hundred pixels a side is plenty) or zip fewer."
    )
    assert spent.peak_bytes < 40 * MIB, spent  # no image was decoded (one costs 49 MB or more)


def test_a_zip_of_highly_compressible_images_stops_at_its_pixel_budget(monkeypatch):
    """With the budget at 5 million pixels, a zip of 1,000x1,000 flat PNGs (~3 kB each) stops at the
    sixth: the time spent is that of the budget, not of the zip (the real budget, 100 million pixels,
    is ~5 s of one core at worst: SECURITY.md)."""
    monkeypatch.setattr(imagefiles, "MAX_ZIP_PIXELS", 5_000_000)
    flat = flat_png(1000, 1000)
    entries = [(f"{c}/{i}.png", flat) for c in ("a", "b") for i in range(20)]
    result, spent = cost(read_image_zip, zip_of(entries), "flat.zip")
    assert "holds more than 5 million pixels of images" in str(result)
    assert spent.peak_bytes < 64 * MIB, spent


def test_a_batch_budget_refuses_the_image_that_would_overspend_and_spends_nothing_for_it():
    budget = PixelBudget(2_000_000)
    open_image(flat_png(1000, 1000), "one.png", budget=budget)
    with pytest.raises(imagefiles.PixelBudgetError) as refused:
        open_image(flat_png(1200, 1000), "two.png", budget=budget)
    assert str(refused.value) == (
        "The image 'two.png' is left out: with it, the images read together would pass 2 million pixels."
    )
    assert budget.left == 1_000_000
    open_image(flat_png(1000, 1000), "three.png", budget=budget)  # still fits
    assert budget.left == 0


def test_a_jpeg_pays_for_the_pixels_of_its_reduced_draft():
    photo = Image.new("RGB", (4000, 3000), (90, 140, 200))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    budget = PixelBudget()
    img, _ = open_image(buffer.getvalue(), "photo.jpg", draft_side=64, budget=budget)
    assert img.size == (500, 375) and budget.total - budget.left == 500 * 375  # 1/8 scale, not 12 million


# ---- high bit depths: float32 bands, no full-size float64 temporaries -------------------------------


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_high_bit_depth_images_convert_in_bands(mode):
    """3,000 x 3,000 pixels: decoded, the image is 18 (16-bit) or 36 MB (32-bit); the 8-bit grey result is
    9 MB, and its 36 MB RGB copy is made once the deep image is gone (measured: 45-63 MB in all). The old
    float64 path held four 72 MB arrays at once on top of the image."""
    data = deep_image(3000, mode)
    (img, _), spent = cost(open_image, data, f"deep-{mode}")
    assert img.mode == "RGB" and img.size == (3000, 3000)
    grey = np.asarray(img)[..., 0]
    assert grey[5, 0] == 0 and grey[5, -1] == 255 and 120 <= grey[5, 1500] <= 136  # the ramp, scaled
    assert spent.peak_bytes < 80 * MIB, spent


def test_a_float_image_with_nan_and_infinity_is_stretched_over_its_finite_values():
    img, _ = open_image(deep_image(64, "F"), "f.tif")
    grey = np.asarray(img)[..., 0]
    assert grey[0, 0] == 0 and grey[0, 1] == 255  # NaN black, +inf white
    assert grey[5, 0] == 0 and grey[5, -1] == 255  # -10 .. 30 over the finite ramp


# ---- echoed names are short -----------------------------------------------------------------------


def test_long_entry_names_are_quoted_in_forty_characters():
    long = "cats/" + "a" * 5000 + ".png"
    for data, fragment in [
        (zip_of([*good_entries(), ("../" + "b" * 5000, b"x")]), "points outside its folder"),
        (zip_of([*good_entries(), (long, b"broken")]), "Skipped 1 file that is not an image"),
    ]:
        try:
            message = " ".join(read_image_zip(data, "x" * 3000 + ".zip").notes)
        except ImageFileError as err:
            message = str(err)
        assert fragment in message and len(message) < 250, message
        assert "aaaaaaaaa…" in message or "bbbbbbbbb…" in message


def test_a_stored_entry_with_two_sizes_is_damaged():
    entry = as_raw("cats/a.png", flat_png(16, 16))
    data = raw_zip([RawEntry(entry.name, entry.packed, entry.size + 7, entry.crc, zipfile.ZIP_STORED)])
    with pytest.raises(zips.ZipProblem, match="less data than it declares"):
        zips.read_member(data, zipfile.ZipFile(io.BytesIO(data)).infolist()[0])
