"""The Two inputs, two outputs lab's setup as course-style PyTorch code that reproduces the app's run
(`MultiTaskRun`).

The script is the course's multi-input / multi-output chapter: a Dataset whose items are the model's
inputs (the image, and the alphabet as a one-hot vector when the model reads it) and its targets (one per
head), a DataLoader, a CNN class whose `forward` takes the inputs and returns one output per head, one
loss per head and their weighted sum, then zero_grad -> forward -> losses -> weighted sum -> backward ->
(clip) -> step.

Reproduction contract: on the CPU with one thread, every step's weighted total and every head's own loss
equal the app's `records[i].total` and `records[i].raw` bit for bit (float32), and a run that diverges in
the app stops at the same step. It holds because the script repeats every draw the app makes:

- the initial weights: the app draws each part from a generator of its own (the conv blocks from SEED,
  the shared dense layer from SEED + 1, each head from SEED + 2 + its task's place in (character,
  alphabet, angle)), so that A and B start the same where their layers match. The script calls
  `torch.manual_seed` with the same seed before making each part: PyTorch's default init then draws the
  same numbers as `core.seeding.materialise` (the same CPU generator, the same layers in the same order;
  Conv2d and Linear draw alike: kaiming_uniform_(a=sqrt(5)), then the bias). A head that also reads the
  alphabet starts as the image-only head, its one-hot columns at 0, as `_seeded_linear` makes it;
- the batches: one `torch.randperm` per epoch from `torch.Generator().manual_seed(SEED)`, full batches
  only, as `core.data.BatchOrder` (a sampler of its own: PyTorch's RandomSampler draws more);
- the weighted sum: each term is `factor * loss` with `factor` a Python float, weight / (the loss at the
  start) computed in float64 first, as the app computes it; two terms add the same in either order;
- the step: `optimizer.zero_grad()` gives the gradients the app's flat gradient buffer holds; clipping
  scales only a norm above the limit, as the app does (the two norms are summed in different orders and
  could disagree within ~1e-6 of the limit: the only known way the numbers could part).

The glyph images are the app's own, generated offline from its fonts and shipped as float32 tensors in
`glyphs.pt`. The test scores printed at the end agree with the app's last evaluation to the digits shown
(the app scores the test set in pieces, the script at once; their float sums may part in the last bit).
"""

from __future__ import annotations

import io
import json

import torch

from core import export
from core.config import to_values
from core.data.glyphs import GlyphSet, generate
from core.export import EPOCH_SHUFFLE, LOSS_FILE, Sliders, mlp
from core.multitask.code import (
    ALPHABET_INPUT,
    TARGET,
    comment,
    head_loss,
    losses_cell,
    model_call,
    model_cell,
    outputs,
    slider_note,
    starts_cell,
    weighted_sum,
)
from core.multitask.config import MultiTaskConfig
from core.multitask.models import SETUPS, TASKS

DATA_FILE = "glyphs.pt"
# the sidebar's names of the settings the script spells out (core never imports the ui)
SLIDERS = {
    "data.n_alphabets": "Alphabets",
    "data.per_character": "Samples per character",
    "data.noise": "Noise",
    "data.max_angle": "Largest rotation (degrees)",
    "data.seed": "Glyph seed",
    "model.setup": "Model",
    "model.blocks": "Conv blocks",
    "model.channels": "Channels of block 1 (doubling per block)",
    "model.hidden": "Shared dense units",
    **{f"loss.{t}": f"Weight of the {spec.label} loss ({spec.loss_label})" for t, spec in TASKS.items()},
    "loss.normalise": "Before weighting",
    "train.batch_size": "Batch size",
    "train.steps": "Steps",
    "train.clip_norm": "Gradient clipping (max norm)",
    "train.seed": "Weights and batches seed",
} | {k: v for k, v in mlp.SLIDERS.items() if k.startswith("optim.")}


def _values(cfg: MultiTaskConfig) -> dict[str, object]:
    """The settings, the model shown by its sidebar label ("Image → character and alphabet")."""
    return to_values(cfg) | {"model.setup": SETUPS.get(cfg.model.setup).label}


def _sliders(cfg: MultiTaskConfig) -> Sliders:
    return Sliders(SLIDERS, _values(cfg))


IMPORTS = """\
import argparse
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler"""


def _settings(s: Sliders, cfg: MultiTaskConfig, g: GlyphSet) -> str:
    t = cfg.train
    return "\n".join(
        [
            "# The settings (the app's sliders)",
            f"SEED = {t.seed}{s.why('train.seed')}",
            f"STEPS = {t.steps}{s.why('train.steps')}",
            f"BATCH_SIZE = {min(t.batch_size, len(g.x_train))}{s.why('train.batch_size')}",
            f"N_ALPHABETS = {g.n_alphabets}{s.why('data.n_alphabets')}",
            f"N_CHARS = {g.n_chars}  # ten characters per alphabet",
        ]
    )


