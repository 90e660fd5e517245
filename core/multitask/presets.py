"""The lab's named setups: each compares A and B, which differ in one idea, on the same seed and batches."""

from __future__ import annotations

import dataclasses

from core.multitask.config import LossConfig, MTTrainConfig, MultiTaskConfig, NetConfig
from core.presets import Preset, by_name

DEFAULT = MultiTaskConfig()  # image -> character and alphabet, weights 1 : 1, raw losses, Adam 0.003

EQUAL = DEFAULT
CHAR_2X = dataclasses.replace(DEFAULT, loss=LossConfig(char=2.0, alphabet=1.0))

_ANGLE = dataclasses.replace(
    DEFAULT, model=NetConfig(setup="angle_alphabet"), train=MTTrainConfig(steps=100)
)  # 100 steps: unnormalised, the alphabet head is still at chance; normalised, it is half right
RAW_MSE = dataclasses.replace(_ANGLE, loss=LossConfig(normalise="none"))
NORMALISED_MSE = dataclasses.replace(_ANGLE, loss=LossConfig(normalise="start"))

IMAGE_ONLY = dataclasses.replace(DEFAULT, model=NetConfig(setup="char"))
WITH_ALPHABET = dataclasses.replace(DEFAULT, model=NetConfig(setup="char_given_alphabet"))

MULTITASK_PRESETS: dict[str, Preset] = by_name(
    Preset(
        "Character weighted 2×",
        "Character 2×",
        "One model, two heads (character and alphabet), weighted 1 : 1 in A and 2 : 1 in B: B's "
        "character accuracy ends a few points higher, its alphabet accuracy no higher. The weights split "
        "what the shared layers learn between the tasks; the Trade-off tab sweeps them.",
        EQUAL,
        CHAR_2X,
    ),
    Preset(
        "Unnormalised MSE drowns the classifier",
        "MSE drowns",
        "The angle's MSE (in degrees², about 500 at the start) beside the alphabet's cross-entropy "
        "(about 1.8): added raw in A, the angle's gradient rules the shared layers and the alphabet head "
        "stays near chance (1 in 6). B divides each loss by its value at the start, so both begin at 1: "
        "B learns the alphabet, at the price of a slower angle.",
        RAW_MSE,
        NORMALISED_MSE,
    ),
    Preset(
        "The alphabet as an input helps",
        "Alphabet as input",
        "A reads the image only; B also reads the alphabet as a one-hot vector, joined to the image "
        "features before the head. Told the alphabet, B only has to tell ten characters apart, not 60: "
        "it leaves chance sooner and stays ahead of A to the end.",
        IMAGE_ONLY,
        WITH_ALPHABET,
    ),
)
