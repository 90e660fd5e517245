"""The Predict page as PyTorch code: load a checkpoint and predict one image, with the steps the page shows.

`script(model, digits)` writes `predict.py` for the chosen model's architecture: a CNN class whose layers
carry the names of the checkpoint's state_dict (so `load_state_dict` takes it as it is), the image opened
upright with transparency on white as the page opens it, then either the plain steps (converted, centre
square resized with antialiasing, ÷255) or the MNIST-style digit steps (grey, inverted on light paper,
cleaned, the digit's box scaled to 20x20, its centre of mass to the middle of 28x28), and the top five
classes. On an 8-bit PNG or JPEG its probabilities equal the page's to 1e-6 (tested: both run the
same PIL and torch operations).
"""

from __future__ import annotations

from torch import nn

from core import export
from core.cnn import CNN
from core.predict.predictor import DIGIT_BOX, DRAFT_SIDE, EDGE_MASS, INK_CUT, WORK_SIDE

ACTIVATIONS = {
    nn.Sigmoid: "nn.Sigmoid()",
    nn.Tanh: "nn.Tanh()",
    nn.ReLU: "nn.ReLU()",
    nn.ELU: "nn.ELU()",
    nn.GELU: "nn.GELU()",
    nn.Identity: "nn.Identity()",
}
PROBABILITIES_FILE = "probabilities.csv"


def _layer(module: nn.Module) -> str:
    """One layer of the app's CNN as the code that makes it (a seeded dropout becomes nn.Dropout: in eval
    mode both pass their input through)."""
    if isinstance(module, nn.Conv2d):
        k, pad = module.kernel_size[0], module.padding[0]
        return f"nn.Conv2d({module.in_channels}, {module.out_channels}, kernel_size={k}, padding={pad})"
    if isinstance(module, nn.BatchNorm2d):
        return f"nn.BatchNorm2d({module.num_features})"
    if isinstance(module, nn.MaxPool2d):
        return "nn.MaxPool2d(2)"
    if isinstance(module, nn.AvgPool2d):
        return "nn.AvgPool2d(2)"
    if isinstance(module, nn.Linear):
        return f"nn.Linear({module.in_features}, {module.out_features})"
    if isinstance(module, nn.LeakyReLU):
        return f"nn.LeakyReLU({module.negative_slope!r})"
    if type(module) in ACTIVATIONS:
        return ACTIVATIONS[type(module)]
    if hasattr(module, "p"):  # core.seeding.Dropout
        return f"nn.Dropout({module.p!r})"
    raise ValueError(f"no code for a {type(module).__name__}")


def _model(model: CNN) -> str:
    blocks = []
    for block in model.blocks:
        parts = ", ".join(f"{name}={_layer(m)}" for name, m in block.named_children())
        blocks.append(f"                nn.Sequential(OrderedDict({parts})),")
    listed = "\n".join(blocks)
    dense = ""
    if model.dense is not None:
        dense = f"        self.dense = nn.Sequential({', '.join(_layer(m) for m in model.dense)})\n"
    output = f"        self.output = nn.Sequential({', '.join(_layer(m) for m in model.output)})"
    forward_dense = "        x = self.dense(x)\n" if model.dense is not None else ""
    return f"""\
# The model: the app's CNN, its layers named as in the checkpoint (blocks.0.conv.weight, ...)
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(
            [
{listed}
            ]
        )
{dense}{output}

    def forward(self, x):  # (batch, CHANNELS, SIDE, SIDE) -> (batch, classes)
        for block in self.blocks:
            x = block(x)
        x = x.flatten(1)
{forward_dense}        return self.output(x)


model = CNN()
model.load_state_dict(checkpoint["state_dict"])  # every weight, checked against the layers' shapes
model.eval()  # BatchNorm uses its running averages, dropout does nothing"""


def _long_lines(text: str) -> str:
    """Lines that pass the limit as `ruff format` writes them (the block lines: one argument per line)."""
    out = []
    for line in text.splitlines():
        if len(line) > export.LINE and "nn.Sequential(OrderedDict(" in line:
            indent = line[: len(line) - len(line.lstrip())]
            inner = line.strip().removeprefix("nn.Sequential(OrderedDict(").removesuffix(")),")
            parts = export.split_args(inner)
            out.append(f"{indent}nn.Sequential(")
            out.append(f"{indent}    OrderedDict(")
            out += [f"{indent}        {p}," for p in parts]
            out.append(f"{indent}    )")
            out.append(f"{indent}),")
        else:
            out.append(line)
    return "\n".join(out)


OPEN = f"""\
# The image, as the page opens it: the first frame, upright (EXIF), transparent areas on white
def open_upright(path):
    img = Image.open(path)
    if img.format == "JPEG":
        img.draft(None, ({DRAFT_SIDE}, {DRAFT_SIDE}))  # a large JPEG decodes at 1/2 .. 1/8 scale
    img.load()
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    img = img.convert("RGB")
    img.thumbnail(({WORK_SIDE}, {WORK_SIDE}))  # larger images are scaled down first, keeping their shape
    return img"""

