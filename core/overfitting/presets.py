"""The Overfitting lab's presets: what makes a model overfit (too little data, too much capacity) and
what cures it (more data, dropout, weight decay, early stopping). Each lesson is a measured fact on its
fixed seed; tests/test_lessons_overfitting.py trains them and checks."""

from __future__ import annotations

from core.config import OptimConfig, with_changes
from core.overfitting.config import FitConfig, FitData, FitModel, FitTrain
from core.presets import Preset, by_name

# 50 digits (five of each), two hidden layers of 256: 85,002 weights for 50 examples. Adam at 0.003
# fits them exactly within ~15 epochs; 100 epochs of 2 steps make 200 steps, a story of ~20 s at Normal.
SMALL = FitConfig(
    data=FitData(name="digits"),
    model=FitModel(depth=2, width=256),
    optim=OptimConfig(name="adam", lr=0.003),
    train=FitTrain(examples=50, epochs=100, batch_size=32),
)
MORE_DATA = with_changes(SMALL, train={"examples": 500, "epochs": 60})
FEWER_EPOCHS = with_changes(SMALL, train={"epochs": 60})  # A beside MORE_DATA: the same 60 epochs
DROPOUT = with_changes(SMALL, model={"dropout": 0.5})
DECAY = with_changes(SMALL, optim={"weight_decay": 0.01})
TOO_MUCH_DECAY = with_changes(SMALL, optim={"weight_decay": 0.1})
EARLY_STOP = with_changes(SMALL, train={"patience": 10})
# 30 noisy moons: a 3 x 256 network draws a boundary around every point; 8 units cannot, and do better
MOONS = FitConfig(
    data=FitData(name="moons", noise=0.3),
    model=FitModel(depth=1, width=8),
    optim=OptimConfig(name="adam", lr=0.003),
    train=FitTrain(examples=30, epochs=200, batch_size=32),
)
MOONS_BIG = with_changes(MOONS, model={"depth": 3, "width": 256})

FIT_PRESETS: dict[str, Preset] = by_name(
    Preset(
        "Overfitting: 50 examples, 85,000 weights",
        "Overfitting",
        "Fifty digits and a network with 1,700 weights per example: the training loss falls to almost 0, "
        "the validation loss stops falling after about 15 epochs and then climbs. The shaded gap between "
        "them is what the model learned about these 50 images that is not true of digits.",
        SMALL,
    ),
    Preset(
        "More data: 50 against 500 examples",
        "More data",
        "The same network for the same 60 epochs on 50 (A) and on 500 (B) training examples: with ten "
        "times the data the gap is a fraction of A's and the validation loss ends far lower.",
        FEWER_EPOCHS,
        MORE_DATA,
    ),
    Preset(
        "Capacity: 8 units against 3 x 256 on 30 points",
        "Capacity",
        "Thirty noisy moons. A's 8 units draw a smooth boundary; B's three layers of 256 bend it around "
        "every training point: B's training loss reaches 0 and its validation loss ends several times A's.",
        MOONS,
        MOONS_BIG,
    ),
    Preset(
        "Dropout: the same network with p = 0.5",
        "Dropout",
        "Dropout zeroes half of each hidden layer's units on every training step (never in eval mode): "
        "the network cannot lean on any one unit, the best validation epoch comes later and its "
        "validation loss is lower than without dropout.",
        SMALL,
        DROPOUT,
    ),
    Preset(
        "Weight decay 0.01: smaller weights, a smaller gap",
        "Weight decay",
        "Weight decay adds 0.01 x w to every gradient, pulling each weight towards 0: B's weights end at "
        "less than half A's norm and its gap between validation and training loss is smaller.",
        SMALL,
        DECAY,
    ),
    Preset(
        "Too much weight decay (0.1): underfitting",
        "Too much decay",
        "Weight decay 0.1 pulls the weights towards 0 harder than the data can push them: training and "
        "validation loss both stay high (near 1.8; a blind guess scores ln 10 ≈ 2.3) with almost no gap "
        "between them, and accuracy stays below a third. The model underfits: regularisation has a right "
        "amount.",
        TOO_MUCH_DECAY,
    ),
    Preset(
        "Early stopping: patience 10",
        "Early stopping",
        "The run watches the validation loss after each epoch and stops when 10 epochs bring no new best; "
        "it then puts back the weights of the best epoch (starred), long before the 100 epochs end.",
        EARLY_STOP,
    ),
)
