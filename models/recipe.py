"""The training recipe's defaults in one place, and the commands that train a run's models again.

Torch-free: ``coevo train --help`` shows these defaults, and ``coevo ship`` writes the command that
rebuilds what it ships, without the CLI importing the trainers.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RUN", "SHIPPED", "EMOTION_EPOCHS", "MUSIC_STEPS", "ENCODER_STEPS", "ART_STEPS", "ART_VARIANT",
           "SHIPPED_COMMAND", "Stage", "train_command", "art_command"]

RUN = "runs/ship"  # coevo train's default run folder
SHIPPED = "models/shipped"  # coevo ship's default --dest, relative to the repository root
EMOTION_EPOCHS = 150  # about a minute on the 2-core CPU
MUSIC_STEPS = 3000  # generator steps (3 critic steps each): about 30 min
ENCODER_STEPS = 8000  # about 10 min
ART_STEPS = 3000  # about 20 min at 64x64
ART_VARIANT = "dcgan"

_LENGTH_FLAG = {"emotion": ("--epochs", EMOTION_EPOCHS), "music": ("--steps", MUSIC_STEPS),
                "encoder": ("--encoder-steps", ENCODER_STEPS)}


@dataclass(frozen=True)
class Stage:
    """One model of a run as ``coevo train`` made it: its kind (emotion, music, encoder), seed, epochs or
    steps, the ``--songs`` limit (None: every song) and, for the generator, whether it has an emotion steer."""

    kind: str
    seed: int
    length: int
    songs: int | None = None
    emotion_steer: bool = False  # music: --emotion-steer


def _flags(stages: Sequence[Stage]) -> str:
    flags = [f"--seed {stages[0].seed}"]
    flags += [f"{_LENGTH_FLAG[s.kind][0]} {s.length}" for s in stages if s.length != _LENGTH_FLAG[s.kind][1]]
    flags += ["--emotion-steer"] if any(s.emotion_steer for s in stages) else []
    if stages[0].songs is not None:
        flags.append(f"--songs {stages[0].songs}")
    return " ".join(flags)


def _ship(run: str, dest: str, art: bool = False) -> str:
    return (f"coevo ship {shlex.quote(run)}" + (" --art" if art else "")
            + ("" if dest == SHIPPED else f" --dest {shlex.quote(dest)}"))


def train_command(run: str, stages: Sequence[Stage], dest: str = SHIPPED) -> str:
    """The shell command that trains ``stages`` (emotion, music, encoder, in that order) into ``run`` and
    ships them to ``dest``, defaults left out: one ``coevo train all`` where all three share a seed and
    song limit, else one ``coevo train KIND`` each."""
    kinds = [s.kind for s in stages]
    if kinds not in (["emotion", "music"], ["emotion", "music", "encoder"]):
        raise ValueError(f"stages must be emotion, music[, encoder] in that order, not {', '.join(kinds)}")
    if len(stages) == 3 and len({(s.seed, s.songs) for s in stages}) == 1:
        steps = [f"coevo train all --out {shlex.quote(run)} {_flags(stages)}"]
    else:
        steps = [f"coevo train {s.kind} --out {shlex.quote(run)} {_flags([s])}" for s in stages]
    return " && ".join([*steps, _ship(run, dest)])


def art_command(run: str, seed: int, steps: int, variant: str, images: str, limit: int | None, minutes: float,
                dest: str = SHIPPED) -> str:
    """The shell command that trains an art run as ``coevo train art`` did and ships it to ``dest``."""
    flags = [f"--seed {seed}"]
    flags += [f"--art-steps {steps}"] if steps != ART_STEPS else []
    flags += [f"--variant {variant}"] if variant != ART_VARIANT else []
    flags += [f"--images {shlex.quote(images)}"] if images else []
    flags += [f"--songs {limit}"] if limit is not None else []
    flags += [f"--minutes {minutes:g}"] if minutes else []
    return f"coevo train art --out {shlex.quote(run)} {' '.join(flags)} && {_ship(run, dest, art=True)}"


SHIPPED_COMMAND = train_command(RUN, [Stage("emotion", 0, EMOTION_EPOCHS), Stage("music", 0, MUSIC_STEPS),
                                      Stage("encoder", 0, ENCODER_STEPS)])  # what the shipped models were made by
