"""The Overfitting lab's setup as course-style PyTorch code that reproduces the app's run (`FitRun`).

The script is the course's epoch loop: a Dataset per split, a DataLoader whose last batch may be smaller,
an MLP with dropout after each hidden activation, `running_loss / len(train_loader)` per epoch, the
validation set in eval mode after each epoch, the best epoch's weights kept (and put back by early
stopping), and the test set once, at the end.

Reproduction contract: on the CPU with one thread, every step's training loss and every epoch's
validation loss equal the app's bit for bit (float32), and early stopping stops after the same epoch.
It holds because the script draws what the app draws, from the same seeds:

- the initial weights: `torch.manual_seed(SEED)`, then the model (as core.export.mlp);
- every other random stream from a seed of its own, derived from SEED as the app derives it
  (`stream_seed`, numpy's SeedSequence, as core.seeding.substream): the batch order, the augmentation and
  each dropout layer's masks. nn.Dropout would draw its masks from PyTorch's one global generator; the
  script's `SeededDropout` does the same arithmetic (a Bernoulli mask, scaled by 1 / (1 - p)) from its
  own generator.

The epoch's training loss is the mean of its batch losses; the app takes it with `statistics.fmean`
(exactly rounded), the script with `running_loss / len(train_loader)` as the course writes it: the two
can part in the last bit of a float64, so the test compares them within 1e-12.
"""

from __future__ import annotations

import json

from core import export
from core.config import to_values
from core.export import LOSS_FILE, SEEDED_DROPOUT, STREAM_SEED, Sliders, mlp
from core.overfitting.config import FitConfig
from core.overfitting.data import Splits, load
from core.overfitting.run import AUGMENT_DEGREES, AUGMENT_PIXELS

DATA_FILE = "data.csv"
EPOCH_FILE = "epochs.csv"
SLIDERS = {
    "data.name": "Dataset",
    "data.noise": "Noise (moons)",
    "data.seed": "Split seed",
    "train.examples": "Training examples",
    "train.epochs": "Epochs",
    "train.batch_size": "Batch size",
    "train.seed": "Weights and batches seed",
    "train.patience": "Early stopping: patience (epochs)",
    "train.augment": "Augment (shift and turn the digits)",
    "model.depth": "Hidden layers",
    "model.width": "Units per layer",
    "model.activation": "Activation",
    "model.dropout": "Dropout p (after each hidden layer)",
} | {k: v for k, v in mlp.SLIDERS.items() if k.startswith("optim.")}


def _slider(s: Sliders, key: str) -> str:
    """'slider "Epochs": 100', for a comment's parentheses."""
    return s.why(key).strip()[2:]


def _settings(s: Sliders, cfg: FitConfig, splits: Splits) -> str:
    t = cfg.train
    n = min(t.examples, len(splits.x_pool))
    batch = min(t.batch_size, n)
    side = f"SIDE = {splits.side}  # each example is a SIDE x SIDE image, row by row" if splits.side else ""
    lines = [
        "# The settings (the app's sliders)",
        f"SEED = {t.seed}{s.why('train.seed')}",
        f"EPOCHS = {t.epochs}{s.why('train.epochs')}",
        f"BATCH_SIZE = {batch}{s.why('train.batch_size')}",
        f"PATIENCE = {t.patience}{s.why('train.patience')}",
        f"N_FEATURES = {splits.n_features}  # inputs per example in {DATA_FILE}",
        f"N_CLASSES = {splits.n_classes}  # classes in {DATA_FILE}",
        *([side] if side else []),
    ]
    return "\n".join(lines)


def _data(s: Sliders, cfg: FitConfig, splits: Splits) -> str:
    n = min(cfg.train.examples, len(splits.x_pool))
    return f"""\
# The data: {n:,} training examples ({_slider(s, "train.examples")}), a validation set that picks
# the settings and the epoch, and a test set kept aside until the end ({_slider(s, "data.seed")})
{export.read_table(DATA_FILE)}


train_set = TableDataset(table[table["split"] == "train"])
val_set = TableDataset(table[table["split"] == "validation"])
test_set = TableDataset(table[table["split"] == "test"])
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(stream_seed(SEED, 1)))
# without drop_last: every example once per epoch, the last batch possibly smaller
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order)"""


