"""A lab's setup as PyTorch code on the page: the script, the lines the last change touched, and the zip.

Each lab hands `code_pane` its setups as `Export`s (a setup value that compares equal when nothing
changed, and functions of it from the lab's core `export` module); the pane keeps, per setup label, the
setup it showed and the one before it, so a change stays marked until the next one, and the zip the
student asked for, for as long as the setup stays the same.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core import export
from ui.controls import lab_key

log = logging.getLogger(__name__)
HELP = "Run it with OMP_NUM_THREADS=1 on the CPU: its losses equal this run's, bit for bit."


@dataclass(frozen=True)
class Export:
    """One setup's code: `script(setup)` is its text, `changes(old, new)` names what changed in the
    sidebar's words, `bundle()` makes its zip (called only when the student asks for it)."""

    setup: Any
    script: Callable[[Any], str]
    changes: Callable[[Any, Any], list[str]]
    bundle: Callable[[], bytes]
    file_name: str
    help: str = HELP
    no_download: str | None = None  # one sentence instead of the download button (a set too large to zip)


def per_config(
    cfgs: Mapping[str, Any],
    script: Callable[[Any], str],
    changes: Callable[[Any, Any], list[str]],
    bundle: Callable[[Any], bytes],
    file_name: Callable[[str, Any], str],
    **extra: Any,
) -> dict[str, Export]:
    """One Export per configuration (label -> config, as a lab's A and B): its script, its changes,
    its zip made from that config alone, and its file name from (label, config); `extra`: help,
    no_download."""
    return {
        label: Export(cfg, script, changes, functools.partial(bundle, cfg), file_name(label, cfg), **extra)
        for label, cfg in cfgs.items()
    }


def code_pane(lab: str, exports: Mapping[str, Export], title: str = "PyTorch code for this setup") -> None:
    """Each setup's script in an expander, with the lines its last change touched marked (st.code cannot
    colour a line: an arrow comment ends it) and a button that downloads its zip."""
    with st.expander(title, icon=":material/code:"):
        for label, item in exports.items():
            if len(exports) > 1:
                st.markdown(f"**Configuration {label}**")
            key = lab_key(lab, f"code:{label}")
            shown, before = st.session_state.get(key, (item.setup, None))
            if shown != item.setup:
                shown, before = item.setup, shown
            st.session_state[key] = (shown, before)
            try:
                text = item.script(item.setup)
                marked = export.highlight(item.script(before), text) if before is not None else set()
                what = ", ".join(item.changes(before, item.setup)) if marked else ""
            except Exception:  # an unbuildable setup: the page already says why, above
                log.info("no code for %s", item.setup, exc_info=True)
                st.caption("No code for these settings.")
                continue
            lines = [
                f"{line}  # ← changed: {what}" if i in marked else line
                for i, line in enumerate(text.splitlines(), start=1)
            ]
            if marked:
                where = ", ".join(str(i) for i in sorted(marked)[:6]) + (" …" if len(marked) > 6 else "")
                st.caption(f"Marked ← (line {where}): what your last change ({what}) touched.")
            st.code("\n".join(lines), language="python", line_numbers=True)
            if item.no_download:
                st.caption(item.no_download)
                continue
            _zip_buttons(lab, label, item)


def _zip_buttons(lab: str, label: str, item: Export) -> None:
    """'Make the zip', then its download. The zip is built once per setup, on request, and the download
    sends its bytes: Streamlit names bytes by their content, the same in every run of the page, whereas
    a callable gets a new name in every run, and a click that arrived while a run ended (which reruns
    the page) asked for a name that was gone ("Deferred file not found": no file came)."""
    key = lab_key(lab, f"code-zip:{label}")
    made = st.session_state.get(key)
    if made is not None and made[0] != item.setup:  # the setup changed: that zip is not this code's
        made = st.session_state[key] = None
    if problem := st.session_state.pop(f"{key}:error", None):
        st.error(problem)
    if made is None:
        st.button(
            "Make the zip: train.py, the notebook and the data",
            key=lab_key(lab, f"code-make:{label}"),
            help=item.help,
            icon=":material/folder_zip:",
            on_click=_make_zip,
            args=(key, item),
        )
        return
    st.download_button(
        f"Download {item.file_name} ({_size(len(made[1]))})",
        made[1],
        file_name=item.file_name,
        mime="application/zip",
        key=lab_key(lab, f"code-download:{label}"),
        help=item.help,
        icon=":material/download:",
        on_click="ignore",  # the page stays as it is: no rerun while a run plays
    )


def _make_zip(key: str, item: Export) -> None:
    try:
        st.session_state[key] = (item.setup, item.bundle())
    except Exception:
        log.exception("could not make the zip for %s", item.setup)
        st.session_state[f"{key}:error"] = (
            "The zip could not be made for these settings; the code is still right."
        )


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} KB"
