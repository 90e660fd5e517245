"""The pieces of a multi-layer-perceptron run (`core.training.Run`) as course-style PyTorch: the data as a
Dataset and a DataLoader, an MLP class, the `nn.init` calls, the optimizer and schedule, and the loop
zero_grad -> forward -> loss -> backward -> (clip) -> step. The Gradients lab's script is these pieces in
order; the Optimizers lab's race runs the loop once per racer.

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

from core.config import OptimConfig, RunConfig, to_values
from core.data import Dataset
from core.export import (
    LOSS_FILE,
    Sliders,
    clip_lines,
    floats_csv,
    measured_backward,
    mlp_class,
    read_table,
    step_and_stop,
    wrapped,
)

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
OPTIM_KEYS = [k for k in SLIDERS if k.startswith("optim.")]

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
DATA_KEYS = [k for k in SLIDERS if k.startswith("data.")]


def sliders(cfg: RunConfig, names: dict[str, str] | None = None) -> Sliders:
    return Sliders(names or SLIDERS, to_values(cfg))


def imports(*extra: str) -> str:
    """The imports cell; `extra` adds standard-library modules ("copy")."""
    stdlib = sorted({"argparse", "math", *extra})
    return "\n".join(
        [
            *(f"import {m}" for m in stdlib),
            "",
            "import pandas as pd",
            "import torch",
            "from torch import nn",
            "from torch.utils.data import DataLoader, Sampler",
        ]
    )


def settings(s: Sliders, cfg: RunConfig, shape: tuple[int, int, int]) -> str:
    n_features, n_classes, n_train = shape
    t = cfg.train
    batch = min(t.batch_size, n_train)  # the app never asks for more rows than the training set has
    return "\n".join(
        [
            "# The settings (the app's sliders)",
            f"SEED = {t.seed}{s.why('train.seed')}",
            f"STEPS = {t.steps}{s.why('train.steps')}",
            f"BATCH_SIZE = {batch}{s.why('train.batch_size')}",
            f"N_FEATURES = {n_features}  # inputs per example in {DATA_FILE}",
            f"N_CLASSES = {n_classes}  # classes in {DATA_FILE}",
            # binary cross-entropy reads one output, the class-1 logit; the other losses one per class
            f"N_OUTPUTS = {1 if t.loss == 'bce' else 'N_CLASSES'}{s.why('train.loss')}",
        ]
    )


DATA = f"""\
# The data: the app's split, already standardised (mean 0, std 1 by the training rows)
{read_table(DATA_FILE)}


train_set = TableDataset(table[table["split"] == "train"])
test_set = TableDataset(table[table["split"] == "test"])
# the batch order has its own generator: it does not depend on how the weights were drawn
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order, drop_last=True)"""


def model(s: Sliders, cfg: RunConfig) -> str:
    m = cfg.model
    layer = ["layers.append(nn.Linear(width_in, WIDTH))"]
    if m.batchnorm:
        layer.append(f"layers.append(nn.BatchNorm1d(WIDTH)){s.why('model.batchnorm')}")
    layer.append(f"layers.append({ACTIVATION_CODE[m.activation]}){s.why('model.activation')}")
    return f"""\
# The model: DEPTH hidden layers of WIDTH units, then one output layer
DEPTH = {m.depth}{s.why("model.depth")}
WIDTH = {m.width}{s.why("model.width")}


{mlp_class(layer, "N_OUTPUTS")}"""


def init(s: Sliders, cfg: RunConfig) -> str:
    return init_layers(s, cfg.model)


def init_layers(s: Sliders, m, layers: str = "nn.Linear", output: str = "model.output") -> str:
    """The initializer of every `layers` module of `model` (`m`: a model section with `init`,
    `activation` and, for the uniform and normal fills, `init_a`, `init_b`, `init_std`); `output` is the
    last layer, whose Kaiming gain is a linear layer's."""
    why = f" ({s.why('model.init').strip()[2:]})"
    if m.init == "default":
        return f"# Initialization: PyTorch's default, drawn as the model was made{why}"
    hidden, slope = KAIMING[m.activation]
    fills = {
        "zeros": "nn.init.zeros_(layer.weight)",
        "xavier_uniform": "nn.init.xavier_uniform_(layer.weight, gain=1.0)",
        "xavier_normal": "nn.init.xavier_normal_(layer.weight, gain=1.0)",
        "kaiming_uniform": "nn.init.kaiming_uniform_(layer.weight, a=slope, nonlinearity=gain)",
        "kaiming_normal": "nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity=gain)",
    }
    if m.init == "uniform":
        uniform = f"        nn.init.uniform_(layer.weight, {m.init_a!r}, {m.init_b!r})"
        fills["uniform"] = s.tied(uniform, "model.init_a", "model.init_b").lstrip()
    elif m.init == "normal":
        normal = f"        nn.init.normal_(layer.weight, 0.0, {m.init_std!r})"
        fills["normal"] = s.tied(normal, "model.init_std").lstrip()
    gain = ""
    if m.init.startswith("kaiming"):
        gain = (
            "\n        # the output layer has no activation after it: its gain is a linear layer's"
            f'\n        gain, slope = ("linear", 0) if layer is {output} else ("{hidden}", {slope})'
        )
    return f"""\
# Initialization{why}
with torch.no_grad():
    for layer in model.modules():  # the input side first, as the layers were made
        if not isinstance(layer, {layers}):
            continue{gain}
        {fills[m.init]}
        nn.init.zeros_(layer.bias)"""


