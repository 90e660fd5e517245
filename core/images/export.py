"""The Images lab's setup as course-style PyTorch code that reproduces the app's run (`ImageRun`).

The script: the app's images in a file of tensors (`images.pt`, read with `torch.load(weights_only=True)`),
a Dataset whose `__getitem__` applies the training transform, a DataLoader, a CNN class of conv blocks
(Conv2d -> BatchNorm2d? -> activation -> pooling?) and a head, the initializer, the optimizer, and the
loop zero_grad -> forward -> loss -> backward -> (clip) -> step of core.export.mlp.

Reproduction contract, on the CPU with one thread:
- **without augmentation**, every step's training loss equals the app's bit for bit (float32): the
  weights come from `torch.manual_seed(SEED)` and the layers made in the app's order (conv layers draw
  PyTorch's default init as core.seeding.materialise does), the batches from one `torch.randperm` per
  epoch with the last partial batch dropped (core.data.BatchOrder), dropout masks from streams of their
  own (`stream_seed`, as core.seeding.substream);
- **with one augmentation of one draw per image** (a flip, a rotation or autocontrast, as the presets
  use), the script draws each image's parameter from the app's own stream, image by image, and applies
  v2's functional kernel (`F.horizontal_flip`, `F.rotate`, ...): flips and autocontrast equal the app's
  bit for bit, a rotation within 1e-6 relative over 50 steps (measured 1.5e-7: the app resamples the
  rotation with its own grid, ~1e-6 a pixel);
- **with any other augmentation or mix of them**, the script draws the numbers of four batches at once,
  augmentation by augmentation, from the app's stream with the app's numpy calls, as the app's batched
  augmenter does (core.images.export_augment), and applies them image by image with v2's functional
  kernels: within 1e-5 relative over 50 steps (the app's batched kernels equal v2's to ~1e-6 a pixel;
  flips and erasing exactly). A rotation together with a random resized crop is the one mix that the
  app resamples once and the script twice: its curve agrees in level (the mean loss of steps 31-50
  within 25%), not number for number. The course's `v2.Compose([...])` stands above it as a comment.
"""

from __future__ import annotations

import io
import json

import torch

from core import export
from core.cnn import layer_table
from core.config import to_values
from core.data.images import ImageSet
from core.errors import ConfigError
from core.export import EPOCH_SHUFFLE, LINE, LOSS_FILE, SEEDED_DROPOUT, STREAM_SEED, Sliders, mlp
from core.images import export_augment
from core.images.augment import AUGMENTATIONS
from core.images.run import ImageRunConfig

DATA_FILE = "images.pt"
MAX_EXPORT_BYTES = 64 * 2**20  # the images in a zip a student downloads (float32, before compression)
POOL_CODE = {"max": "nn.MaxPool2d(2)", "avg": "nn.AvgPool2d(2)"}
SLIDERS = {
    "data.name": "Images",
    "data.per_class": "Images per class",
    "data.seed": "Data seed",
    "train.batch_size": "Batch size",
    "train.steps": "Steps",
    "train.seed": "Weights, batches and augmentation seed",
    "train.clip_norm": "Gradient clipping (max norm)",
    "model.blocks": "Conv blocks",
    "model.channels": "Channels of block 1 (doubling per block)",
    "model.kernel": "Kernel size",
    "model.padding": "Padding",
    "model.pool": "Pooling (2x2)",
    "model.activation": "Activation",
    "model.batchnorm": "BatchNorm",
    "model.dropout": "Dropout (head)",
    "model.head": "Hidden units of the head",
    "model.init": "Initializer",
    **{f"augment.{name}": f"{spec.label} ({spec.parameter})" for name, spec in AUGMENTATIONS.items()},
    **{k: v for k, v in mlp.SLIDERS.items() if k.startswith("optim.")},
}


def too_large(images: ImageSet) -> str | None:
    """One sentence if the images are too many to put in a download, else None."""
    nbytes = (images.x_train.numel() + images.x_test.numel()) * 4
    if nbytes <= MAX_EXPORT_BYTES:
        return None
    return (
        f"These {len(images.x_train) + len(images.x_test):,} images take {nbytes / 2**20:,.0f} MB, more than "
        f"a download here holds ({MAX_EXPORT_BYTES // 2**20} MB): choose fewer images per class to take the "
        "setup home."
    )


