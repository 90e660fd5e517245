"""The Images script's augmentation, drawn as the app draws it, for any mix of augmentations.

The app (core.images.kernels.Augmenter) draws the numbers of four batches at once (CHUNK images),
augmentation by augmentation, from its own stream: every image's flip, then every image's angle, and
so on. The script does the same draws in the same order with the same numpy calls (so the numbers are
the same to the bit), keeps them, and applies them image by image as `__getitem__` reads the images,
with v2's functional kernels in the pipeline's order. With the same numbers, each kernel gives what
the app's batched kernel gives to ~1e-6 a pixel (tests/test_augment.py), flips and erasing exactly.

One mix resamples differently: a rotation together with a random resized crop. The app maps each
output pixel through the crop and the rotation and resamples once; v2 has no kernel for that map
(its affine takes one scale, a crop's resize two), so the script rotates, then crops and resizes:
two resamplings, and a curve that agrees in level, not number for number.
"""

from __future__ import annotations

from core.export import Sliders
from core.images.augment import CROP_RATIO, ERASE_RATIO, ERASE_SCALE, TRIES, blur_kernel
from core.images.kernels import central_box
from core.images.run import AUG_CHUNK, ImageRunConfig

BOXES = f'''

TRIES = {TRIES}  # v2's tries at a rectangle that fits, before it falls back


def box_sides(n, scale, ratio):
    """v2's tries at a rectangle for n images at once: (TRIES, n) heights and widths (rounded)."""
    target = HEIGHT * WIDTH * augment_rng.uniform(scale[0], scale[1], (TRIES, n))
    aspect = np.exp(augment_rng.uniform(math.log(ratio[0]), math.log(ratio[1]), (TRIES, n)))
    return np.round(np.sqrt(target / aspect)), np.round(np.sqrt(target * aspect))


def first_fit(ok, values):
    """(TRIES, n) -> (n,): each image's value at its first try that fits."""
    return values[ok.argmax(axis=0), np.arange(values.shape[1])]


def place(h, w):
    """(n,) heights and widths -> (n, 4) boxes (top, left, height, width) at random places."""
    where = augment_rng.random((2, len(h)))
    top = np.minimum(np.floor(where[0] * (HEIGHT - h + 1)), HEIGHT - h)
    left = np.minimum(np.floor(where[1] * (WIDTH - w + 1)), WIDTH - w)
    return np.stack((top, left, h, w), axis=1).astype(np.int64)
'''


def _crop_boxes(height: int, width: int) -> str:
    fallback_h, fallback_w = central_box(height, width)
    return f'''

def crop_boxes(n):
    """v2.RandomResizedCrop(scale=(CROP, 1))'s boxes, one per image."""
    h, w = box_sides(n, (CROP, 1.0), {CROP_RATIO!r})
    ok = (w > 0) & (w <= WIDTH) & (h > 0) & (h <= HEIGHT)
    fits = ok.any(axis=0)  # where none of the tries fits: the largest central box
    h = np.where(fits, first_fit(ok, h), {fallback_h})
    w = np.where(fits, first_fit(ok, w), {fallback_w})
    return place(h, w)
'''


ERASE_BOXES = f'''

def erase_boxes(n):
    """v2.RandomErasing(p=ERASING, scale={ERASE_SCALE!r})'s rectangles; a height of 0 erases nothing."""
    chosen = augment_rng.random(n) < ERASING
    w, h = box_sides(n, {ERASE_SCALE!r}, {ERASE_RATIO!r})  # v2 takes the height from area * aspect
    ok = (h < HEIGHT) & (w < WIDTH)
    keep = chosen & ok.any(axis=0)
    h = np.where(keep, first_fit(ok, h), 0)
    w = np.where(keep, first_fit(ok, w), 0)
    return place(h, w)
'''

