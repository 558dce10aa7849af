"""The OSC address map: every address the daemon reads or sends, its arguments and their meaning.

Validation of incoming messages and the README's reference table are both made from this map.
Only the types i (int32), f (float32) and s (string) are used, as Pure Data vanilla handles no others.
Where an int is expected, a float with an integral value is accepted too (Pd sends numbers as floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bridge.errors import InputError

__all__ = ["Arg", "Address", "INBOUND", "OUTBOUND", "MOODS", "MAX_SUBSCRIBED", "validate", "reference_table"]

MOODS: dict[str, tuple[float, float]] = {
    "happy": (0.8, 0.5), "excited": (0.6, 0.9), "delighted": (0.9, 0.6), "tense": (-0.5, 0.7),
    "angry": (-0.8, 0.8), "afraid": (-0.7, 0.6), "sad": (-0.7, -0.5), "depressed": (-0.8, -0.7),
    "tired": (-0.3, -0.8), "bored": (-0.4, -0.6), "calm": (0.5, -0.6), "relaxed": (0.7, -0.4),
    "content": (0.6, -0.2), "serene": (0.6, -0.7), "neutral": (0.0, 0.0),
}


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # 'i', 'f' or 's'
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{self.type}:{self.name}"
        if self.low is not None:
            text += f" [{self.low:g}..{self.high:g}]"
        return text


@dataclass(frozen=True)
class Address:
    path: str
    args: tuple[Arg, ...]
    meaning: str
    optional: tuple[Arg, ...] = ()  # trailing arguments that may be left out
    repeat: tuple[Arg, ...] = ()  # a group that may follow any number of times (outbound only)


MAX_SUBSCRIBED = 16  # event targets /coevo/subscribe may add; past it the oldest goes, so a patch that subscribes
# afresh from a new port on every load cannot grow the list over days of running

_E = (Arg("valence", "f", -1, 1), Arg("arousal", "f", -1, 1))

INBOUND: dict[str, Address] = {a.path: a for a in (
    Address("/coevo/ping", (Arg("token", "s"),), "Answered by /coevo/pong with the same token, to the sender "
            "(or to the sender's host at reply_port, for clients such as Max's udpsend that cannot receive).",
            optional=(Arg("reply_port", "i", 1, 65535),)),
    Address("/coevo/emotion", _E, "Set the emotion state (valence, arousal)."),
    Address("/coevo/mood", (Arg("mood", "s", choices=tuple(MOODS)),), "Set the emotion state by name: " + ", ".join(MOODS) + "."),
    Address("/coevo/nudge", (Arg("axis", "s"), Arg("amount", "f", -4, 4)),
            "Move a named axis: value += alpha * amount (axes come from the model's codes)."),
    Address("/coevo/axis", (Arg("axis", "s"), Arg("value", "f", -1, 1)),
            "Set a named axis to a value (a dial); /coevo/nudge moves it relatively."),
    Address("/coevo/alpha", (Arg("alpha", "f", 0, 4),), "Step size of every feedback update."),
    Address("/coevo/feedback/like", (), "Move z toward the last phrase's z (or the named phrase's).",
            optional=(Arg("phrase_id", "s"),)),
    Address("/coevo/feedback/dislike", (), "Move z away from the last phrase's z (or the named phrase's).",
            optional=(Arg("phrase_id", "s"),)),
    Address("/coevo/tempo", (Arg("bpm", "f", 20, 400),), "Set the internal clock's tempo."),
    Address("/coevo/transport/start", (), "Start the internal clock from bar 1."),
    Address("/coevo/transport/stop", (), "Stop; all notes off."),
    Address("/coevo/key", (Arg("tonic", "s"), Arg("mode", "s")), "Key for the key lock, e.g. A minor."),
    Address("/coevo/density", (Arg("density", "f", 0, 1),), "Note density: how readily the model's roll becomes notes."),
    Address("/coevo/bars", (Arg("bars", "i", 1, 8),), "Length of the next phrases in bars."),
    Address("/coevo/generate", (), "Replace the next phrase with a new one now."),
    Address("/coevo/snapshot/save", (Arg("name", "s"),), "Save the control state under a name."),
    Address("/coevo/snapshot/recall", (Arg("name", "s"),), "Recall a saved state."),
    Address("/coevo/morph", (Arg("name", "s"), Arg("bars", "i", 1, 64)),
            "Morph from the current state to a saved one over N bars."),
    Address("/coevo/undo", (), "Undo the last change of the control state."),
    Address("/coevo/note", (Arg("pitch", "i", 0, 127), Arg("velocity", "i", 0, 127)),
            "A performer's note (velocity 0 ends it); read by the emotion model."),
    Address("/coevo/learn", (Arg("axis", "s"),), "MIDI learn: the next CC on 'coevo in' controls this axis."),
    Address("/coevo/subscribe", (Arg("port", "i", 1, 65535),), "Send events to the sender's host at this port too "
            f"({MAX_SUBSCRIBED} such targets at most: one more replaces the oldest)."),
    Address("/coevo/unsubscribe", (Arg("port", "i", 1, 65535),), "Stop sending events to the sender's host at this "
            "port (send it when a patch closes)."),
    Address("/coevo/clip/push", (Arg("track", "i", 0, 999), Arg("slot", "i", 0, 999)),
            "Write the last phrase (or the named one) into Live's clip slot through AbletonOSC; answered by "
            "/coevo/clip/pushed or /coevo/error.", optional=(Arg("phrase_id", "s"),)),
)}

_NOTE = (Arg("pitch", "i"), Arg("start_beat", "f"), Arg("duration_beats", "f"), Arg("velocity", "i"), Arg("mute", "i"))

OUTBOUND: dict[str, Address] = {a.path: a for a in (
    Address("/coevo/pong", (Arg("token", "s"),), "Answer to /coevo/ping."),
    Address("/coevo/error", (Arg("code", "s"), Arg("detail", "s")), "A message was rejected; nothing changed."),
    Address("/coevo/phrase/begin", (Arg("id", "s"), Arg("length_beats", "f"), Arg("n_notes", "i")),
            "A new phrase is ready (sent ahead of the playhead)."),
    Address("/coevo/phrase/notes", (Arg("id", "s"), Arg("chunk", "i")),
            "Up to 64 notes of the phrase, as groups pitch start duration velocity mute (beats).", repeat=_NOTE),
    Address("/coevo/phrase/end", (Arg("id", "s"),), "All notes of the phrase were sent."),
    Address("/coevo/state", (Arg("bar", "i"), Arg("bpm", "f"), Arg("valence", "f"), Arg("arousal", "f"),
                             Arg("tonic", "s"), Arg("mode", "s"), Arg("bars", "i"), Arg("alpha", "f"),
                             Arg("played_mode", "s")),
            "The control state, at each bar line; played_mode is the scale the phrases are played in (mode, or "
            "its minor counterpart under mood shaping at negative valence)."),
    Address("/coevo/axes", (), "Named axes and their values, at each bar line.",
            repeat=(Arg("axis", "s"), Arg("value", "f"))),
    Address("/coevo/clip/pushed", (Arg("id", "s"), Arg("track", "i"), Arg("slot", "i"), Arg("n_notes", "i")),
            "A phrase is now a clip in Live (Live read its notes back)."),
    Address("/coevo/visual/palette", (), "With --visuals, in one bundle per frame: the frame's 5 main colours, "
            "darkest first, as r g b floats 0..1.", repeat=(Arg("r", "f", 0, 1), Arg("g", "f", 0, 1), Arg("b", "f", 0, 1))),
    Address("/coevo/visual/energy", (Arg("energy", "f", 0, 1),),
            "Visual energy: rises on each note as it plays (by velocity), plus sound input; fades within a beat."),
    Address("/coevo/visual/valence", (Arg("valence", "f", -1, 1),), "The smoothed valence the picture shows."),
    Address("/coevo/visual/arousal", (Arg("arousal", "f", -1, 1),), "The smoothed arousal the picture shows."),
    Address("/coevo/visual/latent", (), "The art latent's coordinates along its 8 most visible directions.",
            repeat=(Arg("coordinate", "f"),)),
    Address("/coevo/beat", (Arg("bar", "i"), Arg("beat", "i", 1, 4)), "Where the playhead is (bar from 0, beat 1..4), "
            "in every visual bundle."),
)}

_PY_TYPES = {"i": (int,), "f": (float, int), "s": (str,)}


def validate(path: str, args: Sequence[object]) -> tuple[object, ...]:
    """Check a message against the map; return its arguments with floats as float.

    Raises:
        InputError: unknown address, wrong number or type of arguments, or a value out of range.
    """
    spec = INBOUND.get(path)
    if spec is None:
        raise InputError("unknown_address", f"{path} is not a Coevo address; see the OSC reference")
    n_min, n_max = len(spec.args), len(spec.args) + len(spec.optional)
    if not n_min <= len(args) <= n_max:
        wanted = " ".join(a.describe() for a in spec.args + spec.optional) or "no arguments"
        raise InputError("bad_arguments", f"{path} takes {wanted}; got {len(args)} argument(s)")
    out: list[object] = []
    for arg, value in zip(spec.args + spec.optional, args):
        if arg.type == "i" and isinstance(value, float) and value.is_integer():
            value = int(value)  # Pd and Max send numbers as floats unless told otherwise
        if isinstance(value, bool) or not isinstance(value, _PY_TYPES[arg.type]):
            raise InputError("bad_type", f"{path} {arg.name} must be of type {arg.type}; got {type(value).__name__}")
        if arg.type == "f":
            value = float(value)  # type: ignore[arg-type]
            if value != value:
                raise InputError("out_of_range", f"{path} {arg.name} must be a number; got NaN")
        if arg.low is not None and not arg.low <= value <= arg.high:  # type: ignore[operator]
            raise InputError("out_of_range", f"{path} {arg.name} must be in [{arg.low:g}, {arg.high:g}]; got {value}")
        if arg.choices and value not in arg.choices:
            raise InputError("out_of_range", f"{path} {arg.name} must be one of {', '.join(arg.choices)}; got {value!r}")
        out.append(value)
    return tuple(out)


def reference_table() -> str:
    """The README's OSC reference, in Markdown."""
    rows = ["| direction | address | arguments | meaning |", "|---|---|---|---|"]
    for direction, table in (("in", INBOUND), ("out", OUTBOUND)):
        for a in table.values():
            args = " ".join(x.describe() for x in a.args)
            if a.optional:
                args += " [" + " ".join(x.describe() for x in a.optional) + "]"
            if a.repeat:
                args += " (" + " ".join(x.describe() for x in a.repeat) + ")…"
            rows.append(f"| {direction} | `{a.path}` | {args.strip() or '—'} | {a.meaning} |")
    return "\n".join(rows) + "\n"
