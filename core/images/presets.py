"""The Images lab's named setups: each reproduces one lesson in one click."""

from __future__ import annotations

import dataclasses

from core.cnn import CNNConfig
from core.config import OptimConfig
from core.images.augment import AugmentConfig
from core.images.run import ImageDataConfig, ImageRunConfig, ImageTrainConfig
from core.presets import Preset, by_name

DEFAULT = ImageRunConfig()
_SHAPES = ImageDataConfig(name="shapes", per_class=150)

FLIP_OFF = ImageRunConfig(data=_SHAPES)
FLIP_ON = dataclasses.replace(FLIP_OFF, augment=AugmentConfig(hflip=0.5))

ROTATION_OFF = ImageRunConfig()
ROTATION_ON = dataclasses.replace(ROTATION_OFF, augment=AugmentConfig(rotation=180.0))

_PLAIN_SGD = OptimConfig(name="sgd", lr=0.02, momentum=0.0)
_BN_TRAIN = ImageTrainConfig(steps=200)
BN_OFF = ImageRunConfig(model=CNNConfig(batchnorm=False), optim=_PLAIN_SGD, train=_BN_TRAIN)
BN_ON = dataclasses.replace(BN_OFF, model=CNNConfig(batchnorm=True))

SMALL = ImageRunConfig(model=CNNConfig(channels=2, head=16))  # ~3,400 weights
WIDE = ImageRunConfig(model=CNNConfig(channels=24, head=128))  # ~313,000 weights

IMAGE_PRESETS: dict[str, Preset] = by_name(
    Preset(
        "Flipping confuses mirror classes",
        "Flip",
        "The same CNN on the coloured shapes, without and with a random horizontal flip: flipped, a "
        "left arrow becomes a right arrow still labelled 'left', so the mirror classes' recall drops "
        "while the circle, square and triangles stay near perfect.",
        FLIP_OFF,
        FLIP_ON,
    ),
    Preset(
        "Large rotations: a 6 or a 9?",
        "Rotation",
        "MNIST without and with random rotations of up to 180 degrees. A 6 turned upside down looks "
        "like a 9: at most evaluations of the rotated run, 6 and 9 are the pair the confusion matrix "
        "mixes up most (at step 150, about 40 of the 75 test 6s are called 9). By step 300 the network has "
        "begun to tell them apart by their strokes, and its errors have spread over many digits (4 "
        "called 7 above all): every digit at every angle is more to learn, so accuracy ends near 72% "
        "against 95%.",
        ROTATION_OFF,
        ROTATION_ON,
    ),
    Preset(
        "BatchNorm speeds up a CNN",
        "BatchNorm",
        "Plain SGD on MNIST, without and with BatchNorm after each convolution: with it the loss falls "
        "much faster in the same steps.",
        BN_OFF,
        BN_ON,
    ),
    Preset(
        "Small CNN vs wide CNN",
        "Small vs wide",
        "Two and four channels against 24 and 48: the small CNN (about 3,400 weights) learns slowly "
        "and stays below the wide one (about 313,000), which costs more per step.",
        SMALL,
        WIDE,
    ),
)