# name -> (its line in draw_chunk, its lines in __call__), in the app's order of draws
DRAWS = {
    "hflip": (
        'drawn["hflip"] = augment_rng.random(n) < HFLIP',
        'if d["hflip"]:\n            image = F.horizontal_flip(image)',
    ),
    "vflip": (
        'drawn["vflip"] = augment_rng.random(n) < VFLIP',
        'if d["vflip"]:\n            image = F.vertical_flip(image)',
    ),
    "rotation": (
        'drawn["angle"] = augment_rng.uniform(-ROTATION, ROTATION, n)',
        'image = F.rotate(image, float(d["angle"]), v2.InterpolationMode.BILINEAR)',
    ),
    "crop": (
        'drawn["crop"] = crop_boxes(n)',
        'top, left, h, w = d["crop"].tolist()\n'
        "        bilinear = v2.InterpolationMode.BILINEAR\n"
        "        image = F.resized_crop(image, top, left, h, w, [HEIGHT, WIDTH], bilinear)",
    ),
    "jitter": (
        'drawn["jitter"] = augment_rng.uniform(1 - JITTER, 1 + JITTER, (len(JITTERS), n)).T\n'
        "    order = augment_rng.permutation(len(JITTERS))  # the jitters' order: one for the whole chunk",
        'for k in self.order:\n            image = JITTERS[k](image, float(d["jitter"][k]))',
    ),
    "autocontrast": (
        'drawn["autocontrast"] = augment_rng.random(n) < AUTOCONTRAST',
        'if d["autocontrast"]:\n            image = F.autocontrast(image)',
    ),
    "blur": (
        'drawn["sigma"] = augment_rng.uniform(min(0.1, BLUR), BLUR, n)',
        'image = F.gaussian_blur(image, [BLUR_KERNEL, BLUR_KERNEL], [float(d["sigma"])] * 2)',
    ),
    "erasing": (
        'drawn["erase"] = erase_boxes(n)',
        'top, left, h, w = d["erase"].tolist()\n'
        "        if h > 0:\n"
        "            image = F.erase(image, top, left, h, w, torch.tensor(0.0))",
    ),
}


def _constants(s: Sliders, cfg: ImageRunConfig, channels: int) -> list[str]:
    a = cfg.augment
    lines = []
    for name in a.active():
        value = getattr(a, name)
        lines.append(f"{name.upper()} = {value!r}{s.why(f'augment.{name}')}")
        if name == "blur":
            lines.append(f"BLUR_KERNEL = {blur_kernel(value)}  # about four sigmas wide, odd, at least 3")
        if name == "jitter":
            saturation = ", F.adjust_saturation" if channels == 3 else ""
            why = "" if channels == 3 else "  # no saturation for grey images, as in v2"
            lines.append(f"JITTERS = (F.adjust_brightness, F.adjust_contrast{saturation}){why}")
    return lines


def transform(s: Sliders, cfg: ImageRunConfig, pipeline: str, channels: int, height: int, width: int) -> str:
    """The script's augmentation cell: the course's pipeline (as a comment), the app's draws for CHUNK
    images at a time, and the transform that applies each image's draws as it is read."""
    active = cfg.augment.active()
    course = "\n".join(f"#     {line}" for line in pipeline.splitlines())
    resamples = (
        "\n# (a rotation and a crop together: the app resamples once, here twice; the curve agrees in level)"
        if "rotation" in active and "crop" in active
        else ""
    )
    helpers = (
        (BOXES if {"crop", "erasing"} & set(active) else "")
        + (_crop_boxes(height, width) if "crop" in active else "")
        + (ERASE_BOXES if "erasing" in active else "")
    )
    draws = "\n    ".join(DRAWS[name][0] for name in active)
    applies = "\n        ".join(DRAWS[name][1] for name in active)
    order = "order" if "jitter" in active else "None"
    return f'''\
# Augmentation: what
{course}
# does, each image's numbers drawn as the app draws them: for CHUNK images ({AUG_CHUNK} batches) at a time,
# one augmentation after another, from the app's own random stream; v2's functional kernels then
# apply them image by image, in the pipeline's order{resamples}
{chr(10).join(_constants(s, cfg, channels))}
CHUNK = {AUG_CHUNK} * BATCH_SIZE
augment_rng = np.random.default_rng(SEED + 1)
{helpers}

def draw_chunk(n):
    """The augmentation numbers of the next n images, in the app's order: one dict per image."""
    drawn = {{}}
    {draws}
    return [{{key: values[i] for key, values in drawn.items()}} for i in range(n)], {order}


class AppAugmentation:
    """Each image's drawn numbers, applied as `__getitem__` reads it: the DataLoader reads the
    images in the sampler's order, so the k-th image read gets the k-th draw, as in the app."""

    def __init__(self):
        self.todo, self.order = [], None

    def __call__(self, image):
        if not self.todo:
            self.todo, self.order = draw_chunk(CHUNK)
        d = self.todo.pop(0)
        {applies}
        return image


train_transform = AppAugmentation()'''
