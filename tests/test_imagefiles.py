"""Untrusted images and zips: every bad file gets one sentence naming it, odd modes convert right."""

from __future__ import annotations

import random

import pytest
import torch
from PIL import Image

from core.data.imagefiles import ImageFileError, image_to_tensor, open_image
from core.data.imagezip import ZipImport, read_image_zip
from core.errors import ConfigError
from tests.badfiles import (
    CLASS_COLOURS,
    bad_images,
    bad_zips,
    class_image,
    encode,
    good_entries,
    good_zip,
    noted_zips,
    odd_mode_images,
    zip_of,
)

BAD_IMAGES = bad_images()
BAD_ZIPS = bad_zips()
NOTED_ZIPS = noted_zips()
ODD_IMAGES = dict(odd_mode_images())


def _one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and ". " not in message


def assert_refused(read, name: str, data: bytes, fragment: str) -> None:
    """read(data, name) refuses the file whole with one sentence (a ConfigError) that names it."""
    with pytest.raises(ImageFileError) as caught:
        read(data, name)
    message = str(caught.value)
    assert fragment in message and f"'{name}'" in message
    assert _one_sentence(message), message
    assert isinstance(caught.value, ConfigError)


# ---- single images --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "fragment"), BAD_IMAGES, ids=[case[0] for case in BAD_IMAGES])
def test_bad_image_is_refused_with_one_sentence_naming_it(name, data, fragment):
    assert_refused(open_image, name, data, fragment)


def test_bad_image_cases_cover_the_brief():
    names = {name for name, _, _ in BAD_IMAGES}
    assert {"empty.png", "notes.png", "truncated.jpeg", "bomb.png", "pixel.png", "huge.jpg"} <= names


# name -> ([((x, y), expected RGB)], fragment of the one note or None); tolerance 6 per channel (JPEG)
ODD_EXPECTED = {
    "transparent.png": ([((2, 8), (255, 0, 0)), ((13, 8), (255, 255, 255))], "transparent areas"),
    "grey-alpha.png": ([((2, 8), (0, 0, 0)), ((13, 8), (255, 255, 255))], "transparent areas"),
    "cmyk.jpg": ([((8, 8), (255, 0, 0))], None),
    "grey16.png": ([((8, 8), (128, 128, 128)), ((1, 1), (0, 0, 0)), ((14, 14), (255, 255, 255))], None),
    "palette.png": ([((8, 2), (255, 255, 255)), ((8, 13), (0, 200, 0))], "transparent areas"),
    "rotated.jpg": ([((8, 4), (255, 0, 0)), ((8, 28), (0, 0, 255))], None),
    "animated.gif": ([((8, 8), (255, 0, 0))], "is animated; only its first frame is used"),
    "animated.webp": ([((8, 8), (255, 0, 0))], "is animated; only its first frame is used"),
    "one-bit.bmp": ([((2, 8), (0, 0, 0)), ((13, 8), (255, 255, 255))], None),
    "photo.tif": ([((8, 8), (0, 0, 255))], None),
    "pages.tif": ([((8, 8), (0, 0, 255))], "has several pages; only the first page is used"),
    "photo.webp": ([((8, 8), (0, 200, 0))], None),
    "grey.jpg": ([((8, 8), (100, 100, 100))], None),
}


@pytest.mark.parametrize("name", sorted(ODD_IMAGES))
def test_odd_mode_becomes_the_right_rgb_pixels(name):
    img, notes = open_image(ODD_IMAGES[name], name)
    assert img.mode == "RGB"
    pixels, note = ODD_EXPECTED[name]
    for (x, y), expected in pixels:
        got = img.getpixel((x, y))
        assert all(abs(g - e) <= 6 for g, e in zip(got, expected, strict=True)), (name, (x, y), got)
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0] and f"'{name}'" in notes[0] and _one_sentence(notes[0])


def test_every_odd_mode_has_an_expectation():
    assert set(ODD_IMAGES) == set(ODD_EXPECTED)


def test_exif_rotated_photo_comes_out_upright_and_portrait():
    img, _ = open_image(ODD_IMAGES["rotated.jpg"], "rotated.jpg")
    stored = Image.open(__import__("io").BytesIO(ODD_IMAGES["rotated.jpg"]))
    assert stored.size == (32, 16) and img.size == (16, 32)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    """PIL's own convert('L') clips 16-bit values at 255: mid-grey would come out white."""
    img, _ = open_image(ODD_IMAGES["grey16.png"], "grey16.png")
    assert abs(img.getpixel((8, 8))[0] - 128) <= 1


def test_jpeg_draft_decodes_large_photos_smaller_but_not_below_the_side():
    photo = encode(class_image(0, 1, 400), "JPEG")
    full, _ = open_image(photo, "photo.jpg")
    small, _ = open_image(photo, "photo.jpg", draft_side=32)
    assert full.size == (400, 400)
    assert 32 <= min(small.size) < 100