def _settings(s: Sliders, cfg: ImageRunConfig, images: ImageSet) -> str:
    t = cfg.train
    c, h, w = images.image_shape
    return "\n".join(
        [
            "# The settings (the app's sliders)",
            f"SEED = {t.seed}{s.why('train.seed')}",
            f"STEPS = {t.steps}{s.why('train.steps')}",
            f"BATCH_SIZE = {min(t.batch_size, len(images.x_train))}{s.why('train.batch_size')}",
            f"CHANNELS, HEIGHT, WIDTH = {c}, {h}, {w}  # one image in {DATA_FILE}",
            f"N_CLASSES = {images.n_classes}",
        ]
    )


def _pipeline(cfg: ImageRunConfig) -> str:
    """The v2 pipeline (core.images.augment's code for each augmentation), laid out as ruff formats it."""
    steps = [
        AUGMENTATIONS.get(name).code(getattr(cfg.augment, name)).replace("(size,", "((HEIGHT, WIDTH),")
        for name in cfg.augment.active()
    ]
    one = f"train_transform = v2.Compose([{', '.join(steps)}])"
    if len(one) <= LINE:
        return one
    listed = "".join(f"        {step},\n" for step in steps)
    return f"train_transform = v2.Compose(\n    [\n{listed}    ]\n)"


# One augmentation with one draw per image: the script draws it from the app's own stream, image by
# image in the order the app sees them (numpy's `random(n)` and n calls of `random()` give the same
# numbers), and applies v2's functional kernel: flips and autocontrast then equal the app's bit for
# bit, a rotation to ~1e-6 a pixel (the app resamples with its own grid).
APP_DRAWS = {
    "hflip": ("augment_rng.random() < {v!r}", "image = F.horizontal_flip(image)"),
    "vflip": ("augment_rng.random() < {v!r}", "image = F.vertical_flip(image)"),
    "rotation": (
        None,
        "image = F.rotate(image, augment_rng.uniform(-{v!r}, {v!r}), v2.InterpolationMode.BILINEAR)",
    ),
    "autocontrast": ("augment_rng.random() < {v!r}", "image = F.autocontrast(image)"),
}


def app_draws(cfg: ImageRunConfig) -> bool:
    """Whether the script draws the augmentation as the app does (one augmentation from APP_DRAWS)."""
    active = cfg.augment.active()
    return len(active) == 1 and active[0] in APP_DRAWS


def _app_transform(s: Sliders, cfg: ImageRunConfig) -> str:
    (name,) = cfg.augment.active()
    value = float(getattr(cfg.augment, name))
    test, apply = (part.format(v=value) if part else part for part in APP_DRAWS[name])
    body = f"    if {test}:\n        {apply}" if test else f"    {apply}"
    course = AUGMENTATIONS.get(name).code(value)
    slider = s.why(f"augment.{name}").strip()[2:]
    return f"""\
# Augmentation ({slider}): what
# {course} does,
# each image's draw taken from the app's own random stream, image by image, so that the script
# sees the app's images
augment_rng = np.random.default_rng(SEED + 1)


def train_transform(image):
{body}
    return image

"""


def _data(s: Sliders, cfg: ImageRunConfig, images: ImageSet) -> str:
    if app_draws(cfg):
        transform = _app_transform(s, cfg)
    elif cfg.augment.active():
        transform = export_augment.transform(s, cfg, _pipeline(cfg), *images.image_shape)
    else:
        transform = "train_transform = None  # no augmentation (every augmentation slider is off)"
    return f'''\
# The data: the app's images as tensors, float32 in [0, 1], (N, CHANNELS, HEIGHT, WIDTH)
data = torch.load("{DATA_FILE}", weights_only=True)
CLASSES = data["classes"]


class ImageTensors(Dataset):
    """Images and their class indices; `transform` (if any) is applied to an image as it is read."""

    def __init__(self, x, y, transform=None):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        image = self.x[i]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.y[i]


{EPOCH_SHUFFLE}


{transform}
train_set = ImageTensors(data["x_train"], data["y_train"], train_transform)
test_set = ImageTensors(data["x_test"], data["y_test"])
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order, drop_last=True)'''


