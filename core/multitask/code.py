"""The two-inputs lab's script in the words it is written in (core.multitask.export puts it together):
a slider's name and value in a comment, each task's loss, outputs and model call, the model cell (a CNN
class whose `forward` takes the inputs and returns one output per head, each part seeded as the app
seeds it) and the losses cell (one loss per head, their weights, and the division by their values at
the start)."""

from __future__ import annotations

import textwrap

from core import export
from core.cnn import CNNConfig
from core.data.glyphs import GlyphSet
from core.export import LINE, Sliders, mlp
from core.multitask.config import MultiTaskConfig
from core.multitask.models import SETUPS, TASKS, net_table
from core.multitask.run import NORMALISER_IMAGES

# per task: the Dataset's attribute and the loop's variable for its target, its head's output units
TARGET = {"char": "chars", "alphabet": "alphabets", "angle": "angles"}
UNITS = {"char": "N_CHARS", "alphabet": "N_ALPHABETS", "angle": "1"}
ALPHABET_INPUT = "alphabet_inputs"  # the second input: the alphabet as a one-hot vector

KEEP = "\0"  # a space that `comment` does not break a line at


def slider_note(s: Sliders, *keys: str) -> str:
    """'slider "Steps": 150', for a comment's parentheses (`comment` keeps each slider on one line)."""
    return ", ".join(s.why(k).strip()[2:].replace(" ", KEEP) for k in keys)


def comment(text: str, indent: int = 0) -> str:
    """`text` as comment lines of at most LINE characters, `indent` spaces in; a slider's name and value
    (from `slider_note`) stay on one line."""
    prefix = " " * indent + "# "
    lines = textwrap.wrap(text, LINE - len(prefix), break_long_words=False, break_on_hyphens=False)
    return "\n".join(prefix + line.replace(KEEP, " ") for line in lines)


def head_loss(task: str, out: str, target: str) -> str:
    """One head's loss on a batch, as the script writes it."""
    if TASKS[task].regression:
        return f"mse({out}.squeeze(1), {target})"
    return f"cross_entropy({out}, {target})"


def outputs(tasks: tuple[str, ...]) -> str:
    """`char_out, alphabet_out` (what the model returns), or `char_out` for one head."""
    return ", ".join(f"{t}_out" for t in tasks)


def model_call(alphabet_input: bool, images: str, alphabets: str) -> str:
    return f"model({images}, {alphabets})" if alphabet_input else f"model({images})"


def head_layer(task: str, alphabet_input: bool) -> str:
    """The lines of __init__ that make one head, seeded as the app seeds it."""
    seed = f"SEED + {2 + list(TASKS).index(task)}"
    label, name, units = TASKS[task].label, f"{task}_head", UNITS[task]
    if not alphabet_input:
        return f"""\
        torch.manual_seed({seed})  # the {label} head's
        self.{name} = nn.Linear(HIDDEN, {units})"""
    return f"""\
        # the {label} head reads the shared features and the alphabet: it starts as the head that
        # reads the features only, the alphabet's columns at 0
        torch.manual_seed({seed})
        start = nn.Linear(HIDDEN, {units})
        self.{name} = nn.Linear(HIDDEN + N_ALPHABETS, {units})
        with torch.no_grad():
            self.{name}.weight.zero_()
            self.{name}.weight[:, :HIDDEN] = start.weight
            self.{name}.bias.copy_(start.bias)"""


def model_cell(s: Sliders, cfg: MultiTaskConfig, g: GlyphSet) -> str:
    m = cfg.model
    setup = SETUPS.get(m.setup)
    rows = net_table(m, g.image_shape, g.n_chars, g.n_alphabets)
    c, h, w = next(r.shape for r in reversed(rows) if len(r.shape) == 3)  # what the last block leaves
    most = max(CNNConfig(blocks=m.blocks, channels=m.channels).block_channels())
    capped = most < m.channels * 2 ** (m.blocks - 1)
    doubling = f"min(CHANNELS * 2**i, {most})" if capped else "CHANNELS * 2**i"
    heads = "\n".join(head_layer(t, setup.alphabet_input) for t in setup.tasks)
    inputs = f"image, {ALPHABET_INPUT.removesuffix('s')}" if setup.alphabet_input else "image"
    join = (
        f"\n        h = torch.cat([h, {ALPHABET_INPUT.removesuffix('s')}], dim=1)"
        "  # (batch, HIDDEN + N_ALPHABETS)"
        if setup.alphabet_input
        else ""
    )
    returns = ", ".join(f"self.{t}_head(h)" for t in setup.tasks)
    shapes = ", ".join("(batch, 1)" if t == "angle" else f"(batch, {UNITS[t]})" for t in setup.tasks)
    return f'''\
{comment(_model_what(s, setup))}
BLOCKS = {m.blocks}{s.why("model.blocks")}
CHANNELS = {m.channels}{s.why("model.channels")}
HIDDEN = {m.hidden}{s.why("model.hidden")}
FEATURES = {c} * {h} * {w}  # what the conv blocks leave: {c} channels of {h} x {w}


class GlyphNet(nn.Module):
    """{setup.label.replace("→", "->")}."""

    def __init__(self):
        super().__init__()
        # each part draws its initial weights from a seed of its own, as the app does: two setups
        # start the same where their layers match
        torch.manual_seed(SEED)  # the conv blocks' initial weights
        blocks = []
        c_in = 1
        for i in range(BLOCKS):
            c_out = {doubling}  # doubling per block
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.image_layer = nn.Sequential(*blocks, nn.Flatten())
        torch.manual_seed(SEED + 1)  # the shared dense layer's
        self.dense = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU())
{heads}

    def forward(self, {inputs}):
        h = self.dense(self.image_layer(image))  # (batch, HIDDEN){join}
        return {returns}  # {shapes}


model = GlyphNet()'''


