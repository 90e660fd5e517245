"""The Sequences lab's setup as course-style PyTorch code that reproduces the app's run (`SeqRun`).

The script is the course's forecasting recipe: the series read from a CSV and cut into windows of
SEQ_LEN values whose target is the next HORIZON values, split by time (or at random, the app's warning),
normalised, a `Dataset` of windows and a `DataLoader`, a model class with an nn.RNN, nn.LSTM or nn.GRU
and one Linear layer on the last step's state, the optimizer, the loop
zero_grad -> forward -> loss -> backward -> (clip) -> step, and the MSE of the training and the test
windows every EVAL_EVERY steps, in eval mode, as the app's MSE chart. The app scores with torchmetrics'
MeanSquaredError, the script with its loss function, nn.MSELoss, on all of a set's windows at once:
the same sum of squared errors divided by their number, bit for bit (the tests compare the two),
without torchmetrics' import (7 s of CPU on the project's busy 2-core machine; a 30-step run: 1 s).

Reproduction contract: on the CPU with one thread, every step's training loss and every evaluation's
train and test MSE equal the app's bit for bit (float32), and a run that diverges in the app stops at
the same step here. It holds because the script repeats what the app does, on the same numbers:

- the data: series.csv holds the series as the app has it (float64, each value written with repr and
  read back by Python's float()), and the script cuts, splits and normalises it with the
  arithmetic of core.sequences.windows, so its windows hold the app's float32 values;
- the initial weights: `torch.manual_seed(SEED)`, then the model. The recurrent layer's own
  reset_parameters draws uniform(±1/sqrt(hidden)) for each of its weights and biases in order, then
  the Linear layer draws its kaiming_uniform weight and its bias: what core.seeding.materialise draws,
  in the same order, from the run's own generator (the same CPU generator algorithm, seeded alike);
- the batches: a sampler with one torch.randperm per epoch from a generator seeded with SEED, and a
  DataLoader that drops the last partial batch, as core.data.BatchOrder (PyTorch's RandomSampler draws
  a second permutation per epoch, which would shift every epoch after the first);
- the step: the app computes the loss before `zero_grad(set_to_none=True)`, the script after, which
  changes no number; h0 (and c0) passed as zeros, as the course writes it, are the zeros the layer
  makes when it is given none; the gradient's norm is measured by the same op as the app's
  (torch.nn.utils.get_total_norm) and, as the app's Trainer does, clipping scales only a norm above
  the limit;
- the evaluation: the app's evenly spaced windows (the same torch.linspace), 64 at a time as the app's
  pieces, the predictions put together and scored at once (a mean per batch, or torchmetrics' update
  per batch, would add the squared errors in another order and part in the last bits).

No op differs between the two, so no tolerance is needed. The Sequences lab has no learning-rate
schedule; a config with one has no script (`cells` raises).
"""

from __future__ import annotations

import json

import pandas as pd

from core import export
from core.config import to_values
from core.data.series import Series
from core.export import EPOCH_SHUFFLE, LOSS_FILE, Sliders, mlp
from core.sequences.config import SeqConfig
from core.sequences.models import CELLS
from core.sequences.run import EVAL_WINDOWS

DATA_FILE = "series.csv"
MSE_FILE = "mse.csv"
# every setting the script spells out, as the lab's sidebar and data box name it (core never imports ui)
SLIDERS = {
    "data.name": "Series",
    "data.days": "Days (generated)",
    "data.seed": "Series seed",
    "window.seq_len": "Sequence length (input steps)",
    "window.horizon": "Horizon (steps predicted at once)",
    "window.stride": "Stride (steps between training windows)",
    "window.test_fraction": "Test share (the series' end)",
    "window.split": "Train / test split",
    "model.cell": "Cells, side by side",
    "model.layers": "Recurrent layers",
    "model.hidden": "Hidden size",
    "optim.name": "Optimizer",
    "optim.lr": "Learning rate",
    "train.batch_size": "Batch size",
    "train.steps": "Steps",
    "train.clip_norm": "Gradient clipping (max norm)",
    "train.seed": "Weights and batches seed",
}
CELL_CODE = {
    "rnn": "nn.RNN(input_size=1, hidden_size=HIDDEN, num_layers=LAYERS, batch_first=True)",
    "lstm": "nn.LSTM(input_size=1, hidden_size=HIDDEN, num_layers=LAYERS, batch_first=True)",
    "gru": "nn.GRU(input_size=1, hidden_size=HIDDEN, num_layers=LAYERS, batch_first=True)",
}