# ---- image_to_tensor ------------------------------------------------------------------------


def test_image_to_tensor_is_float_unit_range_and_keeps_the_centre():
    wide = Image.new("RGB", (60, 20), (255, 0, 0))
    wide.paste((0, 255, 0), (20, 0, 40, 20))  # the centre third is green
    wide.paste((0, 0, 255), (40, 0, 60, 20))
    t = image_to_tensor(wide, 10)
    assert t.shape == (3, 10, 10) and t.dtype == torch.float32
    assert torch.allclose(t.mean(dim=(1, 2)), torch.tensor([0.0, 1.0, 0.0]), atol=0.02)
    grey = image_to_tensor(wide, 12, channels=1)
    assert grey.shape == (1, 12, 12) and 0.0 <= grey.min() <= grey.max() <= 1.0


def test_image_to_tensor_of_a_long_strip_stays_small():
    t = image_to_tensor(Image.new("RGB", (8, 40_000), (10, 20, 30)), 32)
    assert t.shape == (3, 32, 32)
    assert torch.allclose(t[:, 0, 0], torch.tensor([10, 20, 30]) / 255.0, atol=1e-6)


def test_image_to_tensor_refuses_other_channel_counts():
    with pytest.raises(ValueError):
        image_to_tensor(Image.new("RGB", (8, 8)), 8, channels=2)


# ---- zips -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "fragment"), BAD_ZIPS, ids=[case[0] for case in BAD_ZIPS])
def test_bad_zip_is_refused_whole_with_one_sentence_naming_it(name, data, fragment):
    assert_refused(read_image_zip, name, data, fragment)


def test_bad_zip_cases_cover_the_brief():
    assert len(BAD_ZIPS) >= 12
    names = {name for name, _, _ in BAD_ZIPS}
    assert {"traversal.zip", "absolute.zip", "symlink.zip", "encrypted.zip", "bomb.zip"} <= names


@pytest.mark.parametrize(("name", "data", "fragment"), NOTED_ZIPS, ids=[case[0] for case in NOTED_ZIPS])
def test_zip_with_odd_entries_loads_and_notes_them(name, data, fragment):
    result = read_image_zip(data, name)
    assert result.images.class_names == ("cats", "dogs")
    assert any(fragment in note for note in result.notes), result.notes
    assert all(_one_sentence(note) for note in result.notes), result.notes


def test_good_zip_gives_classes_counts_shapes_and_a_stratified_split():
    data = good_zip(classes=("owls", "cats", "dogs"), per_class=8, size=20)
    result = read_image_zip(data, "pets.zip", size=16)
    assert isinstance(result, ZipImport) and result.skipped == {} and result.notes == []
    images = result.images
    assert images.class_names == ("cats", "dogs", "owls")  # folder names, sorted
    assert images.counts() == {"cats": 8, "dogs": 8, "owls": 8}
    assert images.image_shape == (3, 16, 16) and images.x_train.dtype == torch.float32
    assert torch.bincount(images.y_test, minlength=3).tolist() == [2, 2, 2]  # round(8 * 0.25) of each
    assert torch.bincount(images.y_train, minlength=3).tolist() == [6, 6, 6]
    assert images.x_train.min() >= 0.0 and images.x_train.max() <= 1.0


def test_each_label_holds_its_folders_images():
    classes = ("owls", "cats", "dogs")  # drawn in colours 0, 1, 2; sorted to cats, dogs, owls
    images = read_image_zip(good_zip(classes=classes, per_class=6), "pets.zip", size=16).images
    for x, y in ((images.x_train, images.y_train), (images.x_test, images.y_test)):
        for image, label in zip(x, y, strict=True):
            colour = CLASS_COLOURS[classes.index(images.class_names[label])]
            corner = image[:, -1, -1] * 255  # the lighter square never reaches the last pixel
            assert torch.allclose(corner, torch.tensor(colour, dtype=torch.float32), atol=3)


def test_same_seed_same_split_other_seed_other_split():
    data = good_zip(per_class=10)
    a = read_image_zip(data, "pets.zip", seed=3).images
    b = read_image_zip(data, "pets.zip", seed=3).images
    c = read_image_zip(data, "pets.zip", seed=4).images
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_test, c.x_test)


def test_test_fraction_is_honoured_per_class():
    images = read_image_zip(good_zip(per_class=10), "pets.zip", test_fraction=0.5).images
    assert torch.bincount(images.y_test).tolist() == [5, 5]


def test_class_folders_under_a_single_top_folder():
    result = read_image_zip(good_zip(classes=("cirrus", "cumulus"), top="clouds"), "clouds.zip")
    assert result.images.class_names == ("cirrus", "cumulus")
    assert result.images.counts() == {"cirrus": 4, "cumulus": 4}


