"""The CNN builder: its layer table against the shape formula and the real model, validation, seeding."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from core.cnn import CNN, MAX_CHANNELS, CNNConfig, build_cnn, layer_table, parameter_count
from core.errors import ConfigError

IMAGES = [(1, 28, 28), (3, 16, 16), (3, 17, 15), (1, 9, 9)]  # grey and RGB, odd and non-square sides


def expected_rows(cfg: CNNConfig, image_shape, n_classes):
    """(name, shape) of every row by the textbook formula, or None where a map would vanish.

    Stride-1 conv: out = in + 2 * padding - kernel + 1; 2x2 pooling: out = floor(in / 2).
    """
    c, h, w = image_shape
    rows = []
    for i in range(1, cfg.blocks + 1):
        c = min(cfg.channels * 2 ** (i - 1), MAX_CHANNELS)
        h, w = h + 2 * cfg.padding - cfg.kernel + 1, w + 2 * cfg.padding - cfg.kernel + 1
        if h < 1 or w < 1:
            return None
        rows.append((f"conv {i}", (c, h, w)))
        if cfg.batchnorm:
            rows.append((f"bn {i}", (c, h, w)))
        rows.append((f"act {i}", (c, h, w)))
        if cfg.pool != "none":
            if h < 2 or w < 2:
                return None
            h, w = h // 2, w // 2
            rows.append((f"pool {i}", (c, h, w)))
    features = c * h * w
    rows.append(("flatten", (features,)))
    if cfg.head:
        rows.append(("dense", (cfg.head,)))
    rows.append(("output", (n_classes,)))
    return rows


def row_modules(model: CNN) -> dict[str, nn.Module]:
    """Table row name -> the module whose output that row describes (flatten is checked apart)."""
    out = {}
    for i, block in enumerate(model.blocks, start=1):
        for part, module in block.named_children():
            out[f"{part} {i}"] = module
    if model.dense is not None:
        out["dense"] = model.dense
    out["output"] = model.output
    return out


def real_shapes(model: CNN, image_shape) -> dict[str, tuple[int, ...]]:
    """Row name -> output shape of one image, recorded with forward hooks on a real forward pass."""
    shapes = {}
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
        for name, module in row_modules(model).items()
    ]
    try:
        model.eval()
        x = torch.rand(2, *image_shape)  # (2, C, H, W)
        with torch.no_grad():
            shapes["flatten"] = tuple(model.features(x).shape[1:])
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@pytest.mark.parametrize("image_shape", IMAGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("pool", ["max", "avg", "none"])
def test_table_follows_the_formula_and_the_real_model_or_refuses(image_shape, pool):
    possible = 0
    for blocks, kernel, padding in itertools.product(range(1, 5), (1, 3, 5, 7), (0, 1, 3)):
        cfg = CNNConfig(blocks=blocks, channels=2, kernel=kernel, padding=padding, pool=pool, head=8)
        expected = expected_rows(cfg, image_shape, 5)
        label = f"{blocks} blocks, kernel {kernel}, padding {padding}"
        if expected is None:
            with pytest.raises(ConfigError, match=r"^Block \d's .*\.$"):
                layer_table(cfg, image_shape, 5)
            with pytest.raises(ConfigError):
                build_cnn(cfg, image_shape, 5, seed=0)
            continue
        rows = layer_table(cfg, image_shape, 5)
        assert [(r.name, r.shape) for r in rows] == expected, label
        model = build_cnn(cfg, image_shape, 5, seed=0)
        real = real_shapes(model, image_shape)
        assert {r.name: r.shape for r in rows} == real, label
        possible += 1
    assert possible, "every setting was refused"


@pytest.mark.parametrize(
    "cfg",
    [
        CNNConfig(),
        CNNConfig(blocks=1, batchnorm=True, head=0),
        CNNConfig(blocks=3, channels=5, kernel=5, padding=2, pool="avg", batchnorm=True, activation="tanh"),
        CNNConfig(blocks=4, channels=64, kernel=1, padding=0, dropout=0.5, head=128),  # capped at 128
        CNNConfig(blocks=2, kernel=7, padding=3, pool="none", activation="gelu", head=0),
    ],
    ids=["default", "one-block-bn", "three-avg-bn", "four-capped", "no-pool"],
)
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)], ids=["grey", "rgb"])
def test_parameter_counts_equal_the_models_own(cfg, image_shape):
    rows = layer_table(cfg, image_shape, 10)
    model = build_cnn(cfg, image_shape, 10, seed=0)
    modules = row_modules(model)
    for row in rows:
        own = sum(p.numel() for p in modules[row.name].parameters()) if row.name in modules else 0
        assert row.params == own, row.name
    total = sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in rows) == total == parameter_count(model)
    assert {r.name: r.shape for r in rows} == real_shapes(model, image_shape)


def test_conv_row_counts_by_hand():
    rows = {r.name: r for r in layer_table(CNNConfig(channels=16, kernel=3, batchnorm=True), (3, 28, 28), 10)}
    assert rows["conv 1"].params == 16 * 3 * 3 * 3 + 16  # 448
    assert rows["bn 1"].params == 2 * 16
    assert rows["conv 2"].params == 32 * 16 * 3 * 3 + 32  # 4,640
    assert rows["flatten"].shape == (32 * 7 * 7,)  # 28 -> pool 14 -> pool 7
    assert rows["dense"].params == 32 * 7 * 7 * 64 + 64
    assert rows["output"].params == 64 * 10 + 10
    assert rows["conv 1"].kind == "Conv2d 3->16, 3x3, pad 1"
    assert rows["pool 1"].kind == "MaxPool2d 2x2"


def test_four_blocks_of_7x7_without_padding_on_16x16_is_a_sentence_not_a_crash():
    cfg = CNNConfig(blocks=4, kernel=7, padding=0)
    with pytest.raises(ConfigError) as err:
        layer_table(cfg, (3, 16, 16), 8)
    message = str(err.value)
    # 16 -> conv 10 -> pool 5 -> the second 7x7 kernel does not fit
    assert message == (
        "Block 2's 7x7 kernel does not fit its 5x5 input with padding 0: use fewer blocks, "
        "a smaller kernel, more padding or no pooling."
    )
    with pytest.raises(ConfigError, match="Block 2's 7x7 kernel"):
        CNN(cfg, (3, 16, 16), 8, seed=0)


def test_pooling_a_one_pixel_map_is_refused():
    with pytest.raises(ConfigError, match=r"^Block 3's pooling would shrink a 1x1 map below one pixel"):
        layer_table(CNNConfig(blocks=3, kernel=1, padding=0), (1, 4, 4), 2)  # 4 -> 2 -> 1 -> pool?


def test_too_many_features_for_the_head_is_refused():
    cfg = CNNConfig(blocks=4, channels=128, kernel=1, padding=3, pool="none")  # 28 -> 34 -> 40 -> 46 -> 52
    with pytest.raises(ConfigError, match=r"leave 346,112 features for the head, too many"):
        layer_table(cfg, (1, 28, 28), 10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("blocks", 0, "A CNN here has 1 to 4 conv blocks, not 0."),
        ("blocks", 5, "A CNN here has 1 to 4 conv blocks, not 5."),
        ("channels", 0, "The first block's channels must be from 1 to 128, not 0."),
        ("channels", 129, "The first block's channels must be from 1 to 128, not 129."),
        ("kernel", 2, "The kernel size must be 1, 3, 5 or 7, not 2."),
        ("kernel", 9, "The kernel size must be 1, 3, 5 or 7, not 9."),
        ("padding", -1, "The padding must be from 0 to 3 pixels, not -1."),
        ("padding", 4, "The padding must be from 0 to 3 pixels, not 4."),
        ("pool", "min", "Pooling must be one of max, avg, none, not 'min'."),
        ("dropout", -0.1, "Dropout must be between 0 and 0.9, not -0.1."),
        ("dropout", 0.95, "Dropout must be between 0 and 0.9, not 0.95."),
        ("head", -1, "The head's hidden units must be from 0 to 1024, not -1."),
        ("head", 1025, "The head's hidden units must be from 0 to 1024, not 1025."),
        ("activation", "swish", "Unknown activation 'swish'. Valid names: sigmoid, tanh, relu,"),
        ("init", "ones", "Unknown initializer 'ones'. Valid names: default, zeros,"),
    ],
)
def test_every_bad_field_gets_its_sentence(field, value, message):
    cfg = CNNConfig(**{field: value})
    for make in (
        lambda: layer_table(cfg, (1, 28, 28), 10),
        lambda: build_cnn(cfg, (1, 28, 28), 10, seed=0),
    ):
        with pytest.raises(ConfigError) as err:
            make()
        assert str(err.value).startswith(message) and str(err.value).endswith(".")


def test_same_seed_same_weights_other_seed_other_weights():
    cfg = CNNConfig(batchnorm=True)
    a, b = (build_cnn(cfg, (3, 16, 16), 8, seed=3) for _ in range(2))
    c = build_cnn(cfg, (3, 16, 16), 8, seed=4)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.blocks[0].conv.weight, c.blocks[0].conv.weight)
    assert not torch.equal(a.output[-1].weight, c.output[-1].weight)


def test_building_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    build_cnn(CNNConfig(), (1, 28, 28), 10, seed=0)
    assert torch.equal(torch.rand(3), expected)


def _weighted(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def test_zeros_init_zeroes_every_conv_and_linear_layer():
    model = build_cnn(CNNConfig(init="zeros"), (3, 16, 16), 8, seed=0)
    layers = _weighted(model)
    assert (
        sum(isinstance(m, nn.Conv2d) for m in layers) == 2
        and sum(isinstance(m, nn.Linear) for m in layers) == 2
    )
    for m in layers:
        assert m.weight.abs().sum().item() == 0 and m.bias.abs().sum().item() == 0


def test_initializers_set_the_conv_weights_they_promise():
    normal = build_cnn(CNNConfig(init="normal", channels=64), (3, 28, 28), 10, seed=0)
    w = normal.blocks[1].conv.weight  # 128 x 64 x 3 x 3 = 73,728 draws
    assert abs(w.std().item() - 0.1) < 0.005 and abs(w.mean().item()) < 0.005  # InitParams.std
    uniform = build_cnn(CNNConfig(init="uniform"), (3, 28, 28), 10, seed=0)
    for m in _weighted(uniform):
        assert m.weight.min().item() >= -0.1 and m.weight.max().item() <= 0.1
        assert m.bias.abs().sum().item() == 0
    kaiming = build_cnn(CNNConfig(init="kaiming_normal", channels=64), (3, 28, 28), 10, seed=0)
    fan_in = 64 * 3 * 3
    std = kaiming.blocks[1].conv.weight.std().item()
    assert abs(std - (2 / fan_in) ** 0.5) < 0.05 * (2 / fan_in) ** 0.5  # ReLU gain sqrt(2)
    default = build_cnn(CNNConfig(), (3, 28, 28), 10, seed=0)
    assert default.blocks[0].conv.bias.abs().sum().item() > 0  # PyTorch's own init keeps a bias


def test_layer_and_feature_module_names():
    model = build_cnn(CNNConfig(blocks=3), (1, 28, 28), 10, seed=0)
    assert [name for name, _ in model.layers()] == ["conv 1", "conv 2", "conv 3", "dense", "output"]
    assert [name for name, _ in model.feature_modules()] == [
        "conv 1 (after activation)",
        "conv 1 (after pooling)",
        "conv 2 (after activation)",
        "conv 2 (after pooling)",
        "conv 3 (after activation)",
        "conv 3 (after pooling)",
    ]
    modules = dict(model.feature_modules())
    assert isinstance(modules["conv 2 (after activation)"], nn.ReLU)
    assert isinstance(modules["conv 2 (after pooling)"], nn.MaxPool2d)
    flat = build_cnn(CNNConfig(blocks=2, pool="none", head=0), (1, 28, 28), 10, seed=0)
    assert [name for name, _ in flat.layers()] == ["conv 1", "conv 2", "output"]
    assert [name for name, _ in flat.feature_modules()] == [
        "conv 1 (after activation)",
        "conv 2 (after activation)",
    ]


def test_channels_double_per_block_up_to_the_cap():
    assert CNNConfig(blocks=4, channels=16).block_channels() == [16, 32, 64, 128]
    assert CNNConfig(blocks=4, channels=48).block_channels() == [48, 96, 128, 128]