def _assign(target: str, call: str, args: list[str], indent: str = "        ") -> str:
    """`target = call(args)`, laid out by export.wrapped when it passes the line length."""
    return export.wrapped(f"{indent}{target} = {call}({', '.join(args)})")


def _block_lines(s: Sliders, m) -> str:
    """The layers of one conv block, each with the slider it comes from."""
    block = ["nn.Conv2d(c_in, c_out, kernel_size=KERNEL, padding=PADDING)  # c_out filters"]
    if m.batchnorm:
        block.append(f"nn.BatchNorm2d(c_out){s.why('model.batchnorm')}")
    block.append(f"{mlp.ACTIVATION_CODE[m.activation]}{s.why('model.activation')}")
    if m.pool != "none":
        block.append(f"{POOL_CODE[m.pool]}{s.why('model.pool')}")
    return "\n".join(
        f"                    {line.split('  #')[0]},  #{line.split('  #')[1]}" for line in block
    )


def _head(m) -> tuple[str, str]:
    """The head's layers (__init__ lines) and its line in forward (empty without a hidden layer)."""
    act = mlp.ACTIVATION_CODE[m.activation]
    dense_drop = ["SeededDropout(DROPOUT, stream_seed(SEED, 1))"] if m.dropout > 0 else []
    out_drop = ["SeededDropout(DROPOUT, stream_seed(SEED, 2))"] if m.dropout > 0 else []
    if not m.head:
        return _assign("self.output", "nn.Sequential", [*out_drop, "nn.Linear(FEATURES, N_CLASSES)"]), ""
    head = "\n".join(
        [
            _assign("self.dense", "nn.Sequential", [*dense_drop, "nn.Linear(FEATURES, HEAD)", act]),
            _assign("self.output", "nn.Sequential", [*out_drop, "nn.Linear(HEAD, N_CLASSES)"]),
        ]
    )
    return head, "        x = self.dense(x)\n"


def _model(s: Sliders, cfg: ImageRunConfig, images: ImageSet) -> str:
    m = cfg.model
    channels = m.block_channels()
    block_lines = _block_lines(s, m)
    drop = m.dropout > 0
    rows = layer_table(m, images.image_shape, images.n_classes)
    flat = rows.index(next(r for r in rows if r.name == "flatten"))
    features, shape = rows[flat].shape[0], " x ".join(map(str, rows[flat - 1].shape))
    head, forward_head = _head(m)
    dropout_class = (
        f"""
DROPOUT = {m.dropout!r}{s.why("model.dropout")}


{SEEDED_DROPOUT}
"""
        if drop
        else ""
    )
    return f"""\
# The model: conv blocks (each doubles the channels), then a head of linear layers
{s.tied(f"BLOCK_CHANNELS = {channels}", "model.blocks", "model.channels")}
{s.tied(f"KERNEL, PADDING = {m.kernel}, {m.padding}", "model.kernel", "model.padding")}
FEATURES = {features}  # what the conv blocks leave of one image: {shape}
HEAD = {m.head}{s.why("model.head")}
{dropout_class}

class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList()
        c_in = CHANNELS
        for c_out in BLOCK_CHANNELS:
            self.blocks.append(
                nn.Sequential(
{block_lines}
                )
            )
            c_in = c_out
{head}

    def forward(self, x):  # (batch, CHANNELS, HEIGHT, WIDTH) -> (batch, N_CLASSES)
        for block in self.blocks:
            x = block(x)
        x = x.flatten(1)
{forward_head}        return self.output(x)


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = CNN()"""


