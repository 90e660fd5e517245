"""Generated glyphs: font coverage, labels, split, seeds, the angle label, a well-posed task, validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fontTools.ttLib import TTFont
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from core.data import glyphs
from core.data.glyphs import ALPHABETS, STYLES, GlyphConfig, generate, missing_glyphs
from core.errors import ConfigError

ALL_CHARS = tuple(c for chars in ALPHABETS.values() for c in chars)


@pytest.fixture(scope="module")
def data():
    return generate(GlyphConfig())


@pytest.mark.parametrize("font_file", sorted({font for font, _ in STYLES}))
def test_every_offered_character_is_in_the_font_cmap(font_file):
    with TTFont(glyphs.font_dir() / font_file) as font:
        cmap = font.getBestCmap()
    assert [c for c in ALL_CHARS if ord(c) not in cmap] == []
    assert missing_glyphs(glyphs.font_dir() / font_file, ALL_CHARS) == []


@pytest.mark.parametrize("font_file", sorted({font for font, _ in STYLES}))
def test_every_alphabet_renders_real_glyphs_not_empty_boxes(font_file):
    path = glyphs.font_dir() / font_file
    box = torch.from_numpy(glyphs.render_char(path, glyphs.notdef_char(path)))
    assert box.sum() > 20  # the .notdef box itself is drawn, so comparing with it means something
    for alphabet, chars in ALPHABETS.items():
        for char in chars:
            drawn = torch.from_numpy(glyphs.render_char(path, char))
            assert drawn.sum() > 10, (alphabet, char)  # ink, not a blank
            assert (drawn - box).abs().sum() > 0.2 * box.sum(), (alphabet, char)  # not the box
    # and the check does catch what the font lacks: CJK, Thai, the private use area
    private = glyphs.notdef_char(path)
    assert missing_glyphs(path, ["中", "ก", private, "A"]) == ["中", "ก", private]


def test_fonts_are_the_ones_matplotlib_ships():
    import matplotlib

    assert glyphs.font_dir() == Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def test_a_character_the_font_lacks_is_a_config_error(monkeypatch):
    monkeypatch.setitem(ALPHABETS, "Latin", ("中", *ALPHABETS["Latin"][1:]))
    with pytest.raises(ConfigError, match="cannot draw 中"):
        generate(GlyphConfig(per_character=10))


def test_images_and_labels_have_their_shapes_dtypes_and_ranges(data):
    names = tuple(ALPHABETS)[:6]
    assert data.alphabet_names == names and data.n_alphabets == 6 and data.n_chars == 60
    assert data.image_shape == (1, 28, 28)
    assert data.char_names[0] == "Latin A" and data.char_names[-1] == f"Hebrew {ALPHABETS['Hebrew'][-1]}"
    for x, char, alphabet, angle in (
        (data.x_train, data.char_train, data.alphabet_train, data.angle_train),
        (data.x_test, data.char_test, data.alphabet_test, data.angle_test),
    ):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        assert char.dtype == alphabet.dtype == torch.int64 and angle.dtype == torch.float32
        assert len(x) == len(char) == len(alphabet) == len(angle)
        assert x.min().item() >= 0.0 and x.max().item() <= 1.0
        assert char.min().item() >= 0 and char.max().item() < 60
        assert torch.equal(alphabet, data.char_alphabet[char])
        assert angle.abs().max().item() <= 40.0
    # white glyph on black: the border is dark, the ink bright
    assert data.x_train[..., 0, :].mean().item() < 0.1 and data.x_train.amax(dim=(1, 2, 3)).min().item() > 0.5


def test_char_alphabet_maps_each_character_to_its_own_alphabet(data):
    assert data.char_alphabet.tolist() == [a for a in range(6) for _ in range(10)]
    for c, name in enumerate(data.char_names):
        alphabet, char = name.split(" ")
        assert data.alphabet_names[data.char_alphabet[c]] == alphabet
        assert char in ALPHABETS[alphabet]


def test_every_character_is_split_alike(data):
    assert data.counts() == dict.fromkeys(data.alphabet_names, 600)
    assert torch.bincount(data.char_test, minlength=60).tolist() == [15] * 60
    assert torch.bincount(data.char_train, minlength=60).tolist() == [45] * 60
    small = generate(GlyphConfig(n_alphabets=2, size=16, per_character=10, test_fraction=0.9))
    assert torch.bincount(small.char_train, minlength=20).tolist() == [1] * 20
    assert small.image_shape == (1, 16, 16) and small.alphabet_names == ("Latin", "Greek")
    every = generate(GlyphConfig(n_alphabets=len(ALPHABETS), per_character=10))
    assert every.n_chars == len(ALL_CHARS) and every.alphabet_names == tuple(ALPHABETS)


def test_same_seed_same_images_other_seed_other_images():
    cfg = GlyphConfig(n_alphabets=3, per_character=20)
    one, again, other = (
        generate(cfg),
        generate(cfg),
        generate(GlyphConfig(n_alphabets=3, per_character=20, seed=1)),
    )
    assert torch.equal(one.x_train, again.x_train) and torch.equal(one.angle_test, again.angle_test)
    assert torch.equal(one.char_test, again.char_test)
    assert not torch.equal(one.x_train, other.x_train) and not torch.equal(one.angle_train, other.angle_train)


def test_every_sample_differs(data):
    x = data.x_train[data.char_train == 0].flatten(1)
    distance = torch.cdist(x, x)
    assert distance[~torch.eye(len(x), dtype=torch.bool)].min().item() > 0.5


def test_angles_cover_the_range_and_zero_means_upright():
    angle = generate(GlyphConfig(per_character=20, max_angle=30.0)).angle_train
    assert angle.abs().max().item() <= 30.0 and angle.min().item() < -25.0 and angle.max().item() > 25.0
    upright = generate(GlyphConfig(per_character=10, max_angle=0.0, noise=0.0))
    assert upright.angle_train.abs().max().item() == 0.0
    for c in range(upright.n_chars):  # no noise and no rotation: every sample of a character alike
        x = upright.x_train[upright.char_train == c]
        assert torch.allclose(x, x[0].expand_as(x), atol=1e-6)


def test_the_angle_label_is_the_rotation_applied_counter_clockwise():
    """Each noise-free sample matches its upright character turned by +angle by torchvision, not by -angle."""
    upright = generate(GlyphConfig(per_character=10, max_angle=0.0, noise=0.0))
    reference = torch.stack([upright.x_train[upright.char_train == c][0] for c in range(upright.n_chars)])
    turned = generate(GlyphConfig(per_character=10, noise=0.0))
    x, angle = turned.x_train, turned.angle_train
    ref = reference[turned.char_train]
    big = angle.abs() > 15
    pairs = list(zip(ref[big], angle[big].tolist(), strict=True))
    right = torch.stack([TF.rotate(r, a, interpolation=InterpolationMode.BILINEAR) for r, a in pairs])
    wrong = torch.stack([TF.rotate(r, -a, interpolation=InterpolationMode.BILINEAR) for r, a in pairs])
    err_right = (x[big] - right).abs().mean(dim=(1, 2, 3))
    err_wrong = (x[big] - wrong).abs().mean(dim=(1, 2, 3))
    assert len(pairs) > 200 and bool((err_right < err_wrong).all())
    assert err_right.max().item() < 0.03 and err_right.mean().item() < 0.3 * err_wrong.mean().item()


def test_noise_adds_variety_and_no_noise_leaves_a_black_background():
    clean = generate(GlyphConfig(per_character=10, noise=0.0))
    assert clean.x_train[..., :2, :].abs().max().item() == 0.0
    noisy = generate(GlyphConfig(per_character=10, noise=1.0))
    assert noisy.x_train[..., :2, :].std().item() > 0.02


def _lookalike(x: torch.Tensor, max_turn: float, step: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(pairs, self) for upright glyphs x (n, 1, S, S), 1 meaning the same picture.

    pairs[i, j]: the best Dice overlap of glyph i with glyph j turned by up to ±max_turn degrees (in
    steps of `step`) and scaled by 0.85..1.15. Only turns of 0..max_turn are drawn: j turned by -t
    against i is i turned by +t against j, which the symmetric result takes.
    self[i]: glyph i's best overlap with itself turned by 20° or more (1 = its angle cannot be read).
    Glyphs are centred on their centre of mass and blurred a little, so that stroke weight and a pixel
    of misalignment barely matter. Dice of grey images is 2 sum(min(a, b)) / (sum a + sum b); cut into
    four levels, min(a, b) is the mean over levels of the product of their masks: one matrix product.
    """
    n, side = len(x), x.shape[-1]
    axis = (torch.arange(side) + 0.5) * (2.0 / side) - 1.0
    weight = x[:, 0] / x.sum(dim=(1, 2, 3))[:, None, None]  # (n, S, S) summing to 1
    centre = torch.stack([(weight.sum(1) * axis).sum(-1), (weight.sum(2) * axis).sum(-1)], 1)  # (n, 2) x, y
    shift = torch.cat([torch.eye(2).expand(n, 2, 2), centre[:, :, None]], 2)
    x = F.grid_sample(x, F.affine_grid(shift, list(x.shape), align_corners=False), align_corners=False)
    x = F.avg_pool2d(x, 3, 1, 1).transpose(0, 1)  # (1, n, S, S): every glyph a channel of one image
    levels = torch.tensor([0.125, 0.375, 0.625, 0.875])[:, None, None, None]

    def mask(images):  # (n, 4 * S * S) 0/1: the blurred ink above each level
        return (images > levels).transpose(0, 1).reshape(n, -1).float()

    upright = mask(x[0])
    pairs, self_ = torch.zeros(n, n), torch.zeros(n)
    for scale in (0.85, 1.0, 1.15):
        for turn in torch.arange(0.0, max_turn + 1e-3, step).tolist():
            cos, sin = math.cos(math.radians(turn)) / scale, math.sin(math.radians(turn)) / scale
            theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
            grid = F.affine_grid(theta, [1, 1, side, side], align_corners=False)  # one grid for all glyphs
            turned = mask(F.grid_sample(x, grid, align_corners=False)[0])
            dice = 2 * upright @ turned.T / (upright.sum(1)[:, None] + turned.sum(1)[None, :])
            pairs = torch.maximum(pairs, dice)
            if turn >= 20:
                self_ = torch.maximum(self_, dice.diagonal())
    pairs.fill_diagonal_(0.0)
    return torch.maximum(pairs, pairs.T), self_


