"""A lab's setup as course-style PyTorch code that reproduces its run: what every lab's export shares.

A lab's `export` module writes its script as a list of cells (one notebook cell each); this package
joins them into a script or a notebook, zips the bundle a student takes home, ties a line of code to the
sliders behind it (`Sliders`), and says which lines a change of settings touched (`highlight`).
`core.export.mlp` holds the pieces of the multi-layer-perceptron run (`core.training.Run`) that the
Gradients and Optimizers labs share.
"""

from __future__ import annotations

import difflib
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

LOSS_FILE = "losses.csv"
# ruff's line length is 110; a generated line stays within 100 so that `ruff format` leaves it
LINE = 100


# The batch order of every script: PyTorch's RandomSampler draws a second, empty permutation at the end of
# each epoch, which would shift every later epoch against the app's (core.data.BatchOrder: one each)
EPOCH_SHUFFLE = '''\
class EpochShuffle(Sampler):
    """A new random order of the examples every epoch: one torch.randperm each, from `generator`."""

    def __init__(self, n, generator):
        self.n, self.generator = n, generator

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())'''


# A table of features and a label column as a Dataset (the table is read into `table`, its feature columns
# listed in `features`)
TABLE_DATASET = '''\
class TableDataset(torch.utils.data.Dataset):
    """One split of the table: (features, class index) per row."""

    def __init__(self, rows):
        self.x = torch.tensor(rows[features].to_numpy(), dtype=torch.float32)
        self.y = torch.tensor(rows["label"].to_numpy(), dtype=torch.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]'''


def read_table(data_file: str) -> str:
    """A script's table: read from its CSV, its feature columns, the Dataset of one split of it, and
    the sampler of the batch order."""
    return f"""\
table = pd.read_csv("{data_file}")
features = [c for c in table.columns if c.startswith("x")]


{TABLE_DATASET}


{EPOCH_SHUFFLE}"""


# The app's seeded streams (core.seeding.substream) and dropout (core.seeding.Dropout), for a script that
# must draw what the app draws: numpy's SeedSequence for the seeds, a generator per dropout layer
STREAM_SEED = '''\
def stream_seed(seed, *path):
    """A seed of its own for each random stream of the run (batch order, augmentation, each dropout
    layer), derived from SEED as the app derives it, so that no stream depends on another."""
    return int(np.random.SeedSequence([seed % 2**64, *path]).generate_state(1)[0])'''
SEEDED_DROPOUT = '''\
class SeededDropout(nn.Module):
    """nn.Dropout(p) with masks from a generator of its own: in train mode each value is zeroed with
    probability p and the rest scaled by 1 / (1 - p); in eval mode it does nothing."""

    def __init__(self, p, seed):
        super().__init__()
        self.p = p
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.div_(1 - self.p)'''


def show(value) -> str:
    """A setting as the script's comments show it: "on"/"off", a float's repr, else str."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Sliders:
    """The sidebar's names of the settings a script spells out, and the setup's values."""

    names: Mapping[str, str]  # flat key ("model.depth") -> the control's label ("Hidden layers")
    values: Mapping[str, object]  # flat key -> value

    def why(self, *keys: str) -> str:
        """The comment that ties a line to its sliders: `  # slider "Hidden layers": 4`."""
        return "  # " + ", ".join(f'slider "{self.names[k]}": {show(self.values[k])}' for k in keys)

    def tied(self, code: str, *keys: str) -> str:
        """`code` with its sliders' comment at the end, or on the line above where the two would pass
        LINE characters (one line per slider where one line would be too long)."""
        indent = code[: len(code) - len(code.lstrip())]
        why = self.why(*keys)
        if len(code + why) <= LINE:
            return code + why
        if len(indent + why.strip()) <= LINE:
            return f"{indent}{why.strip()}\n{code}"
        return "".join(f"{indent}{self.why(k).strip()}\n" for k in keys) + code

    def changes(self, old: Mapping[str, object]) -> list[str]:
        """What changed from `old` values, in the sidebar's words: ["Hidden layers 4 → 6"]."""
        return [
            f"{self.names.get(k, k)} {show(old[k])} → {show(v)}"
            for k, v in self.values.items()
            if k in old and old[k] != v
        ]