def cells(cfg: ImageRunConfig, images: ImageSet, notebook: bool = False) -> list[str]:
    s = Sliders(SLIDERS, to_values(cfg))
    augmented = bool(cfg.augment.active())
    extra = ["import numpy as np"] if cfg.model.dropout > 0 or augmented else []
    imports = mlp.imports().replace("import pandas as pd", "\n".join(extra)).replace("\n\n\n", "\n\n")
    imports = imports.replace(
        "from torch.utils.data import DataLoader, Sampler",
        "from torch.utils.data import DataLoader, Dataset, Sampler",
    )
    if cfg.augment.rotation or cfg.augment.crop < 1:
        imports += "\nfrom torchvision.transforms import v2"  # the resampling's interpolation
    if augmented:
        imports += "\nfrom torchvision.transforms.v2 import functional as F"
    make, keys = mlp.optimizer_call(cfg.optim)
    schedule, schedule_keys = mlp.schedule_call(cfg.optim)
    optimizer = "\n".join(
        [
            "# The optimizer, its schedule and the loss",
            *(f"#{s.why(k)[3:]}" for k in keys),
            export.wrapped(f"optimizer = {make}"),
            s.tied(f"scheduler = {schedule}", *schedule_keys),
            "loss_fn = nn.CrossEntropyLoss()",
        ]
    )
    run = f"""\
# Train, then evaluate on the test set
{mlp.run_steps(notebook)}
losses = train(model, optimizer, scheduler, run_steps)
{mlp.losses_file()}
accuracy = test_accuracy(model)
print(f"{{len(losses)}} steps, last training loss {{losses[-1]:.4f}}, test accuracy {{accuracy:.0%}}")"""
    return [
        imports,
        _settings(s, cfg, images),
        *([STREAM_SEED] if cfg.model.dropout > 0 else []),
        _data(s, cfg, images),
        _model(s, cfg, images),
        mlp.init_layers(s, cfg.model, "nn.Conv2d | nn.Linear", "model.output[-1]"),
        optimizer,
        mlp.loop(s, cfg.train.clip_norm),
        run,
    ]


def script(cfg: ImageRunConfig, images: ImageSet) -> str:
    doc = (
        f"Images lab, as PyTorch code: a CNN on {len(images.x_train):,} training images.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes its training loss per step to\n"
        f"{LOSS_FILE}; on the CPU with one thread (OMP_NUM_THREADS=1), without augmentation or with one\n"
        "flip or autocontrast, these equal the app's bit for bit; with other augmentations, to the last\n"
        "digits that v2's kernels round differently (see the README)."
    )
    return export.join(doc, cells(cfg, images))


def images_file(images: ImageSet) -> bytes:
    """The images and labels as a file of tensors (torch.save; it loads with weights_only=True)."""
    out = io.BytesIO()
    torch.save(
        {
            "x_train": images.x_train.cpu().contiguous(),
            "y_train": images.y_train.cpu().contiguous(),
            "x_test": images.x_test.cpu().contiguous(),
            "y_test": images.y_test.cpu().contiguous(),
            "classes": list(images.class_names),
        },
        out,
    )
    return out.getvalue()


def readme(cfg: ImageRunConfig) -> str:
    a = cfg.augment
    augment = (
        "\nWith augmentation on, the script takes each image's random numbers from the app's own stream, in\n"
        "the app's order, and applies v2's functional kernels: the losses equal the app's to about 1e-6\n"
        "(flips and autocontrast alone: exactly)"
        + (
            "; with a rotation and a crop together it resamples twice where the app\nresamples once, so "
            "the curve agrees in shape and level, not number for number.\n"
            if a.rotation and a.crop < 1
            else ".\n"
        )
        if a.active()
        else ""
    )
    return f"""\
# Images lab: this setup as PyTorch code

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
app's training and test images as tensors; `torch.load("{DATA_FILE}", weights_only=True)`),
`settings.json` (the app's settings, as its link carries them).

{export.reproduction(f"all {cfg.train.steps} steps", "the losses")}
{augment}"""


def bundle(cfg: ImageRunConfig, images: ImageSet) -> bytes:
    problem = too_large(images)
    if problem:
        raise ConfigError(problem)
    return export.bundle(
        {
            DATA_FILE: images_file(images),
            "train.py": script(cfg, images),
            "train.ipynb": export.notebook(
                f"Images lab: a CNN of {cfg.model.blocks} conv blocks", cells(cfg, images, notebook=True)
            ),
            "README.md": readme(cfg),
            "settings.json": json.dumps(to_values(cfg), indent=1),
        }
    )


def changes(old: ImageRunConfig, new: ImageRunConfig) -> list[str]:
    return Sliders(SLIDERS, to_values(new)).changes(to_values(old))