def sliders(cfg: SeqConfig) -> Sliders:
    """The settings by their sidebar names; the cell by its label ("LSTM")."""
    return Sliders(SLIDERS, to_values(cfg) | {"model.cell": CELLS.get(cfg.model.cell).label})


IMPORTS = """\
import argparse
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler"""


def _settings(s: Sliders, cfg: SeqConfig) -> str:
    w, t = cfg.window, cfg.train
    return "\n".join(
        [
            "# The settings (the app's sliders)",
            f"SEED = {t.seed}{s.why('train.seed')}",
            f"STEPS = {t.steps}{s.why('train.steps')}",
            f"BATCH_SIZE = {t.batch_size}{s.why('train.batch_size')}",
            f"SEQ_LEN = {w.seq_len}{s.why('window.seq_len')}",
            f"HORIZON = {w.horizon}{s.why('window.horizon')}",
            f"STRIDE = {w.stride}{s.why('window.stride')}",
            f"TEST_FRACTION = {w.test_fraction!r}{s.why('window.test_fraction')}",
            f"EVAL_EVERY = {t.eval_every}  # the app scores the training and the test windows this often",
            f"EVAL_WINDOWS = {t.eval_windows}  # at most this many windows of each, evenly spaced",
        ]
    )


SPLIT_CODE = {
    "time": """\
# Split by time: every training target lies before the test period, the test windows (stride 1)
# predict every value in it, and the mean and std come from the training period alone
train_starts = np.arange(0, split_at - SEQ_LEN - HORIZON + 1, STRIDE)
test_starts = np.arange(split_at - SEQ_LEN, n - SEQ_LEN - HORIZON + 1)
fitted = values[:split_at]""",
    "shuffled": """\
# Shuffled split (a leak): windows dealt to train and test at random, so test targets sit inside
# training windows; with no past to keep apart, the mean and std come from the whole series
starts = np.arange(0, n - SEQ_LEN - HORIZON + 1, STRIDE)
dealt = np.random.default_rng(SEED).permutation(starts)
n_test = max(1, round(len(dealt) * TEST_FRACTION))
test_starts, train_starts = np.sort(dealt[:n_test]), np.sort(dealt[n_test:])
fitted = values""",
}


def _data(s: Sliders, cfg: SeqConfig) -> str:
    keys = ("data.name", "data.days", "data.seed") if cfg.data.name == "electricity" else ("data.name",)
    return f'''\
# The data: the series, one reading per row of {DATA_FILE} (its time and its value)
{s.why(*keys).strip()}
# Python's float() reads every value back exactly as it was written
table = pd.read_csv("{DATA_FILE}", converters={{"value": float}})
values = table["value"].to_numpy()  # float64
n = len(values)
split_at = n - round(n * TEST_FRACTION)  # the first value of the test period

{s.why("window.split").strip()}
{SPLIT_CODE[cfg.window.split]}
mean, std = fitted.mean(), fitted.std() or 1.0  # a constant series stays 0
z = torch.from_numpy(((values - mean) / std).astype(np.float32))  # (n,) normalised


class WindowDataset(Dataset):
    """The windows that start at `starts`: SEQ_LEN values in, the next HORIZON values to predict."""

    def __init__(self, starts):
        self.starts = starts.tolist()

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        s = self.starts[i]
        x = z[s : s + SEQ_LEN].unsqueeze(-1)  # (SEQ_LEN, 1): sequence, features
        y = z[s + SEQ_LEN : s + SEQ_LEN + HORIZON]  # (HORIZON,)
        return x, y


{EPOCH_SHUFFLE}


train_set = WindowDataset(train_starts)
test_set = WindowDataset(test_starts)
print(f"{{len(train_set)}} training and {{len(test_set)}} test windows of {{SEQ_LEN}} steps")
# the batch order has its own generator: it does not depend on how the weights were drawn
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
batch_size = min(BATCH_SIZE, len(train_set))  # never more windows than there are
# full batches only: each epoch's last, smaller batch is dropped
train_loader = DataLoader(train_set, batch_size=batch_size, sampler=order, drop_last=True)'''


