"""The Gradients lab's setup as course-style PyTorch code that reproduces the app's run.

`script(cfg)` writes a short, self-contained training script (torch, the standard library and pandas
only); `bundle(cfg, dataset)` zips it with the data it reads, a notebook of the same cells and a
README; `highlight(old, new)` names the script lines a change of settings touched.

Reproduction contract: on the CPU, with one thread (OMP_NUM_THREADS=1), the script's per-step training
loss equals the app's `Run(...).records[i].loss` bit for bit in float32, and it stops on the same step
when the app's run diverges. It holds because the script repeats every draw the app makes, in order:

- weights: `torch.manual_seed(SEED)` and then building the model draws PyTorch's default init in
  registration order, as `core.seeding.materialise` does from the run's own generator (both are the
  same CPU generator algorithm, seeded alike), and the chosen `nn.init` call follows on the same stream;
- batches: a sampler that draws one `torch.randperm` per epoch from `torch.Generator().manual_seed(SEED)`
  and a DataLoader that drops the last partial batch, as `core.data.BatchOrder` does (PyTorch's own
  RandomSampler draws a second, empty permutation per epoch, which would shift every epoch after the first);
- the step: `optimizer.zero_grad()` gives the same gradients as the app's flat gradient buffer (which
  starts each step at zero and adds the new gradient, exactly); clipping scales the gradient only when
  its norm is above the limit, as the app does (within 1e-6 of the limit the two norms, summed in a
  different order, could disagree: the only known way the numbers could part).

The data file holds the app's already split and standardised float32 values, each written with
`repr(float)`, which reads back to the same float32.
"""

from __future__ import annotations

import difflib
import io
import json
import zipfile

import torch

from core.config import RunConfig, to_values
from core.data import Dataset

# every setting the script spells out, as the app's sidebar names it (core never imports the ui)
SLIDERS = {
    "data.name": "Dataset",
    "data.n_samples": "Samples",
    "data.noise": "Noise",
    "data.test_fraction": "Test share",
    "data.seed": "Data seed",
    "model.depth": "Hidden layers",
    "model.width": "Units per layer",
    "model.activation": "Activation",
    "model.init": "Initializer",
    "model.init_a": "Uniform: a",
    "model.init_b": "Uniform: b",
    "model.init_std": "Normal: std",
    "model.batchnorm": "BatchNorm",
    "optim.name": "Optimizer",
    "optim.lr": "Learning rate",
    "optim.momentum": "Momentum",
    "optim.nesterov": "Nesterov",
    "optim.beta1": "Beta 1 (momentum)",
    "optim.beta2": "Beta 2 (squared gradients)",
    "optim.weight_decay": "Weight decay",
    "optim.schedule": "Learning-rate schedule",
    "optim.step_size": "Schedule: every k steps",
    "optim.gamma": "Schedule: gamma",
    "train.batch_size": "Batch size",
    "train.steps": "Steps",
    "train.clip_norm": "Gradient clipping (max norm)",
    "train.loss": "Loss",
    "train.seed": "Weights and batches seed",
}

ACTIVATION_CODE = {
    "sigmoid": "nn.Sigmoid()",
    "tanh": "nn.Tanh()",
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU(0.01)",
    "elu": "nn.ELU()",
    "gelu": "nn.GELU()",
    "linear": "nn.Identity()",
}
# the nonlinearity (and negative slope) nn.init.kaiming_* reads for each activation, as core.registry says
KAIMING = {
    "sigmoid": ("sigmoid", 0),
    "tanh": ("tanh", 0),
    "relu": ("relu", 0),
    "leaky_relu": ("leaky_relu", 0.01),
    "elu": ("relu", 0),
    "gelu": ("relu", 0),
    "linear": ("linear", 0),
}
LOSS_CODE = {
    "cross_entropy": ("nn.CrossEntropyLoss()", "y"),
    "bce": ("nn.BCEWithLogitsLoss()", "y.float().unsqueeze(1)"),
    "mse": ("nn.MSELoss()", "nn.functional.one_hot(y, N_CLASSES).float()"),
}
DATA_FILE = "data.csv"
LOSS_FILE = "losses.csv"


def _why(cfg: RunConfig, *keys: str) -> str:
    """The comment that ties a line to its sliders: `  # slider "Hidden layers": 4`."""
    values = to_values(cfg)
    return "  # " + ", ".join(f'slider "{SLIDERS[k]}": {_show(values[k])}' for k in keys)