def _data(s: Sliders, cfg: MultiTaskConfig, g: GlyphSet) -> str:
    setup = SETUPS.get(cfg.model.setup)
    items = ["images", *([ALPHABET_INPUT] if setup.alphabet_input else []), *(TARGET[t] for t in setup.tasks)]
    parts = ["image", *(["alphabet one-hot"] if setup.alphabet_input else [])]
    parts += [TASKS[t].label for t in setup.tasks]
    one_hot = (
        "\n        # the second input: the alphabet as a one-hot vector of N_ALPHABETS numbers"
        '\n        alphabets = glyphs[f"alphabet_{split}"]'
        f"\n        self.{ALPHABET_INPUT} = nn.functional.one_hot(alphabets, N_ALPHABETS).float()"
        if setup.alphabet_input
        else ""
    )
    targets = {
        "char": 'self.chars = glyphs[f"char_{split}"]  # (N,) character index',
        "alphabet": 'self.alphabets = glyphs[f"alphabet_{split}"]  # (N,) alphabet index',
        "angle": 'self.angles = glyphs[f"angle_{split}"]  # (N,) rotation in degrees, anticlockwise',
    }
    kept = "".join(f"\n        {targets[t]}" for t in setup.tasks)
    shape = ", ".join(map(str, g.image_shape))  # one image: (1, 28, 28)
    what = (
        f"The data: {len(g.x_train):,} training and {len(g.x_test):,} test glyphs, drawn by the app from "
        f"its fonts ({slider_note(s, 'data.per_character', 'data.noise', 'data.max_angle', 'data.seed')})"
    )
    return f'''\
{comment(what)}
glyphs = torch.load("{DATA_FILE}", weights_only=True)  # tensors, and the names of the classes


class GlyphDataset(Dataset):
    """One split of the glyphs: ({", ".join(parts)}) per glyph."""

    def __init__(self, split):
        self.images = glyphs[f"x_{{split}}"]  # (N, {shape}), ink in [0, 1]{one_hot}{kept}

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {", ".join(f"self.{name}[i]" for name in items)}


{EPOCH_SHUFFLE}


train_set = GlyphDataset("train")
test_set = GlyphDataset("test")
# the batch order has its own generator: it does not depend on how the weights were drawn
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order, drop_last=True)'''


def _train(s: Sliders, cfg: MultiTaskConfig) -> str:
    setup = SETUPS.get(cfg.model.setup)
    tasks = setup.tasks
    inputs = ["images", *([ALPHABET_INPUT] if setup.alphabet_input else [])]
    batch = ", ".join([*inputs, *(TARGET[t] for t in tasks)])
    head_losses = "\n".join(f"            {t}_loss = {head_loss(t, f'{t}_out', TARGET[t])}" for t in tasks)
    kept = ", ".join(["loss.item()", *(f"{t}_loss.item()" for t in tasks)])
    kept_doc = ", ".join(f"{TASKS[t].label} loss" for t in tasks)
    return f'''\
# Training: zero_grad -> forward -> each head's loss -> weighted sum -> backward -> (clip) -> step
def train(model, optimizer, scheduler, run_steps):
    """Train for run_steps steps (fewer if it diverges); returns every step's losses."""
    losses = []  # per step: (the weighted total, {kept_doc})
    step = 0
    model.train()
    while step < run_steps:
        for {batch} in train_loader:  # each epoch: a new random order
            step += 1
            optimizer.zero_grad()
            {outputs(tasks)} = {model_call(setup.alphabet_input, "images", ALPHABET_INPUT)}
{head_losses}
{weighted_sum(s, cfg)}
{export.measured_backward(f"({kept})", "losses[-1][0]", "losses")}
{export.clip_lines(s, cfg.train.clip_norm)}
{export.step_and_stop("losses[-1][0]")}'''


def _evaluate(cfg: MultiTaskConfig) -> str:
    setup = SETUPS.get(cfg.model.setup)
    call = model_call(setup.alphabet_input, "dataset.images", f"dataset.{ALPHABET_INPUT}")
    scores = "\n".join(
        f'            "{TASKS[t].label} MSE (degrees²)": mse(angle_out.squeeze(1), dataset.angles).item(),'
        if TASKS[t].regression
        else f'            "{TASKS[t].label} accuracy": accuracy({t}_out, dataset.{TARGET[t]}),'
        for t in setup.tasks
    )
    return f'''\
def accuracy(out, labels):
    """The share of the rows whose highest score is their label's."""
    return (out.argmax(dim=1) == labels).float().mean().item()


def evaluate(dataset):
    """Each head on a whole split, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        {outputs(setup.tasks)} = {call}
        return {{
{scores}
        }}'''