def split_args(args: str) -> list[str]:
    """The top-level, comma-separated parts of a call's arguments ("a, (b, c)" -> ["a", "(b, c)"])."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(args):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 0:
            parts.append(args[start:i].strip())
            start = i + 1
    parts.append(args[start:].strip())
    return parts


def wrapped(line: str) -> str:
    """A `name = call(arguments)` line that passes LINE characters as `ruff format` keeps it: one argument
    per line, with a trailing comma."""
    if len(line) <= LINE:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    head, args = line.split("(", 1)
    listed = "".join(f"{indent}    {part},\n" for part in split_args(args[:-1]))
    return f"{head}(\n{listed}{indent})"


def join(doc: str, cells: Sequence[str]) -> str:
    """A script: its docstring, the imports cell, then the other cells two blank lines apart."""
    first, *rest = cells
    return f'"""{doc}\n"""\n\n' + first + "\n\n" + "\n\n\n".join(rest) + "\n"


def notebook(title: str, cells: Sequence[str]) -> str:
    """The cells as a Jupyter notebook (nbformat 4 JSON) under a Markdown title."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}")]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def bundle(files: Mapping[str, str | bytes]) -> bytes:
    """A zip of name -> text (or bytes), in the given order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return out.getvalue()


def highlight(old: str, new: str) -> set[int]:
    """The 1-based numbers of the lines of `new` that differ from `old` (replaced or inserted)."""
    a, b = old.splitlines(), new.splitlines()
    touched: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            touched.update(range(j1 + 1, j2 + 1))
    return touched


def clip_lines(s: Sliders, clip: float) -> str:
    """The training loop's clipping, after the gradient's norm is measured: as in the app, only a
    norm above the limit is scaled (a comment instead when the slider is at 0)."""
    why = s.why("train.clip_norm").strip()
    if clip <= 0:
        return f"            # no clipping ({why[2:]})"
    return (
        f"            {why}\n"
        "            # as in the app, only a norm above the limit is scaled\n"
        f"            if grad_norm > {clip!r}:\n"
        f"                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={clip!r})"
    )


def measured_backward(kept: str, loss: str, returns: str) -> str:
    """The training loop from `loss.backward()`: the gradient's norm measured, the step's losses kept
    (`kept`), and a stop where `loss` or the norm is not finite, as the app's run stops (returning
    `returns`)."""
    return f"""\
            loss.backward()
            # the gradient's total norm (max_norm=inf measures it and scales nothing)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item()
            losses.append({kept})
            if not (math.isfinite({loss}) and math.isfinite(grad_norm)):
                print(f"diverged at step {{step}}: the loss or the gradient is NaN or infinite")
                return {returns}"""


def step_and_stop(loss: str) -> str:
    """The training loop after the gradient's clipping: the optimizer's and the schedule's step, a line
    every 50 steps with `loss` (this step's loss), and the stop after run_steps."""
    return f"""\
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if step % 50 == 0:
                print(f"step {{step}}: loss {{{loss}:.4f}}")
            if step == run_steps:
                return losses
    return losses"""


def mlp_class(layer: Sequence[str], outputs: str, loop: str = "_") -> str:
    """The course's MLP class, `model = MLP()` from the seed after it: DEPTH hidden layers, each made of
    the `layer` lines (appends to `layers`, the loop's index named `loop`), then one output layer of
    `outputs` units."""
    lines = "\n            ".join(layer)
    return f"""\
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        width_in = N_FEATURES
        for {loop} in range(DEPTH):
            {lines}
            width_in = WIDTH
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width_in, {outputs})

    def forward(self, x):  # (batch, N_FEATURES) -> (batch, {outputs})
        return self.output(self.hidden(x))


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = MLP()"""


def floats_csv(header: Sequence[str], rows) -> str:
    """A CSV whose float cells are written with repr, so a float32 reads back exactly; `rows` yields
    sequences of str, int or float."""
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join(repr(v) if isinstance(v, float) else str(v) for v in row) + "\n")
    return out.getvalue()


def reproduction(steps_cmd: str, what: str) -> str:
    """The README's paragraph on the reproduction contract."""
    return f"""\
    pip install torch pandas
    OMP_NUM_THREADS=1 python train.py            # {steps_cmd}
    OMP_NUM_THREADS=1 python train.py --steps 50 # stop earlier

It prints the loss every 50 steps and writes every step's training loss to `{LOSS_FILE}`.

Made with torch {torch.__version__}. Reproduction contract: with the same torch, on the CPU and one
thread, {what} equal the app's step for step, bit for bit (float32), and a run that diverges in
the app stops at the same step here ("diverged at step N"). Other versions, more threads or a GPU add
up floats in other orders: the curve is the same in shape, not in its last digits. Changes made
while a run plays (a new learning rate at step 120) are not in the script: it runs the setup as it
was when you downloaded it."""
