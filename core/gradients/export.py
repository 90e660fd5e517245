"""The Gradients lab's setup as course-style PyTorch code that reproduces the app's run (the pieces and
the reproduction contract are core.export.mlp's).

`script(cfg)` writes a short, self-contained training script (torch, the standard library and pandas
only); `bundle(cfg, dataset)` zips it with the data it reads, a notebook of the same cells and a
README; `highlight(old, new)` names the script lines a change of settings touched.
"""

from __future__ import annotations

import json

from core import export
from core.config import RunConfig, to_values
from core.data import Dataset
from core.export import LOSS_FILE, mlp
from core.export.mlp import DATA_FILE

__all__ = ["DATA_FILE", "LOSS_FILE", "bundle", "changes", "highlight", "notebook", "script"]

RUN = """\
# Train, then evaluate on the test set
{steps}
losses = train(model, optimizer, scheduler, run_steps)
{losses_file}
accuracy = test_accuracy(model)
print(f"{{len(losses)}} steps, last training loss {{losses[-1]:.4f}}, test accuracy {{accuracy:.0%}}")"""


def cells(cfg: RunConfig, dataset: Dataset | None = None, notebook: bool = False) -> list[str]:
    """The script's parts in order, one notebook cell each (the notebook sets its steps in a line of
    code where the script reads --steps)."""
    s = mlp.sliders(cfg)
    return [
        mlp.imports(),
        mlp.settings(s, cfg, mlp.shape(dataset)),
        mlp.DATA,
        mlp.model(s, cfg),
        mlp.init(s, cfg),
        mlp.optimizer(s, cfg),
        mlp.train(s, cfg),
        RUN.format(steps=mlp.run_steps(notebook), losses_file=mlp.losses_file()),
    ]


def script(cfg: RunConfig, dataset: Dataset | None = None) -> str:
    """The setup as one course-style Python script. Without a dataset its shape is the default data's
    (2 features, 2 classes), which is what the page shows before the data are loaded."""
    doc = (
        f"Gradients lab, as PyTorch code: a multi-layer perceptron on the {cfg.data.name} data.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes its training loss per step to\n"
        f"{LOSS_FILE}; on the CPU with one thread (OMP_NUM_THREADS=1) these equal the app's, bit for bit."
    )
    return export.join(doc, cells(cfg, dataset))


def notebook(cfg: RunConfig, dataset: Dataset) -> str:
    """The script's cells as a Jupyter notebook."""
    title = f"Gradients lab: {cfg.model.depth} x {cfg.model.width} MLP"
    return export.notebook(title, cells(cfg, dataset, notebook=True))


def readme(cfg: RunConfig) -> str:
    return f"""\
# Gradients lab: this setup as PyTorch code

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
app's training and test rows, already standardised; `split` says which), `settings.json` (the app's
settings, as its link carries them).

{export.reproduction(f"all {cfg.train.steps} steps", "the losses")}
"""


def bundle(cfg: RunConfig, dataset: Dataset) -> bytes:
    """A zip of data.csv, train.py, train.ipynb, README.md and settings.json."""
    return export.bundle(
        {
            DATA_FILE: mlp.data_csv(dataset),
            "train.py": script(cfg, dataset),
            "train.ipynb": notebook(cfg, dataset),
            "README.md": readme(cfg),
            "settings.json": json.dumps(to_values(cfg), indent=1),
        }
    )


def highlight(old: RunConfig, new: RunConfig, dataset: Dataset | None = None) -> set[int]:
    """The 1-based numbers of the lines of script(new) that differ from script(old)."""
    return export.highlight(script(old, dataset), script(new, dataset))


def changes(old: RunConfig, new: RunConfig) -> list[str]:
    """What changed, in the sidebar's words: ["Hidden layers 4 → 6"]."""
    return mlp.sliders(new).changes(to_values(old))