def _run(cfg: MultiTaskConfig, notebook: bool) -> str:
    tasks = SETUPS.get(cfg.model.setup).tasks
    header = ",".join(["step", "loss", *(f"{t}_loss" for t in tasks)])
    return f'''\
# Train, then score the test set once
{mlp.run_steps(notebook)}
losses = train(model, optimizer, scheduler, run_steps)
with open("{LOSS_FILE}", "w") as f:
    f.write("{header}\\n")
    f.writelines(f"{{i}}," + ",".join(map(repr, row)) + "\\n" for i, row in enumerate(losses, start=1))
scores = evaluate(test_set)
print(f"{{len(losses)}} steps; test: " + ", ".join(f"{{k}} {{v:.4f}}" for k, v in scores.items()))'''


def cells(cfg: MultiTaskConfig, glyphs: GlyphSet | None = None, notebook: bool = False) -> list[str]:
    """The script's parts in order, one notebook cell each (the notebook sets its steps in a line of
    code where the script reads --steps)."""
    g = glyphs if glyphs is not None else generate(cfg.data)
    s = _sliders(cfg)
    return [
        IMPORTS,
        _settings(s, cfg, g),
        _data(s, cfg, g),
        model_cell(s, cfg, g),
        losses_cell(s, cfg),
        *([starts_cell(s, cfg)] if cfg.loss.normalise == "start" else []),
        _train(s, cfg),
        _evaluate(cfg),
        _run(cfg, notebook),
    ]


def script(cfg: MultiTaskConfig, glyphs: GlyphSet | None = None) -> str:
    doc = (
        f"Two inputs, two outputs lab, as PyTorch code: {SETUPS.get(cfg.model.setup).label}.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes every step's weighted loss\n"
        f"and each head's loss to {LOSS_FILE}; on the CPU with one thread (OMP_NUM_THREADS=1) these\n"
        "equal the app's, bit for bit."
    )
    return export.join(doc.replace("→", "->"), cells(cfg, glyphs))


def data_file(glyphs: GlyphSet) -> bytes:
    """The glyphs as `torch.save` writes them: float32 images, int64 classes, float32 angles, and the
    names of the characters and alphabets; `torch.load(weights_only=True)` reads them back exactly."""
    names = ("x", "char", "alphabet", "angle")
    tensors = {
        f"{k}_{split}": getattr(glyphs, f"{k}_{split}").cpu() for split in ("train", "test") for k in names
    }
    out = io.BytesIO()
    torch.save(
        tensors | {"char_names": list(glyphs.char_names), "alphabet_names": list(glyphs.alphabet_names)}, out
    )
    return out.getvalue()


def readme(cfg: MultiTaskConfig) -> str:
    return f"""\
# Two inputs, two outputs lab: this setup as PyTorch code

Model: {SETUPS.get(cfg.model.setup).label}.

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
glyph images and their labels, as the app drew them; `torch.load("{DATA_FILE}", weights_only=True)`),
`settings.json` (the app's settings, as its link carries them).

    pip install torch
    OMP_NUM_THREADS=1 python train.py             # all {cfg.train.steps} steps
    OMP_NUM_THREADS=1 python train.py --steps 50  # stop earlier

It prints the loss every 50 steps and the test scores at the end, and writes every step's weighted
loss and each head's own loss to `{LOSS_FILE}`.

Made with torch {torch.__version__}. Reproduction contract: with the same torch, on the CPU and one
thread, the weighted loss and each head's loss equal the app's step for step, bit for bit (float32),
and a run that diverges in the app stops at the same step here ("diverged at step N"). Other
versions, more threads or a GPU add up floats in other orders: the curves keep their shape, not
their last digits. Changes made while a run plays (a new learning rate at step 120) are not in the
script: it runs the setup as it was when you downloaded it.
"""


def bundle(cfg: MultiTaskConfig, glyphs: GlyphSet | None = None) -> bytes:
    """A zip of glyphs.pt, train.py, train.ipynb, README.md and settings.json."""
    g = glyphs if glyphs is not None else generate(cfg.data)
    return export.bundle(
        {
            DATA_FILE: data_file(g),
            "train.py": script(cfg, g),
            "train.ipynb": export.notebook(
                f"Two inputs, two outputs lab: {SETUPS.get(cfg.model.setup).label}",
                cells(cfg, g, notebook=True),
            ),
            "README.md": readme(cfg),
            "settings.json": json.dumps(to_values(cfg), indent=1),
        }
    )


def changes(old: MultiTaskConfig, new: MultiTaskConfig) -> list[str]:
    """What changed, in the sidebar's words: ["Weight of the character loss (cross-entropy) 1.0 → 2.0"]."""
    return _sliders(new).changes(_values(old))
