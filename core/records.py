"""What a run reports: plain floats, strings and dicts, never tensors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActivationStats:
    """One hidden layer's outputs on one training batch."""

    mean: float
    std: float
    dead: float  # share of units that output exactly 0 for every example of the batch
    saturated: float  # share of outputs in the activation's flat region (sigmoid, tanh)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One optimizer step."""

    step: int  # 1-based: the step that produced this record
    loss: float  # training loss on this step's batch, before the update
    lr: float  # learning rate used by this step
    grad_norms: dict[str, float]  # layer name -> L2 norm of its parameters' gradients, pre-clip
    grad_norm_total: float  # L2 norm over all parameters, pre-clip
    clipped: bool  # True when gradient clipping scaled this step's gradient down
    activations: dict[str, ActivationStats] | None  # sampled every probe_every steps, else None


@dataclass(frozen=True, slots=True)
class EvalRecord:
    """Loss and accuracy on the whole train and test sets, model in eval mode."""

    step: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