def _augment(s: Sliders) -> str:
    return f"""\
# Augmentation ({_slider(s, "train.augment")}):
# each training image turned by up to {AUGMENT_DEGREES:g} degrees and shifted up to {AUGMENT_PIXELS:g} pixel
# each way, anew each time it is seen (torchvision's v2.RandomAffine does the same for image
# tensors; this is the app's own draw, for the same numbers). Background (0) moves in at the edges.
DEGREES, PIXELS = {AUGMENT_DEGREES!r}, {AUGMENT_PIXELS!r}
augment_generator = torch.Generator().manual_seed(stream_seed(SEED, 2))


def augment(x):
    n = len(x)
    draws = torch.rand(n, 3, generator=augment_generator) * 2 - 1  # angle, dx, dy in [-1, 1)
    angle = draws[:, 0] * math.radians(DEGREES)
    shift = draws[:, 1:] * (2 * PIXELS / SIDE)  # the image spans [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    rows = [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)]
    theta = torch.stack(rows, 1)  # (n, 2, 3): one rotation and shift per image
    images = x.reshape(n, 1, SIDE, SIDE)
    grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return nn.functional.grid_sample(images, grid, align_corners=False).reshape(n, -1)"""


def _model(s: Sliders, cfg: FitConfig) -> str:
    m = cfg.model
    layer = [
        "layers.append(nn.Linear(width_in, WIDTH))",
        f"layers.append({mlp.ACTIVATION_CODE[m.activation]}){s.why('model.activation')}",
    ]
    if m.dropout > 0:  # the layer's index seeds its dropout
        layer.append("layers.append(SeededDropout(DROPOUT, stream_seed(SEED, 7, i)))")
    return f"""\
# The model: DEPTH hidden layers of WIDTH units, each followed by dropout, then one output layer
DEPTH = {m.depth}{s.why("model.depth")}
WIDTH = {m.width}{s.why("model.width")}
DROPOUT = {m.dropout!r}{s.why("model.dropout")}


{SEEDED_DROPOUT}


{export.mlp_class(layer, "N_CLASSES", loop="i" if m.dropout > 0 else "_")}"""


def _optimizer(s: Sliders, cfg: FitConfig) -> str:
    make, keys = mlp.optimizer_call(cfg.optim)
    schedule, schedule_keys = mlp.schedule_call(cfg.optim)
    return "\n".join(
        [
            "# The optimizer (weight decay is its weight_decay), its schedule and the loss",
            *(f"#{s.why(k)[3:]}" for k in keys),
            export.wrapped(f"optimizer = {make}"),
            "STEPS = EPOCHS * len(train_loader)",
            s.tied(f"scheduler = {schedule}", *schedule_keys),
            "loss_fn = nn.CrossEntropyLoss()",
        ]
    )


EVALUATE = '''\
def evaluate(dataset):
    """Loss and accuracy on a whole split, in eval mode (dropout off), without gradients."""
    model.eval()
    with torch.no_grad():
        out = model(dataset.x)
        accuracy = (out.argmax(dim=1) == dataset.y).float().mean()
        return loss_fn(out, dataset.y).item(), accuracy.item()'''


def _loop(s: Sliders, augment: bool, notebook: bool) -> str:
    epochs = (
        "run_epochs = EPOCHS  # fewer to stop earlier"
        if notebook
        else "\n".join(
            [
                "parser = argparse.ArgumentParser(description=__doc__)",
                'parser.add_argument("--epochs", type=int, default=EPOCHS, help="stop after this many")',
                "run_epochs = min(parser.parse_args().epochs, EPOCHS)",
            ]
        )
    )
    augmenting = (
        "\n        x = augment(x)  # a new turn and shift of each image"
        if augment
        else f"  # no augmentation ({_slider(s, 'train.augment')})"
    )
    return f"""\
# Training: zero_grad -> forward -> loss -> backward -> step per batch, then the validation set
{epochs}
losses, history = [], []  # each step's loss; per epoch: (epoch, train loss, val loss, val acc)
best_loss, best_epoch = evaluate(val_set)[0], 0  # epoch 0: the initial weights
best_state = copy.deepcopy(model.state_dict())
diverged = False
for epoch in range(1, run_epochs + 1):
    model.train()
    running_loss = 0.0
    for x, y in train_loader:{augmenting}
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        # the gradient's total norm (max_norm=inf measures it and scales nothing)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item()
        losses.append(loss.item())
        if not (math.isfinite(losses[-1]) and math.isfinite(grad_norm)):
            diverged = True
            break
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running_loss += losses[-1]
    if diverged:
        print(f"diverged at step {{len(losses)}}: the loss or the gradient is NaN or infinite")
        break
    # the epoch's mean training loss, then the validation set
    val_loss, val_accuracy = evaluate(val_set)
    history.append((epoch, running_loss / len(train_loader), val_loss, val_accuracy))
    print(f"epoch {{epoch}}: train loss {{history[-1][1]:.4f}}, validation loss {{val_loss:.4f}}")
    if val_loss < best_loss:
        best_loss, best_epoch = val_loss, epoch
        best_state = copy.deepcopy(model.state_dict())
    if PATIENCE and epoch - best_epoch >= PATIENCE:
        print(f"stopped early after epoch {{epoch}}: no better validation loss in {{PATIENCE}} epochs")
        break

if PATIENCE and not diverged and best_epoch != epoch:  # early stopping ends with the best weights
    model.load_state_dict(best_state)
    print(f"the weights of epoch {{best_epoch}} were put back")"""


