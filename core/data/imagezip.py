"""A zip of class folders (ImageFolder layout) -> a stratified ImageSet, and what was left out and why.

Caps and their reasons are listed in core.data.imagefiles' docstring (and SECURITY.md): entries are read
into memory one at a time through core.data.zips, each image decoded by core.data.imagefiles.decode
within the zip's pixel budget.
"""

from __future__ import annotations

import re
import stat
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from core.data import zips
from core.data.imagefiles import (
    FORMAT_LIST,
    IMAGE_SIGNATURES,
    IMAGE_SUFFIXES,
    MAX_UPLOAD_BYTES,
    MIN_SIDE,
    UPLOAD_MB,
    ImageFileError,
    PixelBudget,
    PixelBudgetError,
    decode,
    image_to_tensor,
    megabytes,
)
from core.data.images import ImageSet, stratified_split
from core.data.tabular import counted
from core.errors import ConfigError, shorten

MAX_ZIP_ENTRIES = 5_000  # files and folders listed in one zip
MAX_DIRECTORY_BYTES_PER_ENTRY = 1024  # a zip's file list, on average per allowed entry (names ~20-300 B)
MAX_UNCOMPRESSED_BYTES = 300 * 2**20  # all entries of one zip together, as declared
MAX_COMPRESSION_RATIO = 200  # unpacked : packed, over the whole zip ...
MIN_BOMB_BYTES = 20 * 2**20  # ... once it unpacks to more than this (flat drawings compress well)
MAX_CLASSES = 100
MIN_CLASS_IMAGES = 2  # one for the training split and one for the test split
MIN_ZIP_IMAGE_SIZE, MAX_ZIP_IMAGE_SIZE = 8, 64  # the page offers at most 64: 5,000 at 128 px peaked at 1.9 GB
SYSTEM_FILES = ("__macosx", "thumbs.db", "desktop.ini")  # with dotfiles: made by the OS, not the student
SHOWN_NAMES = 5  # entry names listed in one note before "and N more"
_DRIVE = re.compile(r"^[A-Za-z]:")

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
                img, made = decode(_read_entry(data, info, path), path, size, budget)
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
            f"The zip file '{name}' is {megabytes(len(data))} MB; the limit is {UPLOAD_MB} MB."
        )
    try:
        return zips.open_zip(data, MAX_ZIP_ENTRIES, MAX_ZIP_ENTRIES * MAX_DIRECTORY_BYTES_PER_ENTRY)
    except zips.ZipProblem as problem:
        raise ImageFileError(f"The zip file '{name}' {problem}.") from None
    except Exception:
        if data.startswith(b"PK"):
            raise ImageFileError(f"The zip file '{name}' is damaged and cannot be opened.") from None
        if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
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
        notes.append(f"Used the first frame of {counted(changes['frames'], 'animated image')}.")
    if changes["pages"]:
        notes.append(f"Used the first page of {counted(changes['pages'], 'multi-page image')}.")
    if changes["transparent"]:
        filled = counted(changes["transparent"], "image")
        notes.append(f"Filled the transparent areas of {filled} with white.")
    return notes


def _listing(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c, d, e and 3 more'."""
    shown = names[:SHOWN_NAMES]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
