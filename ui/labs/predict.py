"""The Predict page's pieces: the model picker, the image sources and the views of one or many images."""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import logging

import numpy as np
import streamlit as st
import torch
from PIL import Image

from core import checkpoint, mosaic
from core.charts import PAPER, PEN
from core.data.catalog import IMAGE_DATASETS
from core.data.imagefiles import FORMAT_LIST, MAX_UPLOAD_BYTES, ImageFileError, PixelBudget, PixelBudgetError
from core.errors import ConfigError, escape_markdown, shorten, spreadsheet_safe
from core.images import builtin
from core.predict import export
from core.predict import predictor as predict
from core.training import Status
from ui.charts import chart
from ui.runs import session_runs

LAB = "pred"
IMAGES_LAB = "img"
MAX_IMAGES = 100  # predicted at once; more are left out with a warning
BUILTIN, UPLOAD = "builtin", "upload"
log = logging.getLogger(__name__)


# ---- the model ---------------------------------------------------------------------------------


def _lab_runs() -> dict[str, object]:
    """The Images lab's runs of this session that have trained and not diverged."""
    runs = session_runs(IMAGES_LAB)
    return {label: run for label, run in runs.items() if run.step > 0 and run.status is not Status.DIVERGED}


def _lab_predictor(label: str, run) -> predict.Predictor:
    name = run.cfg.data.name
    data = IMAGE_DATASETS.get(name).label if name in IMAGE_DATASETS else name
    accuracy = run.report.accuracy if run.report is not None and run.report.step > 0 else None
    source = f"Images lab, configuration {label} ({data}, step {run.step})"
    with run.reading():  # a copy of the weights between two steps: the lab's worker may still train
        model = copy.deepcopy(run.model)
    return predict.Predictor(model, run.images.image_shape, run.class_names, source, accuracy)


def _builtin() -> predict.Predictor:
    """Loaded once per session: a trained model is never shared between sessions."""
    key = f"{LAB}:builtin"
    if key not in st.session_state:
        ckpt = builtin.load()
        st.session_state[key] = predict.from_checkpoint(ckpt, "The built-in digit CNN")
    return st.session_state[key]


def _uploaded_checkpoint() -> predict.Predictor | None:
    file = st.file_uploader(
        "Checkpoint (.pt) downloaded from the Images lab",
        key=f"{LAB}:checkpoint",
        help="Loaded safely: weights only, and the architecture and class names from the app's own metadata.",
    )
    if file is None:
        st.info("Upload a checkpoint, or choose another model.")
        return None
    data = file.getvalue()
    digest = (file.name, hashlib.sha256(data).hexdigest())
    cached = st.session_state.get(f"{LAB}:checkpoint_model")
    if cached is None or cached[0] != digest:  # a rerun reads the same file (or its refusal) once only
        try:
            ckpt = checkpoint.from_bytes(data, f"The file '{shorten(file.name)}'")
            source = f"The checkpoint '{shorten(file.name)}' ({shorten(ckpt.dataset)})"
            cached = (digest, predict.from_checkpoint(ckpt, source), None)
        except ConfigError as err:  # CheckpointError included: one sentence naming the file
            cached = (digest, None, str(err))
        st.session_state[f"{LAB}:checkpoint_model"] = cached
    _, predictor, refusal = cached
    if refusal:
        st.error(escape_markdown(refusal))
    return predictor