def _model_what(s: Sliders, setup) -> str:
    """The model cell's opening comment: the setup's lesson and how the parts read each other."""
    heads = "each head reads" if len(setup.tasks) > 1 else "the head reads"
    joins = " and the alphabet joins them" if setup.alphabet_input else ""
    return (
        f"The model ({slider_note(s, 'model.setup')}): {setup.lesson}. Conv blocks read the image, a shared "
        f"dense layer reads their features{joins}, and {heads} the result."
    )


def losses_cell(s: Sliders, cfg: MultiTaskConfig) -> str:
    tasks = SETUPS.get(cfg.model.setup).tasks
    lines = ["# The optimizer, its schedule and each head's loss"]
    make, keys = mlp.optimizer_call(cfg.optim)
    schedule, schedule_keys = mlp.schedule_call(cfg.optim)
    lines += [f"#{s.why(k)[3:]}" for k in keys]
    lines.append(export.wrapped(f"optimizer = {make}"))
    lines.append(s.tied(f"scheduler = {schedule}", *schedule_keys))
    heads = [TASKS[t].label for t in tasks if not TASKS[t].regression]
    whose = (
        f"the {' and '.join(heads)} heads'" if len(heads) > 1 else f"the {heads[0]} head's" if heads else ""
    )
    if heads:
        lines.append(f"cross_entropy = nn.CrossEntropyLoss()  # {whose} loss")
    if "angle" in tasks:
        lines.append("mse = nn.MSELoss()  # the angle head's loss, in degrees²")
    return "\n".join(lines)


def starts_cell(s: Sliders, cfg: MultiTaskConfig) -> str:
    """The cell that measures each loss at the start, when the losses are normalised."""
    setup = SETUPS.get(cfg.model.setup)
    inputs = ["images", *([ALPHABET_INPUT] if setup.alphabet_input else [])]
    batch = ", ".join([*inputs, *(TARGET[t] for t in setup.tasks)])
    measured = "\n".join(f"    {t}_start = {head_loss(t, f'{t}_out', TARGET[t])}.item()" for t in setup.tasks)
    shown = ", ".join(f"{TASKS[t].label} {{{t}_start:.4g}}" for t in setup.tasks)
    why = (
        f"Before weighting ({slider_note(s, 'loss.normalise')}): each loss is divided by its value at the "
        f"start, measured once with the initial weights on the first {NORMALISER_IMAGES} training images, "
        "so that every head starts at 1 whatever its unit."
    )
    return f"""\
{comment(why)}
model.eval()
with torch.no_grad():
    {batch} = train_set[:{NORMALISER_IMAGES}]
    {outputs(setup.tasks)} = {model_call(setup.alphabet_input, *inputs[:1], ALPHABET_INPUT)}
{measured}
print(f"the losses at the start: {shown}")"""


def weighted_sum(s: Sliders, cfg: MultiTaskConfig) -> str:
    """`loss = 2.0 * char_loss + 1.0 * alphabet_loss`, tied to its weight sliders: a weight's change
    marks this line."""
    tasks = SETUPS.get(cfg.model.setup).tasks
    start = cfg.loss.normalise == "start"
    keys = [f"loss.{t}" for t in tasks] + (["loss.normalise"] if start else [])
    weights = {t: getattr(cfg.loss, t) for t in tasks}
    if len(tasks) == 1 and weights[tasks[0]] == 1.0 and not start:
        return f"            loss = {tasks[0]}_loss  # one output: its loss is the whole loss"
    terms = " + ".join(f"{weights[t]!r}{f' / {t}_start' if start else ''} * {t}_loss" for t in tasks)
    what = "the weighted sum of the losses" if len(tasks) > 1 else "the loss, weighted"
    return comment(f"{what} ({slider_note(s, *keys)})", 12) + f"\n            loss = {terms}"