FINISH = f'''\
# The test set, once, at the end
test_loss, test_accuracy = evaluate(test_set)
print(f"test loss {{test_loss:.4f}}, test accuracy {{test_accuracy:.0%}}")
with open("{LOSS_FILE}", "w") as f:
    f.write("step,loss\\n")
    f.writelines(f"{{i}},{{v!r}}\\n" for i, v in enumerate(losses, start=1))
with open("{EPOCH_FILE}", "w") as f:
    f.write("epoch,train_loss,val_loss,val_accuracy\\n")
    f.writelines(",".join(map(repr, row)) + "\\n" for row in history)'''


def cells(cfg: FitConfig, splits: Splits | None = None, notebook: bool = False) -> list[str]:
    splits = splits or load(cfg.data)
    s = Sliders(SLIDERS, to_values(cfg))
    augment = cfg.train.augment and splits.side is not None
    imports = mlp.imports("copy").replace("import pandas as pd", "import numpy as np\nimport pandas as pd")
    return [
        imports,
        _settings(s, cfg, splits),
        STREAM_SEED,
        _data(s, cfg, splits),
        *([_augment(s)] if augment else []),
        _model(s, cfg),
        _optimizer(s, cfg),
        EVALUATE,
        _loop(s, augment, notebook),
        FINISH,
    ]


def script(cfg: FitConfig, splits: Splits | None = None) -> str:
    doc = (
        f"Overfitting lab, as PyTorch code: an MLP on the {cfg.data.name}, with a validation set.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--epochs N]. It writes every step's training loss\n"
        f"to {LOSS_FILE} and every epoch's losses to {EPOCH_FILE}; on the CPU with one thread\n"
        "(OMP_NUM_THREADS=1) these equal the app's, bit for bit."
    )
    return export.join(doc, cells(cfg, splits))


def data_csv(cfg: FitConfig, splits: Splits) -> str:
    """The training examples the run uses, the validation and the test set; a split column says which."""
    n = min(cfg.train.examples, len(splits.x_pool))
    header = ["split", *(f"x{i + 1}" for i in range(splits.n_features)), "label"]
    parts = (
        ("train", splits.x_pool[:n], splits.y_pool[:n]),
        ("validation", splits.x_val, splits.y_val),
        ("test", splits.x_test, splits.y_test),
    )
    rows = (
        [split, *row, label]
        for split, x, y in parts
        for row, label in zip(x.cpu().tolist(), y.cpu().tolist(), strict=True)
    )
    return export.floats_csv(header, rows)


def readme(cfg: FitConfig) -> str:
    return f"""\
# Overfitting lab: this setup as PyTorch code

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
training examples, the validation and the test set the app used; `split` says which), `settings.json`
(the app's settings, as its link carries them).

    pip install torch pandas numpy
    OMP_NUM_THREADS=1 python train.py             # all {cfg.train.epochs} epochs
    OMP_NUM_THREADS=1 python train.py --epochs 5  # stop earlier

It prints the training and validation loss of every epoch, the test set's once at the end, and writes
every step's training loss to `{LOSS_FILE}` and every epoch's to `{EPOCH_FILE}`.

Reproduction contract: with the same torch, on the CPU and one thread, the step losses and the
validation losses equal the app's bit for bit (float32), and early stopping stops after the same
epoch. Other versions, more threads or a GPU add up floats in other orders: the curves keep their
shape, not their last digits. Changes made while a run plays are not in the script: it runs the
setup as it was when you downloaded it.
"""


def bundle(cfg: FitConfig, splits: Splits | None = None) -> bytes:
    splits = splits or load(cfg.data)
    return export.bundle(
        {
            DATA_FILE: data_csv(cfg, splits),
            "train.py": script(cfg, splits),
            "train.ipynb": export.notebook(
                f"Overfitting lab: {cfg.model.depth} x {cfg.model.width} MLP on "
                f"{min(cfg.train.examples, len(splits.x_pool))} {cfg.data.name}",
                cells(cfg, splits, notebook=True),
            ),
            "README.md": readme(cfg),
            "settings.json": json.dumps(to_values(cfg), indent=1),
        }
    )


def changes(old: FitConfig, new: FitConfig) -> list[str]:
    return Sliders(SLIDERS, to_values(new)).changes(to_values(old))
