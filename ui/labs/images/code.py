"""The Images lab's setup as course-style PyTorch code: the CNN, the v2 pipeline, the loop, and the zip."""

from __future__ import annotations

from collections.abc import Mapping

from core.data.images import ImageSet
from core.images import export
from core.images.run import ImageRunConfig
from ui.export import code_pane, per_config
from ui.labs.images.data import LAB


def draw_code(cfgs: Mapping[str, ImageRunConfig], images: ImageSet) -> None:
    """Each configuration as a script that reproduces its run (augmented: the app's draws, v2's kernels)."""
    code_pane(
        LAB,
        per_config(
            cfgs,
            lambda cfg: export.script(cfg, images),
            export.changes,
            lambda cfg: export.bundle(cfg, images),
            lambda label, cfg: f"images-{label.lower()}.zip",
            help=(
                "Run it with OMP_NUM_THREADS=1 on the CPU. Without augmentation, or with one flip or "
                "autocontrast, its losses equal this run's, bit for bit (one rotation: to 1e-6). Other "
                "augmentations take this run's random numbers and v2's kernels, which round the last "
                "digits differently: the same curve, its first steps to 1e-5."
            ),
            no_download=export.too_large(images),
        ),
    )
