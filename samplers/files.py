"""Writing files so that a crash never leaves half of one: one helper for every saved model, flow and checkpoint
(``samplers`` and ``glassgen`` alike; it needs nothing but torch)."""

from __future__ import annotations

import os
import tempfile

import torch


def save_atomically(payload: dict, path) -> None:
    """torch.save to a temporary file beside ``path``, then rename: a crash never leaves half a file."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".part")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
