"""Omniglot-like characters of several alphabets, rendered offline from the DejaVu fonts (matplotlib's).

Each character is drawn once per style (font weight and stroke) with PIL at twice the output side
and smoothed; every sample is then one of those templates under its own rotation, shear, scale,
shift, ink level and pixel noise, all samples sampled at once (in chunks) with torch's grid_sample:
no PIL call per sample.
Labels: the character (a global index over the chosen alphabets), its alphabet, and the rotation
angle in degrees (counter-clockwise as seen on screen), a regression target.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ConfigError

LABEL = "Glyphs (characters of several alphabets)"
DESCRIPTION = "Generated characters of up to eight alphabets, each sample rotated, sheared and noised."

# Ten characters per alphabet, chosen so that no two of all eighty look alike under the rotations,
# shears and scales below (no Latin A beside Greek Α, no Cyrillic Г beside Greek Γ, no circles whose
# angle cannot be read). tests/test_glyphs.py measures both. The first n_alphabets are used.
ALPHABETS: dict[str, tuple[str, ...]] = {
    "Latin": tuple("ADFGJKRSWZ"),
    "Greek": tuple("ΓΔΛΞΠΣΨΩλξ"),
    "Cyrillic": tuple("БДЖИЛЦЧШЮЯ"),
    "Armenian": tuple("ԱԲԳԺԽԾՁՃՄՖ"),
    "Georgian": tuple("აგდთლჟფქჭჰ"),
    "Hebrew": tuple("אבגלמעצקשץ"),
    "Tifinagh": tuple("ⴳⴻⴼⵃⵄⵋⵎⵖⵛⵟ"),
    "N'Ko": tuple("ߐߒߔߕߘߜߝߞߥߦ"),
}

# (font file, stroke width as a fraction of the template side): thinnest first. Only DejaVu Sans and
# Sans Bold cover all eight alphabets (DejaVu Serif has no Hebrew, Tifinagh or N'Ko).
STYLES = (
    ("DejaVuSans.ttf", 0.0),
    ("DejaVuSans.ttf", 0.02),
    ("DejaVuSans-Bold.ttf", 0.0),
    ("DejaVuSans-Bold.ttf", 0.02),
)

_SUPERSAMPLE = 2  # templates at 2x the side, smoothed, then sampled at 1x: smooth edges at 1/4 of the cost
_EM = 0.6  # font size as a fraction of the template side: tall glyphs rotated by 45° still fit
_CHUNK = 512  # samples warped at once: bounds the memory of the gathered templates and grids


@dataclass(frozen=True)
class GlyphConfig:
    n_alphabets: int = 6  # the first n of ALPHABETS (2..8), ten characters each
    per_character: int = 60  # samples per character (train + test): 3,600 images at the default
    size: int = 28  # image side in pixels, as MNIST
    noise: float = 0.5  # 0..1: stroke weight, shear up to ±0.3, scale, shift up to ±12%, ink and pixel noise
    max_angle: float = 40.0  # rotation uniform in ±max_angle degrees: the angle label (0 = all upright)
    seed: int = 0  # same seed, same images and same split
    test_fraction: float = 0.25  # held out from every character alike


@dataclass(frozen=True, eq=False)
class GlyphSet:
    """A split of glyph images with three labels each: character, alphabet and rotation angle."""

    x_train: torch.Tensor  # (N_train, 1, H, W) float32 in [0, 1], white glyph on black
    char_train: torch.Tensor  # (N_train,) int64 index into char_names
    alphabet_train: torch.Tensor  # (N_train,) int64 index into alphabet_names
    angle_train: torch.Tensor  # (N_train,) float32 degrees, counter-clockwise on screen
    x_test: torch.Tensor  # (N_test, 1, H, W)
    char_test: torch.Tensor  # (N_test,)
    alphabet_test: torch.Tensor  # (N_test,)
    angle_test: torch.Tensor  # (N_test,)
    char_names: tuple[str, ...]  # "Greek Ψ"
    alphabet_names: tuple[str, ...]
    char_alphabet: torch.Tensor  # (n_chars,) int64: character index -> alphabet index
    max_angle: float  # angles lie in [-max_angle, max_angle]

    @property
    def n_chars(self) -> int:
        return len(self.char_names)

    @property
    def n_alphabets(self) -> int:
        return len(self.alphabet_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.x_train.shape[1:])

    def counts(self) -> dict[str, int]:
        """Alphabet name -> number of images in train and test together."""
        y = torch.cat([self.alphabet_train, self.alphabet_test]).cpu()
        n = torch.bincount(y, minlength=self.n_alphabets).tolist()
        return dict(zip(self.alphabet_names, n, strict=True))

    def to(self, device: torch.device) -> GlyphSet:
        tensors = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.to(device) for k, v in tensors.items() if isinstance(v, torch.Tensor)})


def validate(cfg: GlyphConfig) -> None:
    """Raise ConfigError with one readable sentence if the glyphs cannot be generated."""
    k = len(ALPHABETS)
    n = cfg.n_alphabets
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= k:
        raise ConfigError(f"The number of alphabets must be a whole number from 2 to {k}, not {n}.")
    n = cfg.per_character
    if isinstance(n, bool) or not isinstance(n, int) or not 10 <= n <= 2000:
        raise ConfigError(f"The number of samples per character must be from 10 to 2000, not {n}.")
    if isinstance(cfg.size, bool) or not isinstance(cfg.size, int) or not 16 <= cfg.size <= 64:
        raise ConfigError(f"The image size must be a whole number of pixels from 16 to 64, not {cfg.size}.")
    if not 0.0 <= cfg.noise <= 1.0:
        raise ConfigError(f"The noise must be between 0 and 1, not {cfg.noise}.")
    if not 0.0 <= cfg.max_angle <= 45.0:
        raise ConfigError(f"The largest rotation must be between 0 and 45 degrees, not {cfg.max_angle}.")
    if not 0.05 <= cfg.test_fraction <= 0.9:
        raise ConfigError(f"The test fraction must be between 0.05 and 0.9, not {cfg.test_fraction}.")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"The seed must be a whole number of at least 0, not {cfg.seed}.")


def font_dir() -> Path:
    """matplotlib's bundled TrueType fonts (matplotlib.get_data_path()/fonts/ttf), found without
    importing matplotlib (that import alone costs ~0.4 s)."""
    spec = importlib.util.find_spec("matplotlib")
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" if spec and spec.origin else None
    if folder is None or not (folder / STYLES[0][0]).is_file():
        raise ConfigError("The glyph fonts come with matplotlib, which is not installed here.")
    return folder


@functools.lru_cache(maxsize=8)
def _cmap(font_path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(font_path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def render_char(font_path: str | Path, char: str, side: int = 32, stroke: int = 0) -> np.ndarray:
    """(side, side) float32 in [0, 1]: one character drawn by PIL, its ink box centred in the square."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), max(1, round(side * _EM)))
    canvas = Image.new("L", (2 * side, 2 * side), 0)
    ImageDraw.Draw(canvas).text((side, side), char, font=font, fill=255, anchor="mm", stroke_width=stroke)
    box = canvas.getbbox()
    out = Image.new("L", (side, side), 0)
    if box is not None:
        ink = canvas.crop(box)
        if max(ink.size) > side:  # never at _EM = 0.6 for these alphabets; kept inside rather than cut
            ratio = side / max(ink.size)
            ink = ink.resize((max(1, round(ink.width * ratio)), max(1, round(ink.height * ratio))))
        out.paste(ink, ((side - ink.width) // 2, (side - ink.height) // 2))
    return np.asarray(out, dtype=np.float32) / 255.0


def notdef_char(font_path: str | Path) -> str:
    """A character the font lacks: drawing it shows the font's .notdef glyph (its 'missing' box)."""
    cmap = _cmap(str(font_path))
    return next(chr(c) for c in range(0xE000, 0xF900) if c not in cmap)  # the private use area


def missing_glyphs(font_path: str | Path, chars) -> list[str]:
    """The characters of `chars` the font cannot draw: absent from its cmap, or drawn blank or as .notdef."""
    return list(_missing(str(font_path), tuple(chars)))


@functools.lru_cache(maxsize=32)
def _missing(font_path: str, chars: tuple[str, ...]) -> tuple[str, ...]:
    cmap = _cmap(font_path)
    box = render_char(font_path, notdef_char(font_path))
    missing = []
    for char in chars:
        drawn = render_char(font_path, char) if len(char) == 1 and ord(char) in cmap else None
        if drawn is None or drawn.max() == 0.0 or np.abs(drawn - box).max() < 0.05:
            missing.append(char)
    return tuple(missing)


def characters_of(n_alphabets: int) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(alphabet names, characters, alphabet index of each character) of the first n alphabets."""
    names = tuple(ALPHABETS)[:n_alphabets]
    chars = tuple(c for name in names for c in ALPHABETS[name])
    char_alphabet = np.repeat(np.arange(n_alphabets), [len(ALPHABETS[name]) for name in names])
    return names, chars, char_alphabet


@functools.lru_cache(maxsize=4)  # 8 alphabets at size 64: 21 MB each
def templates(chars: tuple[str, ...], side: int) -> torch.Tensor:
    """(len(STYLES), len(chars), side, side) float32: each character upright in each style, smoothed
    by a 3x3 binomial so that sampling it at half its resolution does not alias.

    Cached: the caller must not write into it. Raises ConfigError naming any character a font lacks.
    """
    folder = font_dir()
    out = np.empty((len(STYLES), len(chars), side, side), dtype=np.float32)
    for s, (font_file, stroke) in enumerate(STYLES):
        path = folder / font_file
        missing = missing_glyphs(path, chars)
        if missing:
            raise ConfigError(
                f"The font {font_file} cannot draw {' '.join(missing)}; choose fewer alphabets."
            )
        for c, char in enumerate(chars):
            out[s, c] = render_char(path, char, side, round(stroke * side))
    kernel = torch.tensor([0.25, 0.5, 0.25])
    kernel = (kernel[:, None] * kernel[None, :])[None, None]  # (1, 1, 3, 3) binomial: anti-aliasing
    smooth = F.conv2d(torch.from_numpy(out).reshape(-1, 1, side, side), kernel, padding=1)
    return smooth.reshape(out.shape)


def _inverse_affine(angle, shear, scale, aspect, shift) -> torch.Tensor:
    """(n, 2, 3) affine_grid thetas: output -> template coordinates for out = R(angle) S(shear) D p + shift.

    Coordinates as affine_grid's: x to the right, y down, both in [-1, 1]; a positive angle turns
    the glyph counter-clockwise on screen.
    """
    a = np.radians(angle)
    cos, sin = np.cos(a), np.sin(a)
    rot = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)  # (n, 2, 2)
    one, zero = np.ones_like(shear), np.zeros_like(shear)
    shear_m = np.stack([np.stack([one, shear], -1), np.stack([zero, one], -1)], -2)
    diag = np.stack([np.stack([scale * aspect, zero], -1), np.stack([zero, scale / aspect], -1)], -2)
    inv = np.linalg.inv(rot @ shear_m @ diag)  # (n, 2, 2)
    theta = np.concatenate([inv, -(inv @ shift[:, :, None])], axis=2)
    return torch.from_numpy(theta.astype(np.float32))


def _warp(tmpl: torch.Tensor, style, char, theta: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 1, size, size): each sample's (pre-smoothed, 2x) template sampled through its theta."""
    n = len(char)
    flat = tmpl.reshape(-1, 1, *tmpl.shape[-2:])  # (styles * chars, 1, S, S)
    index = torch.from_numpy(style * tmpl.shape[1] + char)
    axis = (torch.arange(size) + 0.5) * (2.0 / size) - 1.0  # pixel centres, as affine_grid's
    gx, gy = axis[None, None, :, None], axis[None, :, None, None]  # x along W, y along H
    out = torch.empty(n, 1, size, size)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        t = theta[a:b, None, None]  # (m, 1, 1, 2, 3)
        # what affine_grid computes, written out: about twice as fast as it on CPU
        grid = t[..., 0] * gx + t[..., 1] * gy + t[..., 2]  # (m, size, size, 2): template (x, y)
        out[a:b] = F.grid_sample(flat[index[a:b]], grid, mode="bilinear", align_corners=False)
    return out


def _render(char: np.ndarray, chars: tuple[str, ...], cfg: GlyphConfig, rng: np.random.Generator):
    """((n, 1, size, size) float32 images in [0, 1], (n,) angles in degrees) for the given characters."""
    n, noise = len(char), cfg.noise
    tmpl = templates(chars, cfg.size * _SUPERSAMPLE)
    n_styles = 1 + round(noise * (len(STYLES) - 1))  # no noise: the regular weight only
    style = rng.integers(0, n_styles, size=n)
    angle = rng.uniform(-cfg.max_angle, cfg.max_angle, size=n)
    shear = rng.uniform(-0.3, 0.3, size=n) * noise
    scale = rng.uniform(1.0 - 0.2 * noise, 1.0 + 0.1 * noise, size=n)
    aspect = np.exp(rng.uniform(-0.1, 0.1, size=n) * noise)
    shift = rng.uniform(-0.12, 0.12, size=(n, 2)) * noise
    ink = rng.uniform(1.0 - 0.35 * noise, 1.0, size=n).astype(np.float32)
    x = _warp(tmpl, style, char, _inverse_affine(angle, shear, scale, aspect, shift), cfg.size)
    x *= torch.from_numpy(ink)[:, None, None, None]
    if noise > 0:
        x += torch.from_numpy(rng.standard_normal(x.shape, dtype=np.float32)) * (0.1 * noise)
    return x.clamp_(0.0, 1.0), angle.astype(np.float32)


def generate(cfg: GlyphConfig) -> GlyphSet:
    """per_character samples of every character of the first n_alphabets, split per character."""
    validate(cfg)
    names, chars, char_alphabet = characters_of(cfg.n_alphabets)
    rng = np.random.default_rng(cfg.seed)
    k = len(chars)
    n_test = max(1, round(cfg.per_character * cfg.test_fraction))  # at most 90% of at least 10
    test = rng.permutation(np.repeat(np.arange(k), n_test))  # stratified: the same share of every character
    train = rng.permutation(np.repeat(np.arange(k), cfg.per_character - n_test))
    char = np.concatenate([train, test])
    x, angle = _render(char, chars, cfg, rng)
    char_t = torch.from_numpy(char.astype(np.int64))
    alphabet_t = torch.from_numpy(char_alphabet[char].astype(np.int64))
    angle_t = torch.from_numpy(angle)
    cut = len(train)
    return GlyphSet(
        x[:cut],
        char_t[:cut],
        alphabet_t[:cut],
        angle_t[:cut],
        x[cut:],
        char_t[cut:],
        alphabet_t[cut:],
        angle_t[cut:],
        tuple(f"{names[a]} {c}" for c, a in zip(chars, char_alphabet, strict=True)),
        names,
        torch.from_numpy(char_alphabet.astype(np.int64)),
        float(cfg.max_angle),
    )