def _model(s: Sliders, cfg: SeqConfig) -> str:
    m = cfg.model
    cell = CELLS.get(m.cell)
    state = "h0"
    c0 = ""
    if m.cell == "lstm":
        state = "(h0, c0)"
        c0 = "\n        c0 = torch.zeros(LAYERS, x.size(0), HIDDEN)  # and the LSTM's cell state"
    return f"""\
# The model: LAYERS recurrent layers of HIDDEN units read the window, and the last step's state
# predicts the next HORIZON values through one Linear layer
LAYERS = {m.layers}{s.why("model.layers")}
HIDDEN = {m.hidden}{s.why("model.hidden")}


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        # {cell.label}: {cell.memory}
{s.tied(f"        self.rnn = {CELL_CODE[m.cell]}", "model.cell")}
        self.fc = nn.Linear(HIDDEN, HORIZON)

    def forward(self, x):  # (batch, SEQ_LEN, 1) -> (batch, HORIZON)
        h0 = torch.zeros(LAYERS, x.size(0), HIDDEN)  # the state before the first step{c0}
        out, _ = self.rnn(x, {state})  # (batch, SEQ_LEN, HIDDEN): the state after each step
        return self.fc(out[:, -1, :])  # the last step's state


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = Forecaster()"""


def _optimizer(s: Sliders, cfg: SeqConfig) -> str:
    if cfg.optim.schedule != "none":
        raise ValueError("the Sequences lab has no learning-rate schedule")
    make, keys = mlp.optimizer_call(cfg.optim)
    fixed = [mlp.SLIDERS[k] for k in keys if k not in SLIDERS]
    return "\n".join(
        [
            "# The optimizer and the loss",
            *(f"#{s.why(k)[3:]}" for k in keys if k in SLIDERS),
            *([f"# {', '.join(fixed)}: the app's defaults"] if fixed else []),
            export.wrapped(f"optimizer = {make}"),
            "loss_fn = nn.MSELoss()  # the mean squared error over every predicted value",
        ]
    )


EVALUATE = f'''\
# Evaluation: the MSE of the training and the test windows, the model in eval mode
def evenly(starts, k):
    """At most k of the windows, evenly spaced (all of them when there are fewer)."""
    if len(starts) <= k:
        return starts
    return starts[torch.linspace(0, len(starts) - 1, k).round().long().numpy()]


# the windows every evaluation scores, {EVAL_WINDOWS} at a time (as the app)
train_eval = DataLoader(WindowDataset(evenly(train_starts, EVAL_WINDOWS)), batch_size={EVAL_WINDOWS})
test_eval = DataLoader(WindowDataset(evenly(test_starts, EVAL_WINDOWS)), batch_size={EVAL_WINDOWS})


def evaluate(loader):
    """The MSE over the loader's windows, without gradients (normalised units: 1 is as bad as
    always guessing the mean)."""
    model.eval()
    predictions, targets = [], []
    with torch.no_grad():
        for x, y in loader:
            predictions.append(model(x))
            targets.append(y)
    # every squared error summed at once, then divided by their number
    return loss_fn(torch.cat(predictions), torch.cat(targets)).item()'''


def _train(s: Sliders, cfg: SeqConfig) -> str:
    return f'''\
# Training: zero_grad -> forward -> loss -> backward -> (clip) -> step
def train(run_steps):
    """Train for run_steps steps (fewer if it diverges). Returns every step's training loss and the
    (step, train MSE, test MSE) of every evaluation."""
    losses = []
    history = [(0, evaluate(train_eval), evaluate(test_eval))]  # step 0: the initial weights
    step = 0
    while step < run_steps:
        model.train()
        for x, y in train_loader:  # each epoch: a new random order of the training windows
            step += 1
            optimizer.zero_grad()
            out = model(x)  # (batch, HORIZON)
            loss = loss_fn(out, y)
{export.measured_backward("loss.item()", "losses[-1]", "losses, history")}
{export.clip_lines(s, cfg.train.clip_norm)}
            optimizer.step()
            if step % EVAL_EVERY == 0 or step == STEPS:
                history.append((step, evaluate(train_eval), evaluate(test_eval)))
                _, train_mse, test_mse = history[-1]
                print(f"step {{step}}: train MSE {{train_mse:.4f}}, test MSE {{test_mse:.4f}}")
                model.train()  # back to training after the evaluation
            if step == run_steps:
                return losses, history
    return losses, history'''