def test_no_two_characters_look_alike_and_every_angle_can_be_read():
    """The task is well posed: even with two glyphs turned by the largest max_angle allowed, ±45° (so 90°
    apart), and scaled, no two offered characters overlap as much as near twins do, and none looks
    like itself turned."""
    twins = ("L", "Լ"), ("V", "ⴸ"), ("Γ", "Г"), ("J", "յ")  # Latin/Armenian, Latin/Tifinagh, Greek/Cyrillic
    probes = ("O", "ⵙ")  # a ring and a ringed dot: their angle cannot be read
    chars = ALL_CHARS + tuple(c for pair in twins for c in pair) + probes
    upright = glyphs.templates(chars, 48)[0, :, None]  # (n, 1, 48, 48) the regular weight
    pairs, self_ = _lookalike(upright, 90.0)
    k = len(ALL_CHARS)
    worst = pairs[:k, :k].max().item()
    assert worst < 0.9, [(ALL_CHARS[i], ALL_CHARS[j]) for i, j in (pairs[:k, :k] == worst).nonzero().tolist()]
    for t in range(len(twins)):
        assert pairs[k + 2 * t, k + 2 * t + 1].item() > 0.92, twins[t]
    assert self_[:k].max().item() < 0.9, ALL_CHARS[int(self_[:k].argmax())]
    assert self_[-2:].min().item() > 0.92  # and the measure does see an unreadable angle


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_alphabets": 1}, "number of alphabets"),
        ({"n_alphabets": 9}, "from 2 to 8"),
        ({"n_alphabets": True}, "number of alphabets"),
        ({"per_character": 5}, "samples per character"),
        ({"per_character": 10.5}, "samples per character"),
        ({"size": 8}, "image size"),
        ({"noise": 1.5}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"max_angle": 60.0}, "largest rotation"),
        ({"max_angle": -1.0}, "largest rotation"),
        ({"test_fraction": 0.0}, "test fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_give_one_readable_sentence(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        generate(GlyphConfig(**change))
    text = str(info.value)
    assert text.endswith(".") and text.count(". ") == 0


def test_to_moves_every_tensor_and_keeps_the_names(data):
    moved = data.to(torch.device("cpu"))
    assert torch.equal(moved.x_test, data.x_test) and torch.equal(moved.char_alphabet, data.char_alphabet)
    assert moved.char_names == data.char_names and moved.max_angle == data.max_angle
