"""The Predict page as code: predict.py loads the checkpoint and gives the page's probabilities.

The built-in digit CNN with the MNIST-style steps and with the plain ones, and a colour CNN with
BatchNorm, average pooling, leaky ReLU and no hidden head on an image with transparent areas: the
script, run beside the checkpoint, must print and write the probabilities the page computes for the
same file, to 1e-6 (both run the same PIL and torch operations).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core import checkpoint
from core.cnn import CNNConfig, build_cnn
from core.images import builtin
from core.predict import export
from core.predict import predictor as predict
from tests.exporting import assert_ruff_clean, run_bundles


def _seven(mode: str = "RGB", fmt: str = "PNG") -> bytes:
    img = Image.new("RGB", (300, 400), "white")
    ImageDraw.Draw(img).line([(60, 80), (240, 80), (120, 340)], fill="black", width=28)
    if mode == "RGBA":  # a transparent frame around the drawing
        img = img.convert("RGBA")
        alpha = Image.new("L", img.size, 0)
        ImageDraw.Draw(alpha).rectangle([20, 20, 280, 380], fill=255)
        img.putalpha(alpha)
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def _colour_predictor() -> tuple[predict.Predictor, bytes]:
    cfg = CNNConfig(blocks=2, channels=4, batchnorm=True, pool="avg", activation="leaky_relu", head=0)
    model = build_cnn(cfg, (3, 32, 32), 3, seed=1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # running statistics that are not the defaults, so eval mode matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    data = checkpoint.to_bytes(model, cfg, (3, 32, 32), ("circle", "square", "triangle"), "shapes", None)
    return predict.from_checkpoint(checkpoint.from_bytes(data), "test"), data


CASES = {
    "digits": (True, "RGB", "PNG"),
    "plain": (False, "RGB", "JPEG"),
    "colour": (False, "RGBA", "PNG"),
}


def _case(name: str) -> tuple[predict.Predictor, bytes, bytes, bool]:
    digits, mode, fmt = CASES[name]
    if name == "colour":
        predictor, model_file = _colour_predictor()
    else:
        predictor = predict.from_checkpoint(builtin.load(), "built-in")
        model_file = builtin.PATH.read_bytes()
    return predictor, model_file, _seven(mode, fmt), digits


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    bundles = {}
    for name in CASES:
        predictor, model_file, image, digits = _case(name)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("train.py", export.script(predictor.model, digits))
            z.writestr("model.pt", model_file)
            z.writestr("image", image)
        bundles[name] = out.getvalue()
    return run_bundles(bundles, ["model.pt", "image"], tmp_path_factory)


@pytest.mark.parametrize("name", list(CASES))
def test_the_script_gives_the_pages_probabilities(scripts, name):
    folder, done = scripts[name]
    assert done.returncode == 0, done.stderr
    predictor, _, image, digits = _case(name)
    prepared = predict.prepare(image, "image", predictor.image_shape, digits)
    page = predict.probabilities(predictor, prepared.x.unsqueeze(0))[0]
    rows = [line.rsplit(",", 1) for line in (folder / export.PROBABILITIES_FILE).read_text().splitlines()]
    assert [r[0] for r in rows] == list(predictor.class_names)
    np.testing.assert_allclose([float(r[1]) for r in rows], page, rtol=0, atol=1e-6)
    best = predictor.class_names[int(page.argmax())]
    assert done.stdout.splitlines()[0].startswith(f"{best}: ")


def test_the_built_in_model_reads_the_seven():
    predictor, _, image, _ = _case("digits")
    prepared = predict.prepare(image, "seven", predictor.image_shape, True)
    assert predict.probabilities(predictor, prepared.x.unsqueeze(0))[0].argmax() == 7


def test_scripts_pass_ruff_and_name_the_checkpoints_layers(tmp_path):
    for name in CASES:
        predictor, _, _, digits = _case(name)
        text = export.script(predictor.model, digits)
        assert_ruff_clean(text, tmp_path)
        assert ("def span(mass):" in text) == digits
        namespace: dict = {}
        model_code = text[text.index("class CNN") : text.index("model = CNN()")]
        exec(
            "import torch\nfrom collections import OrderedDict\nfrom torch import nn\n" + model_code,
            namespace,
        )
        assert namespace["CNN"]().state_dict().keys() == predictor.model.state_dict().keys()


def test_the_page_shows_the_code():
    from tests.apptest import open_page

    at = open_page("pages/predict.py")
    assert not at.exception
    code = [c for c in at.code if "model.load_state_dict" in c.value]
    assert len(code) == 1 and "def span(mass):" in code[0].value  # the built-in model: digit steps