def choose_model() -> predict.Predictor | None:
    """The picker: this session's trained Images-lab runs, a checkpoint file, or the built-in model."""
    runs = _lab_runs()
    options = [f"lab:{label}" for label in runs] + [BUILTIN, UPLOAD]
    names = {f"lab:{label}": f"Images lab: configuration {label}" for label in runs}
    names |= {BUILTIN: "Built-in digit CNN", UPLOAD: "A checkpoint file"}
    key = f"{LAB}:model"
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)  # a run that is gone: back to the default
    # the radio's own default is the model chosen (as ui.controls does for the labs' settings): a browser
    # that builds it anew without its state shows, and sends back, that model, not the first one
    index = options.index(st.session_state[key]) if key in st.session_state else 0
    choice = st.radio("Model", options, index, format_func=names.get, key=key, horizontal=True)
    if not runs:
        st.caption("Train a CNN in the **Images lab** and it appears here too.")
    try:
        if choice == BUILTIN:
            return _builtin()
        if choice == UPLOAD:
            return _uploaded_checkpoint()
        label = choice.removeprefix("lab:")
        return _lab_predictor(label, runs[label])
    except ConfigError as err:
        st.error(escape_markdown(err))
        return None


def describe(predictor: predict.Predictor, is_builtin: bool) -> None:
    """Where the model comes from, its input and its classes (text from a checkpoint, escaped)."""
    c, h, w = predictor.image_shape
    names = predictor.class_names
    shown = ", ".join(shorten(n) for n in names[:12]) + (
        f" and {len(names) - 12} more" if len(names) > 12 else ""
    )
    kind = "grey" if c == 1 else "colour"
    text = (
        f"**{escape_markdown(predictor.source)}**: {c}×{h}×{w} {kind} input; {len(names)} classes: "
        f"{escape_markdown(shown)}."
    )
    if predictor.test_accuracy is not None:
        n_test = builtin.HELD_OUT if is_builtin else "its held-out test images"
        text += f" Test accuracy **{predictor.test_accuracy:.1%}** on {n_test}"
        text += ", measured by `python -m core.images.builtin`, which trained it." if is_builtin else "."
    st.markdown(text)


def digit_steps(predictor: predict.Predictor, choice: str) -> bool:
    """Whether to prepare images like MNIST digits: on by default for 1x28x28 models."""
    if predictor.image_shape[0] != 1:
        return False
    return st.toggle(
        "Prepare like MNIST digits",
        value=predictor.digits,
        key=f"{LAB}:digits:{choice}",
        help="Invert dark ink on light paper, take the paper away, fit the digit into 20x20 pixels and "
        "centre it by its centre of mass in 28x28, as MNIST was made. Switch off for images that are "
        "not digits.",
    )


def draw_code(predictor: predict.Predictor, digits: bool, choice: str) -> None:
    """predict.py: load this model's checkpoint and predict one image with the steps this page shows."""
    with st.expander("PyTorch code: load this model and predict an image", icon=":material/code:"):
        try:
            text = export.script(predictor.model, digits)
        except ValueError:  # a layer the code writer does not know: the page itself still works
            log.info("no predict.py for %s", predictor.source, exc_info=True)
            st.caption("No code for this model.")
            return
        where = {
            BUILTIN: "Download the built-in model below and save it beside the script as model.pt.",
            UPLOAD: "Run it beside the checkpoint you uploaded: python predict.py your-file.pt my_image.png",
        }.get(choice, "Download this run's checkpoint in the Images lab (Evaluation tab), saved as model.pt.")
        st.caption(
            f"{where} On the same image it prints the probabilities this page shows: the same steps, "
            "the same weights."
        )
        st.code(text, language="python", line_numbers=True)
        left, right = st.columns(2)
        left.download_button(
            "Download predict.py", text, "predict.py", "text/x-python", key=f"{LAB}:code-download",
            icon=":material/download:",
        )  # fmt: skip
        if choice == BUILTIN:
            right.download_button(  # its bytes, not a deferred callable: their id is the same in every
                # run of the page, so a click during a rerun (the canvas's first value) still downloads
                "Download the built-in model (model.pt)", builtin_bytes(), "model.pt",
                "application/octet-stream", key=f"{LAB}:builtin-download", icon=":material/download:",
            )  # fmt: skip


@functools.cache
def builtin_bytes() -> bytes:
    """The shipped model's file (427 KB), read once per process."""
    return builtin.PATH.read_bytes()


# ---- the images ---------------------------------------------------------------------------------


