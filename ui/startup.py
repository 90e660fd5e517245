"""Once per server process: thread count and torch warm-up."""

from __future__ import annotations

import logging

import streamlit as st

from core.device import configure_threads, default_device
from core.warmup import warm_up as _warm_core

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Warming up PyTorch…")
def warm_up() -> str:
    """Pay first-use costs at start, so a student's first Play answers within a second.

    cache_resource is right here: nothing user-specific or trained is kept, only the
    process-wide side effects of importing and running torch once.
    """
    threads = configure_threads()
    device = default_device()
    _warm_core()
    log.info("torch warmed up on %s with %d thread(s)", device, threads)
    return f"{device}, {threads} thread(s)"