def optimizer_call(o: OptimConfig, params: str = "model.parameters()") -> tuple[str, tuple[str, ...]]:
    """`torch.optim.X(params, ...)` for these settings, and the slider keys it spells out."""
    lr, wd = f"lr={o.lr!r}", f"weight_decay={o.weight_decay!r}"
    if o.name == "sgd":
        nesterov = o.nesterov and o.momentum > 0  # the app turns Nesterov off without momentum
        make = f"torch.optim.SGD({params}, {lr}, momentum={o.momentum!r}, nesterov={nesterov}, {wd})"
        return make, ("optim.name", "optim.lr", "optim.momentum", "optim.nesterov", "optim.weight_decay")
    if o.name == "rmsprop":
        make = f"torch.optim.RMSprop({params}, {lr}, momentum={o.momentum!r}, {wd})"
        return make, ("optim.name", "optim.lr", "optim.momentum", "optim.weight_decay")
    if o.name == "adagrad":
        return f"torch.optim.Adagrad({params}, {lr}, {wd})", ("optim.name", "optim.lr", "optim.weight_decay")
    cls = {"adam": "Adam", "adamw": "AdamW"}[o.name]
    make = f"torch.optim.{cls}({params}, {lr}, betas=({o.beta1!r}, {o.beta2!r}), {wd})"
    return make, ("optim.name", "optim.lr", "optim.beta1", "optim.beta2", "optim.weight_decay")


def schedule_call(o: OptimConfig) -> tuple[str, tuple[str, ...]]:
    """The learning-rate scheduler on `optimizer` (or None), and the slider keys it spells out."""
    if o.schedule == "step":
        call = f"torch.optim.lr_scheduler.StepLR(optimizer, step_size={o.step_size}, gamma={o.gamma!r})"
        return call, ("optim.schedule", "optim.step_size", "optim.gamma")
    if o.schedule == "exponential":
        return f"torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma={o.gamma!r})", (
            "optim.schedule",
            "optim.gamma",
        )
    if o.schedule == "cosine":
        return "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)", ("optim.schedule",)
    return "None", ("optim.schedule",)


def optimizer(s: Sliders, cfg: RunConfig) -> str:
    make, keys = optimizer_call(cfg.optim)
    schedule, schedule_keys = schedule_call(cfg.optim)
    return "\n".join(
        [
            "# The optimizer, its schedule and the loss",
            *(f"#{s.why(k)[3:]}" for k in keys),
            wrapped(f"optimizer = {make}"),
            s.tied(f"scheduler = {schedule}", *schedule_keys),
            loss(s, cfg),
        ]
    )


def loss(s: Sliders, cfg: RunConfig) -> str:
    return s.tied(f"loss_fn = {LOSS_CODE[cfg.train.loss][0]}", "train.loss")


def train(s: Sliders, cfg: RunConfig) -> str:
    """`def train(model, optimizer, scheduler, run_steps)`: the loop, returning the loss per step."""
    return loop(s, cfg.train.clip_norm, LOSS_CODE[cfg.train.loss][1])


def loop(s: Sliders, clip: float, target: str = "y") -> str:
    """The training function and `test_accuracy(model)` (the loss's target expression: `target`)."""
    return f'''\
# Training: zero_grad -> forward -> loss -> backward -> (clip) -> step
def train(model, optimizer, scheduler, run_steps):
    """Train for run_steps steps (fewer if it diverges); returns the training loss of every step."""
    losses = []
    step = 0
    model.train()
    while step < run_steps:
        for x, y in train_loader:  # each epoch: a new random order
            step += 1
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, {target})
{measured_backward("loss.item()", "losses[-1]", "losses")}
{clip_lines(s, clip)}
{step_and_stop("losses[-1]")}


def test_accuracy(model):
    """The whole test set, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        out = model(test_set.x)
        predicted = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
        return (predicted == test_set.y).float().mean().item()'''


def run_steps(notebook: bool) -> str:
    """How many steps: a line of code in a notebook, `--steps N` in a script."""
    if notebook:
        return "run_steps = STEPS  # fewer to stop earlier"
    return "\n".join(
        [
            "parser = argparse.ArgumentParser(description=__doc__)",
            'parser.add_argument("--steps", type=int, default=STEPS, help="stop after this many steps")',
            "run_steps = min(parser.parse_args().steps, STEPS)",
        ]
    )


def shape(dataset: Dataset | None) -> tuple[int, int, int]:
    """(features, classes, training rows); without a dataset the default data's (2, 2, unbounded)."""
    if dataset is None:
        return 2, 2, 10**9
    return dataset.n_features, dataset.n_classes, len(dataset.x_train)


def data_csv(dataset: Dataset) -> str:
    """Train and test rows, a split column, every float32 written so that it reads back exactly."""
    header = ["split", *(f"x{i + 1}" for i in range(dataset.n_features)), "label"]
    rows = (
        [split, *row, label]
        for split, x, y in (
            ("train", dataset.x_train, dataset.y_train),
            ("test", dataset.x_test, dataset.y_test),
        )
        for row, label in zip(x.cpu().tolist(), y.cpu().tolist(), strict=True)
    )
    return floats_csv(header, rows)


def losses_file() -> str:
    return f'''\
with open("{LOSS_FILE}", "w") as f:
    f.write("step,loss\\n")
    f.writelines(f"{{i}},{{v!r}}\\n" for i, v in enumerate(losses, start=1))'''