def collect_images() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every uploaded image, the camera's photo and the drawing."""
    upload, camera, draw = st.tabs(["Upload", "Camera", "Draw"])
    found = []
    with upload:
        files = st.file_uploader(
            f"Images ({FORMAT_LIST}): one, or many for a table",
            accept_multiple_files=True,
            key=f"{LAB}:files",
            max_upload_size=MAX_UPLOAD_BYTES // 2**20,
            help="Phone photos are turned upright by their EXIF tag.",
        )
        found += [(f.name, f.getvalue()) for f in files or []]
    with camera:
        if st.toggle("Use the camera", key=f"{LAB}:camera_on", help="The browser asks for permission first."):
            shot = st.camera_input("Take a photo", key=f"{LAB}:camera")
            if shot is not None:
                found.append(("camera.jpg", shot.getvalue()))
    with draw:
        drawing = _drawing()
        if drawing is not None:
            found.append(("drawing.png", drawing))
    return found


def _drawing() -> bytes | None:
    """A digit drawn on a canvas (streamlit-drawable-canvas), as PNG bytes; None while it is blank."""
    from streamlit_drawable_canvas import st_canvas

    st.caption("Draw one digit, large, with the mouse or a finger.")
    result = st_canvas(
        stroke_width=22, stroke_color=PEN, background_color=PAPER, height=280, width=280,
        drawing_mode="freedraw", return_image_data=True, key=f"{LAB}:canvas",
    )  # fmt: skip
    if result is None or not (result.json_data or {}).get("objects"):
        return None
    rgba = result.image_data
    if rgba is None:
        return None
    rgba = np.asarray(rgba, dtype=np.float32)
    alpha = rgba[..., 3:4] / 255.0 if rgba.shape[-1] == 4 else 1.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1 - alpha)  # strokes on white paper
    buffer = io.BytesIO()
    Image.fromarray(np.rint(rgb).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def prepare_all(
    images: list[tuple[str, bytes]], predictor: predict.Predictor, digits: bool
) -> tuple[list[predict.Prepared], list[str]]:
    """The readable images, prepared, and one sentence for each one that is not.

    Kept in the session for the images now uploaded only (about 1 MB of pictures each), refusals
    included, so a rerun reads nothing twice; a server-wide cache would hold every student's photos.
    The images newly read pay for their decoded pixels from one budget, as a zip's do.
    """
    if len(images) > MAX_IMAGES:
        st.warning(f"Only the first {MAX_IMAGES} of your {len(images)} images are used.")
        images = images[:MAX_IMAGES]
    kept = st.session_state.get(f"{LAB}:prepared", {})
    now, prepared, errors = {}, [], []
    budget = PixelBudget()
    with st.spinner("Reading the images…"):
        for name, data in images:
            key = (hashlib.sha256(data).hexdigest(), name, tuple(predictor.image_shape), digits)
            if key not in kept:
                kept[key] = _prepared_or_refusal(data, name, predictor, digits, budget)
            now[key] = kept[key]
            if isinstance(now[key], predict.Prepared):
                prepared.append(now[key])
            else:
                errors.append(now[key])
    st.session_state[f"{LAB}:prepared"] = {
        key: value for key, value in now.items() if not isinstance(value, _BudgetRefusal)
    }  # a refusal for the batch's pixels is the batch's, not the image's: asked again next time
    return prepared, errors


class _BudgetRefusal(str):
    """The sentence of an image that the batch's pixel budget could not pay for."""


def _prepared_or_refusal(
    data: bytes, name: str, predictor: predict.Predictor, digits: bool, budget: PixelBudget
) -> predict.Prepared | str:
    try:
        return predict.prepare(data, name, predictor.image_shape, digits, budget)
    except PixelBudgetError as err:
        return _BudgetRefusal(err)
    except ImageFileError as err:
        return str(err)
    except Exception:  # never a stack trace: the server log keeps it
        log.exception("could not prepare %s", shorten(name))
        return f"The image '{shorten(name)}' could not be read."


# ---- the views ----------------------------------------------------------------------------------


def notes(prepared: list[predict.Prepared]) -> None:
    """What was changed in any image (animated, transparent, 16-bit, CMYK, no digit): one box, a line each."""
    lines = [escape_markdown(note) for p in prepared for note in p.notes]
    if lines:
        st.info("\n\n".join(lines))


def batch(prepared: list[predict.Prepared], probs: np.ndarray, predictor: predict.Predictor) -> None:
    table = predict.batch_table([p.name for p in prepared], probs, predictor.class_names)
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={"probability": percent, "second probability": percent},
    )  # fmt: skip
    st.download_button(
        "Download the table (CSV)",
        table.map(spreadsheet_safe).to_csv(index=False).encode(),  # no file or class name becomes a formula
        file_name="predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"{LAB}:csv",
    )