def _tied(code: str, cfg: RunConfig, *keys: str) -> str:
    """`code` with its sliders' comment at the end, or on the line above where the two would pass
    100 characters (the script stays within the project's line length, and `ruff format` leaves it)."""
    indent = code[: len(code) - len(code.lstrip())]
    why = _why(cfg, *keys)
    return code + why if len(code + why) <= 100 else f"{indent}{why.strip()}\n{code}"


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if isinstance(value, float) else str(value)


def _settings(cfg: RunConfig, n_features: int, n_classes: int, n_train: int) -> str:
    t = cfg.train
    batch = min(t.batch_size, n_train)  # the app never asks for more rows than the training set has
    return "\n".join(
        [
            "# The settings (the app's sliders)",
            f"SEED = {t.seed}{_why(cfg, 'train.seed')}",
            f"STEPS = {t.steps}{_why(cfg, 'train.steps')}",
            f"BATCH_SIZE = {batch}{_why(cfg, 'train.batch_size')}",
            f"N_FEATURES = {n_features}  # inputs per example in {DATA_FILE}",
            f"N_CLASSES = {n_classes}  # classes in {DATA_FILE}",
            # binary cross-entropy reads one output, the class-1 logit; the other losses one per class
            f"N_OUTPUTS = {1 if t.loss == 'bce' else 'N_CLASSES'}{_why(cfg, 'train.loss')}",
        ]
    )


IMPORTS = """\
import argparse
import math

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler"""

DATA = f'''\
# The data: the app's split, already standardised (mean 0, std 1 by the training rows)
table = pd.read_csv("{DATA_FILE}")
features = [c for c in table.columns if c.startswith("x")]


class TableDataset(torch.utils.data.Dataset):
    """One split of the table: (features, class index) per row."""

    def __init__(self, rows):
        self.x = torch.tensor(rows[features].to_numpy(), dtype=torch.float32)
        self.y = torch.tensor(rows["label"].to_numpy(), dtype=torch.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class EpochShuffle(Sampler):
    """A fresh random order of the rows every epoch, one torch.randperm each, from `generator`."""

    def __init__(self, n, generator):
        self.n, self.generator = n, generator

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


train_set = TableDataset(table[table["split"] == "train"])
test_set = TableDataset(table[table["split"] == "test"])
# the batch order has its own generator: it does not depend on how the weights were drawn
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order, drop_last=True)'''


def _model(cfg: RunConfig) -> str:
    m = cfg.model
    bn = (
        f"\n            layers.append(nn.BatchNorm1d(WIDTH)){_why(cfg, 'model.batchnorm')}"
        if m.batchnorm
        else ""
    )
    return f"""\
# The model: DEPTH hidden layers of WIDTH units, then one output layer
DEPTH = {m.depth}{_why(cfg, "model.depth")}
WIDTH = {m.width}{_why(cfg, "model.width")}


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        width_in = N_FEATURES
        for _ in range(DEPTH):
            layers.append(nn.Linear(width_in, WIDTH)){bn}
            layers.append({ACTIVATION_CODE[m.activation]}){_why(cfg, "model.activation")}
            width_in = WIDTH
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width_in, N_OUTPUTS)

    def forward(self, x):  # (batch, N_FEATURES) -> (batch, outputs)
        return self.output(self.hidden(x))


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = MLP()"""


def _init(cfg: RunConfig) -> str:
    m = cfg.model
    why = f" ({_why(cfg, 'model.init').strip()[2:]})"
    if m.init == "default":
        return f"# Initialization: PyTorch's default, drawn as the model was made{why}"
    hidden, slope = KAIMING[m.activation]
    fills = {
        "zeros": "nn.init.zeros_(layer.weight)",
        "uniform": _tied(
            f"        nn.init.uniform_(layer.weight, {m.init_a!r}, {m.init_b!r})",
            cfg,
            "model.init_a",
            "model.init_b",
        ).lstrip(),
        "normal": _tied(
            f"        nn.init.normal_(layer.weight, 0.0, {m.init_std!r})", cfg, "model.init_std"
        ).lstrip(),
        "xavier_uniform": "nn.init.xavier_uniform_(layer.weight, gain=1.0)",
        "xavier_normal": "nn.init.xavier_normal_(layer.weight, gain=1.0)",
        "kaiming_uniform": "nn.init.kaiming_uniform_(layer.weight, a=slope, nonlinearity=gain)",
        "kaiming_normal": "nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity=gain)",
    }
    gain = ""
    if m.init.startswith("kaiming"):
        gain = (
            "\n        # the output layer has no activation after it: its gain is a linear layer's"
            f'\n        gain, slope = ("linear", 0) if layer is model.output else ("{hidden}", {slope})'
        )
    return f"""\
# Initialization{why}
with torch.no_grad():
    for layer in model.modules():  # the input side first, as the layers were made
        if not isinstance(layer, nn.Linear):
            continue{gain}
        {fills[m.init]}
        nn.init.zeros_(layer.bias)"""