PLAIN = """\
# The steps: converted to the model's channels, the centre square resized, /255
def to_input(img):
    img = img.convert("L" if CHANNELS == 1 else "RGB")
    side = min(img.size)
    img = F.center_crop(img, [side, side])
    img = F.resize(img, [SIDE, SIDE], antialias=True)
    return F.pil_to_tensor(img).to(torch.float32).div_(255.0)  # (CHANNELS, SIDE, SIDE) in [0, 1]"""

DIGITS = f'''\
# The steps, MNIST style: grey, white ink on black, the paper taken off, the digit's box scaled to
# fit 20 x 20 pixels, its centre of mass moved to the middle of 28 x 28 (how MNIST itself was made)
def span(mass):
    """[first, last + 1) of the positions that hold all but a speck of the ink at each end."""
    cum = np.cumsum(mass) / max(float(mass.sum()), 1e-12)
    first = int(np.searchsorted(cum, {EDGE_MASS!r}))
    last = int(np.searchsorted(cum, 1.0 - {EDGE_MASS!r}))
    return first, min(len(mass), max(last, first) + 1)


def to_input(img):
    grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1.0 - grey if float(np.median(border)) > 0.5 else grey  # light paper: invert
    paper, top = float(np.median(ink)), float(np.percentile(ink, 99.5))
    cut = paper + {INK_CUT!r} * (top - paper)  # below this: paper
    ink = np.clip((ink - cut) / max(top - cut, 1e-6), 0.0, 1.0)
    (y0, y1), (x0, x1) = span(ink.sum(axis=1)), span(ink.sum(axis=0))
    box = round(SIDE * {DIGIT_BOX!r})
    s = box / max(y1 - y0, x1 - x0)
    w, h = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    crop = Image.fromarray(np.rint(ink[y0:y1, x0:x1] * 255).astype(np.uint8))
    digit = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    mass = max(float(digit.sum()), 1e-6)
    cy = float((digit.sum(axis=1) * (np.arange(h) + 0.5)).sum()) / mass
    cx = float((digit.sum(axis=0) * (np.arange(w) + 0.5)).sum()) / mass
    middle = SIDE / 2 + 0.5
    oy = int(np.clip(round(middle - cy), 0, SIDE - h))
    ox = int(np.clip(round(middle - cx), 0, SIDE - w))
    canvas = np.zeros((SIDE, SIDE), np.float32)
    canvas[oy : oy + h, ox : ox + w] = digit
    return torch.from_numpy(canvas).unsqueeze(0)  # (1, SIDE, SIDE) in [0, 1]'''

PREDICT = f'''\
# The answer: class probabilities, the five most likely
x = to_input(open_upright(args.image))
with torch.no_grad():
    probs = model(x.unsqueeze(0)).softmax(dim=1)[0]
top = probs.topk(min(5, len(CLASSES)))
for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True):
    print(f"{{CLASSES[i]}}: {{p:.1%}}")
with open("{PROBABILITIES_FILE}", "w") as f:
    f.writelines(f"{{name}},{{p!r}}\\n" for name, p in zip(CLASSES, probs.tolist(), strict=True))'''


def script(model: CNN, digits: bool, checkpoint_name: str = "model.pt") -> str:
    """predict.py for this model's architecture; `digits`: the MNIST-style steps, else the plain ones."""
    imports = [
        "import argparse",
        "from collections import OrderedDict",
        "",
        *(["import numpy as np"] if digits else []),
        "import torch",
        "from PIL import Image, ImageOps",
        "from torch import nn",
        *([] if digits else ["from torchvision.transforms.v2 import functional as F"]),
    ]
    load = f'''\
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("checkpoint", nargs="?", default="{checkpoint_name}", help="the checkpoint file")
parser.add_argument("image", help="a PNG or JPEG image")
args = parser.parse_args()

# The checkpoint: plain data (tensors, strings, numbers), so weights_only=True can load it safely
checkpoint = torch.load(args.checkpoint, weights_only=True)
CLASSES = checkpoint["class_names"]
CHANNELS, SIDE, _ = checkpoint["image_shape"]'''
    steps = "MNIST-style digit steps" if digits else "plain steps"
    doc = (
        f"Predict, as PyTorch code: load a checkpoint, predict one image ({steps}).\n\n"
        f"Run it next to the checkpoint: python predict.py {checkpoint_name} my_image.png\n"
        "It prints the five most likely classes; the page shows the same probabilities for the same file."
    )
    cells = ["\n".join(imports), load, _long_lines(_model(model)), OPEN, DIGITS if digits else PLAIN, PREDICT]
    return export.join(doc, cells)
