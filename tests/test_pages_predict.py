"""The Predict page through AppTest: the built-in model, one photo, a batch, bad files, checkpoints."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.images import builtin
from tests.apptest import chart_texts, click, open_page
from tests.apptest import runs as lab_runs
from tests.badfiles import bad_images, encode, odd_mode_images
from tests.test_predict import digit_photo, refused_checkpoints

FILES = "pred:files"
ONE_SENTENCE = re.compile(r"The (file|image) '[^']+' (?:(?![.!?]\s+[A-Z]).)*[.]")  # no second sentence


def explain(data: bytes) -> str:
    """The key of the Grad-CAM class picker of an image: by its content, not its name."""
    return f"pred:explain:{hashlib.sha256(data).hexdigest()}"


def open_predict() -> AppTest:
    return open_page("pages/predict.py")


def shown(markdown: str) -> str:
    """Markdown as the page shows it: each backslash escape becomes the character it escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(elements) -> str:
    return " ".join(shown(str(e.value)) for e in elements)


def upload(at: AppTest, files: list[tuple[str, bytes]], key: str = FILES) -> AppTest:
    at.file_uploader(key=key).set_value([(name, data, "application/octet-stream") for name, data in files])
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_page_opens_with_the_builtin_model_and_states_its_accuracy():
    at = open_predict()
    assert at.radio(key="pred:model").value == "builtin" and not at.error
    accuracy = builtin.load().test_accuracy
    assert f"Test accuracy **{accuracy:.1%}** on {builtin.HELD_OUT}" in texts(at.markdown)
    assert "Upload an image" in texts(at.info)
    assert at.toggle(key="pred:digits:builtin").value  # a 1x28x28 model: the MNIST steps


def test_a_photo_of_a_digit_shows_its_steps_its_top_classes_and_its_heatmap():
    at = upload(open_predict(), [("IMG_2041.jpg", digit_photo(3))])
    assert "'IMG_2041.jpg': the model says **3**" in texts(at.subheader)
    assert not at.error
    captions = texts(at.caption)
    assert "600×800, upright" in captions and "centre of mass → middle of 28×28" in captions
    assert "Top 5 classes" in chart_texts(at)[0]
    image_captions = " ".join(str(i.proto) for i in at.get("image"))
    assert "Grad-CAM over your image" in image_captions and "conv 2 (after pooling)" in image_captions
    at.selectbox(key=explain(digit_photo(3))).set_value("8").run()  # why not an 8?
    assert not at.exception and "raised the score of '8'" in texts(at.caption)
    assert not at.warning  # a clear digit: no doubt about the answer


def test_grad_cam_explains_each_new_drawing_not_the_last_one():
    """Every drawing is named drawing.png: the class chosen for one must not stick to the next."""
    three, seven = digit_photo(3), digit_photo(7, seed=7)
    at = upload(open_predict(), [("drawing.png", three)])
    at.selectbox(key=explain(three)).set_value("8").run()
    assert "raised the score of '8'" in texts(at.caption)
    upload(at, [("drawing.png", seven)])
    assert "'drawing.png': the model says **7**" in texts(at.subheader)
    assert at.selectbox(key=explain(seven)).value == "7"  # the new drawing's own top class
    assert "raised the score of '7'" in texts(at.caption)


def test_noise_is_said_to_be_probably_no_digit():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    at = upload(open_predict(), [("noise.png", encode(Image.fromarray(noise), "PNG"))])
    assert "'noise.png': the model says" in texts(at.subheader)
    (warning,) = at.warning
    sentence = shown(warning.value)
    assert sentence.startswith("The model is unsure: its top answer, ")
    assert "nearer a blind guess (10%) than certainty. This may not be a digit at all." in sentence


def test_many_images_give_a_table_to_download_and_one_to_look_closer_at():
    at = upload(open_predict(), [(f"digit-{d}.jpg", digit_photo(d, seed=d)) for d in (2, 5, 7)])
    table = at.dataframe[0].value
    assert table["file"].tolist() == ["digit-2.jpg", "digit-5.jpg", "digit-7.jpg"]
    assert table["top class"].tolist() == ["2", "5", "7"]
    assert "Predictions for 3 images" in texts(at.subheader)
    assert any("Download the table (CSV)" in str(b.proto) for b in at.get("download_button"))
    at.selectbox(key="pred:pick").set_value(2).run()
    assert "'digit-7.jpg': the model says **7**" in texts(at.subheader)


def test_every_bad_file_gets_its_sentence_and_the_session_keeps_its_runs_and_results():
    small = {"data.name": "shapes", "data.per_class": "20", "data.size": "16", "train.steps": "50",
             "train.eval_every": "25", "a.model.channels": "4"}  # fmt: skip
    at = click(open_page("pages/images.py", small), "Play")
    runs = dict(lab_runs(at, "img"))
    assert runs["A"].done and runs["A"].step == 50
    at.switch_page("pages/predict.py")
    at.run()
    assert at.radio(key="pred:model").value == "lab:A"  # the session's trained CNN comes first
    good = [("digit.jpg", digit_photo(4))]
    upload(at, good + [(name, data) for name, data, _ in bad_images()] + odd_mode_images())
    errors = [shown(e.value) for e in at.error]
    for name, _, fragment in bad_images():
        mine = [e for e in errors if f"'{name}'" in e]
        assert len(mine) == 1 and fragment in mine[0], (name, mine)
        assert ONE_SENTENCE.fullmatch(mine[0]) and "Traceback" not in mine[0]
    table = at.dataframe[0].value
    assert table["file"].tolist() == [name for name, _ in good + odd_mode_images()]
    notes = texts(at.info)
    for fragment in (
        "'animated.gif' is animated",
        "'grey16.png' has more than 8 bits",
        "'cmyk.jpg' is in CMYK",
    ):
        assert fragment in notes
    assert lab_runs(at, "img") == runs and runs["A"].step == 50  # the lab's runs, untouched


def test_checkpoints_of_another_kind_are_refused_and_a_good_one_predicts():
    at = open_predict()
    at.radio(key="pred:model").set_value("upload").run()
    assert "Upload a checkpoint" in texts(at.info)
    model = at.radio(key="pred:model")  # a browser that rebuilds the radio falls back on the choice
    assert model.options[model.proto.default] == "A checkpoint file"
    upload(at, [("digit.jpg", digit_photo(1))])
    for name, data, fragment in refused_checkpoints():
        upload(at, [(name, data)], key="pred:checkpoint")
        (error,) = at.error
        assert f"The file '{name}'" in shown(error.value) and fragment in shown(error.value)
        assert at.file_uploader(key=FILES).value  # the images stay
    upload(at, [("mnist-cnn.pt", builtin.PATH.read_bytes())], key="pred:checkpoint")
    assert not at.error and "'digit.jpg': the model says" in texts(at.subheader)
    assert "The checkpoint 'mnist-cnn.pt'" in texts(at.markdown)


def test_a_camera_photo_joins_the_uploads():
    at = upload(open_predict(), [("digit-2.jpg", digit_photo(2, seed=2))])
    at.toggle(key="pred:camera_on").set_value(True).run()
    at.camera_input(key="pred:camera").set_value(("shot.jpg", digit_photo(5, seed=5), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["file"].tolist() == ["digit-2.jpg", "camera.jpg"]
    assert at.dataframe[0].value["top class"].tolist() == ["2", "5"]