def _optimizer(cfg: RunConfig) -> str:
    o = cfg.optim
    lr = f"lr={o.lr!r}"
    wd = f"weight_decay={o.weight_decay!r}"
    if o.name == "sgd":
        nesterov = o.nesterov and o.momentum > 0  # the app turns Nesterov off without momentum
        make = (
            f"torch.optim.SGD(model.parameters(), {lr}, momentum={o.momentum!r}, nesterov={nesterov}, {wd})"
        )
        keys = ("optim.name", "optim.lr", "optim.momentum", "optim.nesterov", "optim.weight_decay")
    elif o.name == "rmsprop":
        make = f"torch.optim.RMSprop(model.parameters(), {lr}, momentum={o.momentum!r}, {wd})"
        keys = ("optim.name", "optim.lr", "optim.momentum", "optim.weight_decay")
    elif o.name == "adagrad":
        make = f"torch.optim.Adagrad(model.parameters(), {lr}, {wd})"
        keys = ("optim.name", "optim.lr", "optim.weight_decay")
    else:
        cls = {"adam": "Adam", "adamw": "AdamW"}[o.name]
        make = f"torch.optim.{cls}(model.parameters(), {lr}, betas=({o.beta1!r}, {o.beta2!r}), {wd})"
        keys = ("optim.name", "optim.lr", "optim.beta1", "optim.beta2", "optim.weight_decay")
    schedule = {
        "none": "None",
        "step": f"torch.optim.lr_scheduler.StepLR(optimizer, step_size={o.step_size}, gamma={o.gamma!r})",
        "exponential": f"torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma={o.gamma!r})",
        "cosine": "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)",
    }[o.schedule]
    schedule_keys = {
        "step": ("optim.schedule", "optim.step_size", "optim.gamma"),
        "exponential": ("optim.schedule", "optim.gamma"),
    }.get(o.schedule, ("optim.schedule",))
    loss, _ = LOSS_CODE[cfg.train.loss]
    lines = [
        "# The optimizer, its schedule and the loss",
        *(f"#{_why(cfg, k)[3:]}" for k in keys),
        f"optimizer = {make}",
        _tied(f"scheduler = {schedule}", cfg, *schedule_keys),
        _tied(f"loss_fn = {loss}", cfg, "train.loss"),
    ]
    return "\n".join(lines)


def _loop(cfg: RunConfig, notebook: bool) -> str:
    _, target = LOSS_CODE[cfg.train.loss]
    clip = cfg.train.clip_norm
    why = _why(cfg, "train.clip_norm").strip()
    clip_lines = (
        f"        {why}: as in the app, only a norm above it is scaled\n"
        f"        if grad_norm > {clip!r}:\n"
        f"            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={clip!r})"
        if clip > 0
        else f"        # no clipping ({why[2:]})"
    )
    run_steps = (
        "run_steps = STEPS  # fewer to stop earlier"
        if notebook
        else "\n".join(
            [
                "parser = argparse.ArgumentParser(description=__doc__)",
                'parser.add_argument("--steps", type=int, default=STEPS, help="stop after this many steps")',
                "run_steps = min(parser.parse_args().steps, STEPS)",
            ]
        )
    )
    return f"""\
# Training: zero_grad -> forward -> loss -> backward -> (clip) -> step
{run_steps}
losses = []
step = 0
model.train()
while step < run_steps:
    for x, y in train_loader:
        step += 1
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, {target})
        loss.backward()
        # the gradient's total norm (max_norm=inf measures it and scales nothing)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item()
        losses.append(loss.item())
        if not (math.isfinite(losses[-1]) and math.isfinite(grad_norm)):
            print(f"diverged at step {{step}}: the loss or the gradient is NaN or infinite")
            break
{clip_lines}
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step % 50 == 0:
            print(f"step {{step}}: loss {{losses[-1]:.4f}}")
        if step == run_steps:
            break
    else:
        continue  # the epoch ended: a new random order
    break  # diverged or done

with open("{LOSS_FILE}", "w") as f:
    f.write("step,loss\\n")
    f.writelines(f"{{i}},{{v!r}}\\n" for i, v in enumerate(losses, start=1))"""