def test_folders_nested_deeper_belong_to_their_class_folder():
    entries = good_entries()
    kitten = entries[0][1]
    data = zip_of([*entries, ("cats/kittens/small.png", kitten), ("cats/kittens/old/tiny.png", kitten)])
    assert read_image_zip(data, "pets.zip").images.counts() == {"cats": 6, "dogs": 4}


def test_windows_backslash_separators_are_folders():
    entries = [(path.replace("/", "\\"), data) for path, data in [*good_entries(), ("birds/", b"")]]
    result = read_image_zip(zip_of(entries), "windows.zip")
    assert result.images.counts() == {"cats": 4, "dogs": 4}
    assert result.notes == ["Folder 'birds' has no images and is left out."]


def test_decomposed_accents_of_macos_name_one_class():
    entries = good_entries(classes=("cafe\u0301", "the"))  # 'café' as e + combining accent
    images = read_image_zip(zip_of(entries), "drinks.zip").images
    assert images.class_names == ("café", "the")


def test_skipped_entries_are_grouped_by_reason_and_counted_in_notes():
    entries = [
        *good_entries(),
        ("cats/broken.png", b"\x89PNG\r\n\x1a\n broken"),
        ("cats/notes.txt", b"n"),
        ("dogs/list.csv", b"a,b"),
        ("readme.md", b"r"),
        ("__MACOSX/cats/._cats_0.png", b"x"),
        ("cats/cats_0.png", good_entries()[0][1]),  # the same name again
    ]
    result = read_image_zip(zip_of(entries), "pets.zip")
    assert result.skipped == {
        "corrupt image": ["cats/broken.png"],
        "not an image": ["cats/notes.txt", "dogs/list.csv"],
        "not in a class folder": ["readme.md"],
        "hidden or system file": ["__MACOSX/cats/._cats_0.png"],
        "repeated entry": ["cats/cats_0.png"],
    }
    assert "Skipped 2 files that are not images: cats/notes.txt and dogs/list.csv." in result.notes
    assert "Skipped 1 corrupt image: cats/broken.png." in result.notes
    assert result.images.counts() == {"cats": 4, "dogs": 4}


def test_a_long_list_of_skipped_names_is_shortened():
    entries = [*good_entries(), *[(f"cats/note{i}.txt", b"n") for i in range(8)]]
    notes = read_image_zip(zip_of(entries), "pets.zip").notes
    assert notes == [
        "Skipped 8 files that are not images: cats/note0.txt, cats/note1.txt, cats/note2.txt, "
        "cats/note3.txt, cats/note4.txt and 3 more."
    ]


def test_several_small_classes_are_all_named():
    entries = good_entries(classes=("ants", "bees", "cats"), per_class=1) + good_entries(("dogs",), 3)
    with pytest.raises(ImageFileError, match=r"class folders 'ants', 'bees' and 'cats' in 'bugs\.zip' have"):
        read_image_zip(zip_of(entries), "bugs.zip")


def test_a_class_whose_only_images_are_broken_is_left_out():
    entries = [*good_entries(classes=("cats", "dogs", "owls"), per_class=2)]
    entries = [(p, b"broken" if p.startswith("owls/") else d) for p, d in entries]
    result = read_image_zip(zip_of(entries), "pets.zip")
    assert result.images.class_names == ("cats", "dogs")
    assert "Folder 'owls' has no images and is left out." in result.notes


def test_jpeg_zip_of_larger_photos_reads_at_the_requested_size():
    data = good_zip(per_class=3, size=200, fmt="JPEG")
    assert read_image_zip(data, "photos.zip", size=24).images.image_shape == (3, 24, 24)


@pytest.mark.parametrize(("size", "fraction"), [(4, 0.25), (129, 0.25), (32, 0.0), (32, 1.0)])
def test_impossible_size_or_fraction_is_a_config_error(size, fraction):
    with pytest.raises(ConfigError):
        read_image_zip(good_zip(), "pets.zip", size=size, test_fraction=fraction)


# ---- nothing else escapes -------------------------------------------------------------------


def _mutations(data: bytes, n: int, seed: int):
    """n copies of data, each with a few random bytes overwritten or a random cut."""
    rng = random.Random(seed)
    for _ in range(n):
        b = bytearray(data)
        if rng.random() < 0.3:
            b = b[: rng.randrange(1, len(b))]
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        yield bytes(b)


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about the metadata it skips
@pytest.mark.parametrize("name", sorted(ODD_IMAGES))
def test_mangled_images_raise_only_image_file_errors(name):
    for data in _mutations(ODD_IMAGES[name], 25, seed=len(name)):
        try:
            img, _ = open_image(data, name)
        except ImageFileError as e:
            assert f"'{name}'" in str(e)
        else:
            assert img.mode == "RGB"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mangled_zips_raise_only_image_file_errors():
    for data in _mutations(good_zip(per_class=3, size=8), 150, seed=0):
        try:
            read_image_zip(data, "pets.zip", size=8)
        except ImageFileError as e:
            assert "pets.zip" in str(e) or "'cats/" in str(e) or "'dogs/" in str(e)
