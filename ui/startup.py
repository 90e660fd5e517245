"""Once per server process: thread count and torch warm-up."""

from __future__ import annotations

import logging
import sys

import streamlit as st

from core.device import configure_threads, default_device
from core.engines import shared_engines
from core.processes import SWITCH_SECONDS
from core.warmup import warm_up as _warm_core
from ui.runs import IN_ENGINES

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Warming up PyTorch…")
def warm_up() -> str:
    """Pay first-use costs at start, so a student's first Play answers within a second.

    cache_resource is right here: nothing user-specific or trained is kept, only the
    process-wide side effects of importing and running torch once.
    """
    threads = configure_threads()
    sys.setswitchinterval(SWITCH_SECONDS)
    device = default_device()
    engines = shared_engines()  # started now: each imports and warms up torch in a few seconds
    _warm_core()
    log.info("torch warmed up on %s with %d thread(s)", device, threads)
    if engines is not None:
        log.info("live runs of %s train in %d engine processes", ", ".join(sorted(IN_ENGINES)), engines.size)
    return f"{device}, {threads} thread(s)"


def ensure_router() -> None:
    """Hand a deep link over to app.py's router when Streamlit bypassed it.

    With a pages/ folder beside app.py, Streamlit (1.4x-1.6x) runs the requested page
    script directly, in its old multipage mode, if a fresh server's first request is a
    deep link such as /gradients: app.py, its page config and navigation never run.
    Leaving that mode and rerunning lets app.py route the same URL.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
