"""Where runs compute, and how many CPU threads they use."""

from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """GP_DEVICE if set ('cpu', 'cuda', 'cuda:1'), else the GPU when one is present."""
    wanted = os.environ.get("GP_DEVICE", "").strip()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def configure_threads() -> int:
    """Set torch's intra-op threads from GP_TORCH_THREADS (default 1) and return it.

    Measured on a 2-core machine: beside a browser or a second session, one thread per
    process trained small models 4-7x faster than two; alone, two threads were ~1.5x
    faster for a small CNN. Servers with many students want 1; set 2+ for a lone laptop.
    """
    threads = max(1, int(os.environ.get("GP_TORCH_THREADS", "1")))
    torch.set_num_threads(threads)
    return threads
