"""Pay torch's first-use costs (lazy imports, first optimizer) once, at start-up."""

from __future__ import annotations

from core.data import Dataset
from core.enginehost import warm_training
from core.gradients import figures


def warm_up(dataset: Dataset | None = None) -> float:
    """Train a tiny model a few steps with every optimizer and draw every figure once.

    Returns the final loss. The first optimizer in a process imports torch._dynamo
    (~1-3 s) and plotly's first figure loads its validators (~0.3 s).
    """
    run = warm_training(dataset)
    figures.loss_curves(run.records, run.evals)
    figures.grad_norm_heatmap(run.records, run.layer_names)
    figures.grad_norm_bars(run.records[-1], run.layer_names)
    figures.activation_stats_chart(run.records[0].activations, 1)
    xs, ys, score = run.predict_grid(resolution=8)
    figures.decision_boundary(xs, ys, score, run.data.x_test.numpy(), run.data.y_test.numpy())
    _warm_images()
    return run.records[-1].loss


def _warm_images() -> None:
    """torchmetrics (~4 s to import cold) and torchvision's v2 transforms, through one tiny CNN step."""
    import torch

    from core.cnn import CNNConfig
    from core.data.images import ImageSet
    from core.images.augment import AugmentConfig
    from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig
    from core.seeding import generator

    x = torch.rand(8, 1, 16, 16, generator=generator(0))  # not from torch's global stream: sessions share it
    y = torch.arange(8) % 2
    images = ImageSet(x, y, x, y, ("a", "b"))
    cfg = ImageRunConfig(
        data=ImageDataConfig(name="warm-up"),
        model=CNNConfig(blocks=1, channels=2, head=0),
        augment=AugmentConfig(hflip=0.5, rotation=10.0),
        train=ImageTrainConfig(batch_size=4, steps=1, eval_every=1),
    )
    ImageRun(cfg, images, torch.device("cpu")).advance(1)