EVALUATE = """\
# Evaluation: the whole test set, in eval mode, without gradients
model.eval()
with torch.no_grad():
    out = model(test_set.x)
    predicted = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
    accuracy = (predicted == test_set.y).float().mean().item()
print(f"{len(losses)} steps, last training loss {losses[-1]:.4f}, test accuracy {accuracy:.0%}")"""


def cells(cfg: RunConfig, n_features: int = 2, n_classes: int = 2, n_train: int = 10**9, notebook=False):
    """The script's parts in order, one notebook cell each (the notebook sets its steps in a line of
    code where the script reads --steps)."""
    return [
        IMPORTS,
        _settings(cfg, n_features, n_classes, n_train),
        DATA,
        _model(cfg),
        _init(cfg),
        _optimizer(cfg),
        _loop(cfg, notebook),
        EVALUATE,
    ]


def script(cfg: RunConfig, dataset: Dataset | None = None) -> str:
    """The setup as one course-style Python script. Without a dataset its shape is the default data's
    (2 features, 2 classes), which is what the page shows before the data are loaded."""
    shape = _shape(dataset)
    doc = (
        f'"""Gradients lab, as PyTorch code: a multi-layer perceptron on the {cfg.data.name} data.\n\n'
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes its training loss per step to\n"
        f"{LOSS_FILE}; on the CPU with one thread (OMP_NUM_THREADS=1) these equal the app's, bit for bit.\n"
        '"""'
    )
    first, *rest = cells(cfg, *shape)
    return doc + "\n\n" + first + "\n\n" + "\n\n\n".join(rest) + "\n"


def _shape(dataset: Dataset | None) -> tuple[int, int, int]:
    if dataset is None:
        return 2, 2, 10**9
    return dataset.n_features, dataset.n_classes, len(dataset.x_train)


def data_csv(dataset: Dataset) -> str:
    """Train and test rows, a split column, every float32 written so that it reads back exactly."""
    names = [f"x{i + 1}" for i in range(dataset.n_features)]
    out = io.StringIO()
    out.write(",".join(["split", *names, "label"]) + "\n")
    for split, x, y in (
        ("train", dataset.x_train, dataset.y_train),
        ("test", dataset.x_test, dataset.y_test),
    ):
        for row, label in zip(x.cpu().tolist(), y.cpu().tolist(), strict=True):
            out.write(",".join([split, *map(repr, row), str(label)]) + "\n")
    return out.getvalue()


def notebook(cfg: RunConfig, dataset: Dataset) -> str:
    """The script's cells as a Jupyter notebook (nbformat 4 JSON)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Gradients lab: {cfg.model.depth} x {cfg.model.width} MLP")]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in cells(cfg, *_shape(dataset), notebook=True)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def readme(cfg: RunConfig) -> str:
    return f"""\
# Gradients lab: this setup as PyTorch code

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
app's training and test rows, already standardised; `split` says which).

    pip install torch pandas
    OMP_NUM_THREADS=1 python train.py            # all {cfg.train.steps} steps
    OMP_NUM_THREADS=1 python train.py --steps 50 # stop earlier

It prints the loss every 50 steps and writes every step's training loss to `{LOSS_FILE}`.

Made with torch {torch.__version__}. Reproduction contract: with the same torch, on the CPU and one
thread, the losses equal the app's step for step, bit for bit (float32), and a run that diverges in
the app stops at the same step here ("diverged at step N"). Other versions, more threads or a GPU add
up floats in other orders: the curve is the same in shape, not in its last digits.
"""


def bundle(cfg: RunConfig, dataset: Dataset) -> bytes:
    """A zip of data.csv, train.py, train.ipynb and README.md."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(DATA_FILE, data_csv(dataset))
        z.writestr("train.py", script(cfg, dataset))
        z.writestr("train.ipynb", notebook(cfg, dataset))
        z.writestr("README.md", readme(cfg))
        z.writestr("settings.json", json.dumps(to_values(cfg), indent=1))
    return out.getvalue()


def highlight(old: RunConfig, new: RunConfig, dataset: Dataset | None = None) -> set[int]:
    """The 1-based numbers of the lines of script(new) that differ from script(old)."""
    a, b = script(old, dataset).splitlines(), script(new, dataset).splitlines()
    touched: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            touched.update(range(j1 + 1, j2 + 1))
    return touched


def changes(old: RunConfig, new: RunConfig) -> list[str]:
    """What changed, in the sidebar's words: ["Hidden layers 4 → 6"]."""
    a, b = to_values(old), to_values(new)
    return [f"{SLIDERS.get(k, k)} {_show(a[k])} → {_show(b[k])}" for k in a if a[k] != b[k]]
