"""The random state a training checkpoint carries, so that a resumed run draws what an uninterrupted one would.

Without it a run restarted from a checkpoint would seed its random streams afresh and draw the first
batches again: an interrupted ``coevo train`` would end on other weights than the documented command.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["random_state", "restore_random_state"]

log = logging.getLogger(__name__)


def random_state(rng: np.random.Generator) -> dict[str, Any]:
    """torch's global random state and ``rng``'s, for a checkpoint."""
    return {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}


def restore_random_state(checkpoint: Mapping[str, Any], rng: np.random.Generator, steps_left: int) -> None:
    """Continue torch's global random stream and ``rng`` where ``checkpoint`` (saved with ``random_state``
    under ``"random"``) left them; a checkpoint without one resumes on fresh streams, and says so when
    ``steps_left`` of training remain."""
    saved = checkpoint.get("random")
    if saved is None:
        if steps_left > 0:
            log.warning("the checkpoint holds no random state (written before 2026-12-03): the run goes on with fresh "
                        "random streams, so it will not end on the weights of an uninterrupted run")
        return
    torch.set_rng_state(saved["torch"])
    rng.bit_generator.state = saved["numpy"]