def steps(prepared: predict.Prepared) -> None:
    cols = st.columns(len(prepared.steps))
    for i, (col, step) in enumerate(zip(cols, prepared.steps, strict=True), start=1):
        col.markdown(f"**{i}. {step.title}**")
        col.image(step.picture, width="stretch")
        col.caption(step.caption)


GRAD_CAM = (
    "Grad-CAM (gradient-weighted class activation mapping) asks which feature maps of the last conv "
    "layer raise a class's score, and where in the picture those maps fire: a heatmap of the evidence "
    "for that class."
)


def caution(
    prepared: predict.Prepared, probs: np.ndarray, predictor: predict.Predictor, digits: bool
) -> None:
    """A warning when the answer is probably meaningless (unsure, or no digit-like image)."""
    sentence = predict.doubt(probs, prepared.x, digits, predictor.class_names)
    if sentence:
        st.warning(escape_markdown(sentence), icon=":material/help:")


def answer(prepared: predict.Prepared, probs: np.ndarray, predictor: predict.Predictor) -> None:
    """Top-k bars beside the Grad-CAM heatmap of a class the student picks (the top one first)."""
    top = predict.top_k(probs, predictor.class_names, min(5, len(predictor.class_names)))
    left, right = st.columns([2, 3])
    chart(predict.top_k_bars(top), key=f"{LAB}:topk", where=left)
    with right:
        names = [name for name, _ in predict.top_k(probs, predictor.class_names, len(probs))]
        explain = st.selectbox(
            "Grad-CAM: which pixels raised the score of",
            names,
            key=f"{LAB}:explain:{prepared.digest}",  # by content: every drawing is named drawing.png
            help=GRAD_CAM,
        )  # the most probable class first; any other answers "why not ...?"
        target = predictor.class_names.index(explain if explain in names else names[0])
        try:
            heat = predict.grad_cam(predictor, prepared.x, target)
        except Exception:
            log.exception("Grad-CAM failed")
            st.warning("The Grad-CAM heatmap could not be computed for this model.")
            return
        a, b = st.columns(2)
        a.image(predict.heat_on_photo(prepared, heat), caption="Grad-CAM over your image", width="stretch")
        b.image(predict.heat_on_input(prepared, heat), caption="over what the model saw", width="stretch")
        shown = escape_markdown(shorten(explain))
        if heat.max() <= 0:
            st.caption(f"No region raises the score of '{shown}': the heatmap is empty.")
        else:
            st.caption(
                f"Yellow and red: the pixels whose features raised the score of '{shown}' most (Grad-CAM "
                "at the last conv block, captum's LayerGradCam); dim grey: pixels that did not."
            )


def feature_maps(prepared: predict.Prepared, predictor: predict.Predictor) -> None:
    for name, maps in predictor.model.feature_maps(prepared.x):
        st.image(mosaic.feature_grid(maps, width=720), caption=f"{name}: {maps.shape[0]} maps of "
                 f"{maps.shape[1]}x{maps.shape[2]}")  # fmt: skip


def probabilities(prepared: list[predict.Prepared], predictor: predict.Predictor) -> np.ndarray:
    return predict.probabilities(predictor, torch.stack([p.x for p in prepared]))