def _run(notebook: bool) -> str:
    return f"""\
# Train, then save every step's loss and every evaluation's MSE
{mlp.run_steps(notebook)}
losses, history = train(run_steps)
{mlp.losses_file()}
with open("{MSE_FILE}", "w") as f:
    f.write("step,train_mse,test_mse\\n")
    f.writelines(",".join(map(repr, row)) + "\\n" for row in history)"""


def cells(cfg: SeqConfig, notebook: bool = False) -> list[str]:
    """The script's parts in order, one notebook cell each (the notebook sets its steps in a line of
    code where the script reads --steps)."""
    s = sliders(cfg)
    return [
        IMPORTS,
        _settings(s, cfg),
        _data(s, cfg),
        _model(s, cfg),
        _optimizer(s, cfg),
        EVALUATE,
        _train(s, cfg),
        _run(notebook),
    ]


SERIES_WORDS = {
    "electricity": "the generated electricity load",
    "seattle": "Seattle's hourly temperatures",
    "csv": "the series of your CSV file",
}


def _what(cfg: SeqConfig) -> str:
    """'an LSTM on Seattle's hourly temperatures, split by time'."""
    label = CELLS.get(cfg.model.cell).label
    series = SERIES_WORDS.get(cfg.data.name, f"the {cfg.data.name} series")
    split = "split by time" if cfg.window.split == "time" else "in shuffled windows"
    return f"{'an' if label in ('RNN', 'LSTM') else 'a'} {label} on {series}, {split}"


def script(cfg: SeqConfig) -> str:
    """The setup as one course-style Python script (the series it reads is the bundle's CSV)."""
    doc = (
        f"Sequences lab, as PyTorch code: {_what(cfg)}.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes every step's training loss\n"
        f"to {LOSS_FILE} and every evaluation's train and test MSE to {MSE_FILE}; on the CPU with one\n"
        "thread (OMP_NUM_THREADS=1) these equal the app's, bit for bit."
    )
    return export.join(doc, cells(cfg))


def data_csv(series: Series) -> str:
    """The whole series: time and value per row, every float64 written so that it reads back exactly."""
    times = pd.DatetimeIndex(series.times).astype(str)
    return export.floats_csv(["time", "value"], zip(times, series.values.tolist(), strict=True))


def readme(cfg: SeqConfig) -> str:
    return f"""\
# Sequences lab: this setup as PyTorch code

{_what(cfg)[0].upper()}{_what(cfg)[1:]}.

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
series the app used: `time` and `value` per row; the script cuts it into windows, splits and
normalises it as the app does), `settings.json` (the app's settings).

    pip install torch pandas numpy
    OMP_NUM_THREADS=1 python train.py            # all {cfg.train.steps} steps
    OMP_NUM_THREADS=1 python train.py --steps 50 # stop earlier

It prints the train and test MSE every {cfg.train.eval_every} steps, and writes every step's training
loss to `{LOSS_FILE}` and every evaluation's MSE to `{MSE_FILE}`.

Reproduction contract: with the same torch, on the CPU and one thread, the step losses and the train
and test MSE equal the app's bit for bit (float32), and a run that diverges in the app stops at the
same step here. Other versions, more threads or a GPU add up floats in other orders: the curves keep
their shape, not their last digits. Changes made while a run plays (a new learning rate) are not in
the script: it runs the setup as it was when you downloaded it.
"""


def bundle(cfg: SeqConfig, series: Series) -> bytes:
    """A zip of series.csv, train.py, train.ipynb, README.md and settings.json."""
    return export.bundle(
        {
            DATA_FILE: data_csv(series),
            "train.py": script(cfg),
            "train.ipynb": export.notebook(f"Sequences lab: {_what(cfg)}", cells(cfg, notebook=True)),
            "README.md": readme(cfg),
            "settings.json": json.dumps(to_values(cfg), indent=1),
        }
    )


def changes(old: SeqConfig, new: SeqConfig) -> list[str]:
    """What changed, in the sidebar's words: ["Hidden size 16 → 32"]."""
    return sliders(new).changes(sliders(old).values)
