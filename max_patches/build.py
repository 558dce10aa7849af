"""Write the Max patches of this folder from one description, so cords and ports cannot drift.

    python max_patches/build.py          write coevo_device.{maxpat,amxd,maxhelp}, coevo_control.{maxpat,maxhelp}
                                         and coevo_visual.{maxpat,maxhelp}
    python max_patches/build.py --check  exit 1 if a committed file differs from what would be written

coevo_device: the Max for Live MIDI effect. It listens to the daemon's events (udpreceive 9101),
writes each complete phrase into a clip slot of its track (coevo_clip.js, Live API), and sends
like/dislike, a mood XY pad, named-axis dials, bars and generate to the daemon (udpsend 9100).
coevo_control: the same controls for Max without Live; it subscribes to the events on port 9102.
coevo_visual: the visual stream of --visuals in Jitter (palette matrix, energy, beat); events on port 9103.
The .amxd is the .maxpat in Max for Live's container: 'ampf' (device type 'mmmm': MIDI effect),
'meta', 'ptch' (the patcher JSON, NUL-terminated), each chunk a 4-byte tag and a little-endian size.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DAEMON_OSC_PORT = 9100  # Config.osc_port
DAEMON_EVENT_PORT = 9101  # Config.event_port
CONTROL_EVENT_PORT = 9102  # coevo_control subscribes here, so it can run beside the device
VISUAL_EVENT_PORT = 9103  # coevo_visual subscribes here
AXES = ("register", "polyphony", "rhythm", "density")  # the shipped generator's named axes
JS = "coevo_clip.js"

# (inlets, outlets) of every object class used here, as Max 8 saves them
SIGNATURES = {
    "live.thisdevice": (1, 3), "udpreceive": (1, 1), "udpsend": (1, 0), "metro": (2, 1), "loadbang": (1, 1),
    "prepend": (1, 1), "scale": (6, 1), "pak": (2, 1), "midiin": (1, 1), "midiout": (1, 0), "print": (1, 0),
    "message": (2, 1), "comment": (1, 0), "live.text": (1, 2), "live.dial": (1, 2), "live.numbox": (1, 2),
    "live.toggle": (1, 1), "pictslider": (2, 2), "bpatcher": (0, 0),
    "listfunnel": (1, 1), "%": (2, 1), "/": (2, 1), "jit.matrix": (1, 2), "jit.pwindow": (1, 2),
    "flonum": (1, 2), "number": (1, 2), "slider": (1, 1),
}
# objects whose inlets and outlets follow from their arguments (n of them)
BY_ARGUMENTS = {"route": lambda n: (2, n + 1), "t": lambda n: (1, n), "unpack": lambda n: (1, n),
                "pack": lambda n: (n, 1)}


class Patch:
    def __init__(self, rect: tuple[float, float, float, float], presentation: bool = False) -> None:
        self.boxes: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.rect = rect
        self.presentation = presentation

    def add(self, maxclass: str, text: str = "", rect: tuple[float, ...] = (0, 0, 100, 22),
            show: tuple[float, ...] | None = None, **attrs: Any) -> str:
        kind = text.split()[0] if maxclass == "newobj" else maxclass
        if kind == "js":
            inlets, outlets = 1, 4
        elif kind in BY_ARGUMENTS:
            inlets, outlets = BY_ARGUMENTS[kind](len(text.split()) - 1)
        else:
            inlets, outlets = SIGNATURES[kind]
        box: dict[str, Any] = {"id": f"obj-{len(self.boxes) + 1}", "maxclass": maxclass, "numinlets": inlets,
                               "numoutlets": outlets, "patching_rect": list(rect)}
        if outlets:
            box["outlettype"] = [""] * outlets
        if text:
            box["text"] = text
        if show is not None:
            box["presentation"] = 1
            box["presentation_rect"] = list(show)
        box.update(attrs)
        self.boxes.append({"box": box})
        return box["id"]

    def connect(self, source: str, outlet: int, dest: str, inlet: int = 0) -> None:
        self.lines.append({"patchline": {"source": [source, outlet], "destination": [dest, inlet]}})

    def to_json(self) -> dict[str, Any]:
        patcher: dict[str, Any] = {
            "fileversion": 1,
            "appversion": {"major": 8, "minor": 6, "revision": 0, "architecture": "x64", "modernui": 1},
            "classnamespace": "box", "rect": list(self.rect), "default_fontsize": 12.0,
            "gridsize": [15.0, 15.0], "boxes": self.boxes, "lines": self.lines,
            "dependency_cache": [{"name": JS, "bootpath": ".", "type": "TEXT", "implicit": 1}],
            "autosave": 0,
        }
        if self.presentation:
            patcher["openinpresentation"] = 1
        return {"patcher": patcher}


def _param(name: str, low: float, high: float, kind: int = 0) -> dict[str, Any]:
    """A Live parameter's saved attributes (kind 0: float, 1: int, 2: enum)."""
    return {"saved_attribute_attributes": {"valueof": {
        "parameter_longname": name, "parameter_shortname": name, "parameter_mmin": low, "parameter_mmax": high,
        "parameter_type": kind}}, "varname": name.replace(" ", "_")}


def _controls(p: Patch, js: str, send: str) -> None:
    """Like/dislike, mood pad, axis dials, bars, generate (live.* objects, which plain Max has too), all sent
    to the daemon through ``send``; the js outlets 1-3 shown as text."""
    for i, (label, address) in enumerate((("Like", "/coevo/feedback/like"), ("Dislike", "/coevo/feedback/dislike"),
                                          ("Generate", "/coevo/generate"))):
        ui = p.add("live.text", rect=(20 + 90 * i, 300, 80, 22), show=(10 + 70 * i, 10, 64, 20), text=label,
                   mode=0, **_param(f"coevo {label.lower()}", 0, 1, 2))
        msg = p.add("message", address, (20 + 90 * i, 340, 160, 22))
        p.connect(ui, 0, msg)
        p.connect(msg, 0, send)
    pad = p.add("pictslider", rect=(300, 300, 100, 100), show=(220, 10, 60, 60),
                annotation="Mood: left-right valence, bottom-top arousal")
    sx = p.add("newobj", "scale 0 127 -1. 1.", (300, 410, 120, 22))
    sy = p.add("newobj", "scale 0 127 -1. 1.", (430, 410, 120, 22))
    pak = p.add("newobj", "pak f f", (300, 440, 60, 22))
    emotion = p.add("message", "/coevo/emotion $1 $2", (300, 470, 160, 22))
    p.connect(pad, 0, sx)
    p.connect(pad, 1, sy)
    p.connect(sx, 0, pak, 0)
    p.connect(sy, 0, pak, 1)
    p.connect(pak, 0, emotion)
    p.connect(emotion, 0, send)
    for i, axis in enumerate(AXES):
        dial = p.add("live.dial", rect=(20 + 90 * i, 520, 44, 48), show=(10 + 50 * i, 80, 44, 48),
                     **_param(axis, -1.0, 1.0))
        msg = p.add("message", f"/coevo/axis {axis} $1", (20 + 90 * i, 580, 150, 22))
        p.connect(dial, 0, msg)
        p.connect(msg, 0, send)
    bars = p.add("live.numbox", rect=(420, 520, 44, 22), show=(220, 80, 44, 20), **_param("coevo bars", 1, 8, 1))
    msg = p.add("message", "/coevo/bars $1", (420, 580, 110, 22))
    p.connect(bars, 0, msg)
    p.connect(msg, 0, send)
    for i, (outlet, label) in enumerate(((1, "status"), (2, "key and tempo"), (3, "last phrase"))):
        prep = p.add("newobj", "prepend set", (600, 300 + 60 * i, 80, 22))
        text = p.add("comment", f"({label})", (600, 330 + 60 * i, 220, 22), show=(10, 140 + 18 * i, 280, 18))
        p.connect(js, outlet, prep)
        p.connect(prep, 0, text)


def device() -> Patch:
    p = Patch((100, 100, 900, 700), presentation=True)
    this = p.add("newobj", "live.thisdevice", (20, 20, 110, 22))
    init = p.add("message", "init", (20, 60, 40, 22))
    recv = p.add("newobj", f"udpreceive {DAEMON_EVENT_PORT}", (150, 20, 120, 22))
    load = p.add("newobj", "loadbang", (300, 20, 70, 22))
    metro = p.add("newobj", "metro 1000", (300, 60, 80, 22))
    ping = p.add("message", "ping", (300, 100, 40, 22))
    js = p.add("newobj", f"js {JS}", (150, 140, 120, 22))
    send = p.add("newobj", f"udpsend 127.0.0.1 {DAEMON_OSC_PORT}", (150, 240, 170, 22))
    capture = p.add("live.toggle", rect=(420, 60, 20, 20), show=(290, 10, 20, 20), **_param("coevo capture", 0, 1, 2))
    write = p.add("live.text", rect=(460, 60, 80, 22), show=(290, 40, 60, 20), text="Write", mode=0,
                  **_param("coevo write", 0, 1, 2))
    write_msg = p.add("message", "write", (460, 100, 50, 22))
    midi_in = p.add("newobj", "midiin", (700, 20, 50, 22))
    midi_out = p.add("newobj", "midiout", (700, 60, 60, 22))
    p.add("comment", "Coevo: phrases from the daemon become clips on this track; steer it from here.",
          (20, 640, 600, 22))
    p.connect(this, 0, init)
    p.connect(init, 0, js)
    p.connect(recv, 0, js)
    p.connect(load, 0, metro)
    p.connect(metro, 0, ping)
    p.connect(ping, 0, js)
    p.connect(capture, 0, js)
    p.connect(write, 0, write_msg)
    p.connect(write_msg, 0, js)
    p.connect(js, 0, send)
    p.connect(midi_in, 0, midi_out)  # a MIDI effect passes the track's MIDI through
    _controls(p, js, send)
    return p


def control() -> Patch:
    p = Patch((120, 120, 900, 700), presentation=True)
    recv = p.add("newobj", f"udpreceive {CONTROL_EVENT_PORT}", (150, 20, 120, 22))
    load = p.add("newobj", "loadbang", (300, 20, 70, 22))
    metro = p.add("newobj", "metro 1000", (300, 60, 80, 22))
    ping = p.add("message", "ping", (300, 100, 40, 22))
    subscribe = p.add("message", f"/coevo/subscribe {CONTROL_EVENT_PORT}", (420, 100, 150, 22))
    no_clips = p.add("message", "0", (420, 60, 30, 22))
    js = p.add("newobj", f"js {JS} {CONTROL_EVENT_PORT}", (150, 140, 150, 22))
    send = p.add("newobj", f"udpsend 127.0.0.1 {DAEMON_OSC_PORT}", (150, 240, 170, 22))
    p.add("comment", "Coevo control for Max: the events arrive on port 9102 (subscribed each second).",
          (20, 640, 600, 22))
    p.connect(recv, 0, js)
    p.connect(load, 0, metro)
    p.connect(load, 0, no_clips)
    p.connect(no_clips, 0, js)  # no Live here: phrases are not written into clips
    p.connect(metro, 0, ping)
    p.connect(metro, 0, subscribe)
    p.connect(ping, 0, js)
    p.connect(subscribe, 0, send)
    p.connect(js, 0, send)
    _controls(p, js, send)
    return p


def visual() -> Patch:
    """The OSC stream of --visuals in Jitter: the palette as a 5x1 colour matrix, energy, bar and beat."""
    p = Patch((140, 140, 760, 520), presentation=True)
    recv = p.add("newobj", f"udpreceive {VISUAL_EVENT_PORT}", (20, 20, 120, 22))
    load = p.add("newobj", "loadbang", (300, 20, 70, 22))
    metro = p.add("newobj", "metro 1000", (300, 60, 80, 22))
    subscribe = p.add("message", f"/coevo/subscribe {VISUAL_EVENT_PORT}", (300, 100, 150, 22))
    send = p.add("newobj", f"udpsend 127.0.0.1 {DAEMON_OSC_PORT}", (300, 140, 170, 22))
    route = p.add("newobj", "route /coevo/visual/palette /coevo/visual/energy /coevo/beat", (20, 60, 260, 22))
    # palette: 15 floats -> "index value" pairs -> setcell x 0 plane p val v, then show the matrix
    after = p.add("newobj", "t b l", (20, 100, 50, 22))
    funnel = p.add("newobj", "listfunnel", (60, 140, 70, 22))
    pair = p.add("newobj", "unpack 0 0.", (60, 180, 80, 22))
    index = p.add("newobj", "t i i", (60, 220, 40, 22))
    cell = p.add("newobj", "/ 3", (60, 260, 30, 22))
    plane = p.add("newobj", "% 3", (110, 260, 30, 22))
    triple = p.add("newobj", "pack 0 0 0.", (60, 300, 80, 22))
    setcell = p.add("message", "setcell $1 0 plane $2 val $3", (60, 340, 180, 22))
    matrix = p.add("newobj", "jit.matrix coevo_palette 3 float32 5 1", (20, 380, 230, 22))
    window = p.add("jit.pwindow", rect=(20, 420, 250, 50), show=(10, 10, 250, 50))
    p.connect(recv, 0, route)
    p.connect(load, 0, metro)
    p.connect(metro, 0, subscribe)
    p.connect(subscribe, 0, send)
    p.connect(route, 0, after)
    p.connect(after, 1, funnel)
    p.connect(funnel, 0, pair)
    p.connect(pair, 1, triple, 2)  # the value first (cold), then the index (hot, via t i i)
    p.connect(pair, 0, index)
    p.connect(index, 1, plane)
    p.connect(plane, 0, triple, 1)
    p.connect(index, 0, cell)
    p.connect(cell, 0, triple, 0)
    p.connect(triple, 0, setcell)
    p.connect(setcell, 0, matrix)
    p.connect(after, 0, matrix)  # every cell set: output the matrix
    p.connect(matrix, 0, window)
    # energy and beat
    energy = p.add("flonum", rect=(330, 220, 60, 22), show=(10, 70, 60, 22))
    meter = p.add("slider", rect=(330, 260, 20, 120), show=(80, 70, 150, 20), size=1.0, floatoutput=1,
                  orientation=1)
    beat = p.add("newobj", "unpack 0 0", (430, 220, 70, 22))
    bar_box = p.add("number", rect=(430, 260, 50, 22), show=(10, 100, 50, 22))
    beat_box = p.add("number", rect=(490, 260, 50, 22), show=(70, 100, 50, 22))
    p.connect(route, 1, energy)
    p.connect(route, 1, meter)
    p.connect(route, 2, beat)
    p.connect(beat, 0, bar_box)
    p.connect(beat, 1, beat_box)
    p.add("comment", "Coevo visuals (coevo run --visuals): palette, energy, bar and beat; events on port 9103.",
          (20, 490, 600, 22))
    return p


PHRASE_DEMO = ["/coevo/phrase/begin demo 4. 2", "/coevo/phrase/notes demo 0 60 0. 1. 100 0 64 1. 1. 90 0",
               "/coevo/phrase/end demo"]
VISUAL_DEMO = ["/coevo/visual/palette 0.1 0.05 0.2 0.3 0.1 0.4 0.6 0.2 0.3 0.9 0.5 0.2 1. 0.9 0.6",
               "/coevo/visual/energy 0.8", "/coevo/beat 3 2"]


def help_patch(subject: str, lines: list[str], visual: bool = False) -> Patch:
    """A help patch: what the patch does, how to use it, and a working instance to try. The demo messages
    go to the patch's js (phrases), or over UDP to the instance's udpreceive (the visual stream)."""
    p = Patch((150, 150, 760, 560))
    for i, text in enumerate(lines):
        p.add("comment", text, (20, 20 + 24 * i, 700, 22))
    y = 40 + 24 * len(lines)
    if visual:
        target = p.add("newobj", f"udpsend 127.0.0.1 {VISUAL_EVENT_PORT}", (20, y + 90, 170, 22))
    else:
        target = p.add("newobj", f"js {JS}", (20, y + 90, 120, 22))
        out = p.add("newobj", "print coevo", (20, y + 130, 80, 22))
        for outlet in range(4):
            p.connect(target, outlet, out)
    for i, text in enumerate(VISUAL_DEMO if visual else PHRASE_DEMO):
        msg = p.add("message", text, (200, y + 30 * i, 480, 22))
        p.connect(msg, 0, target)
    p.add("bpatcher", rect=(20, y + 170, 320, 180), name=subject, args=[], embed=0)
    return p


DEVICE_HELP = [
    "coevo_device: a Max for Live MIDI effect for Coevo (run `coevo run` first).",
    "Drop it on a MIDI track. Each phrase the daemon makes arrives over OSC on port 9101 and, with Capture on,",
    "becomes a clip in the highlighted slot of this track (when empty) or the next empty slot (Live 11+).",
    "Write puts the last phrase into a clip now. Like/Dislike steer the model; the pad sets the mood",
    "(valence left-right, arousal bottom-top); the dials set the named axes; Bars sets the phrase length.",
    "Status shows whether the daemon answers /coevo/ping; below it the key and tempo from /coevo/state.",
    "Try it without Live: click the three messages below (begin, notes, end) and read the Max console.",
]
VISUAL_HELP = [
    "coevo_visual: the visual OSC stream of `coevo run --visuals` in Max/Jitter.",
    "It subscribes to the daemon's events on port 9103 (each second) and shows the frame's five main colours",
    "(/coevo/visual/palette, darkest first) in a Jitter matrix, the visual energy, and the bar and beat.",
    "Build on it: the matrix is named coevo_palette (3 planes float32, 5x1); route more addresses from the",
    "udpreceive: /coevo/visual/valence, /coevo/visual/arousal, /coevo/visual/latent (8 floats).",
    "Try it without the daemon: click the messages below; they go to the patch over UDP port 9103.",
]
CONTROL_HELP = [
    "coevo_control: steer the Coevo daemon from Max (no Live needed).",
    "It sends to the daemon on port 9100 and subscribes to its events on port 9102, so it can run beside",
    "the Max for Live device (which listens on 9101). Like/Dislike, the mood pad, the axis dials, Bars and",
    "Generate work as in the device; phrases are shown, not written into clips.",
]


def amxd(patcher: dict[str, Any], device_type: bytes = b"mmmm") -> bytes:
    """A Max for Live device file holding ``patcher``."""
    body = json.dumps(patcher, indent=1).encode("utf-8") + b"\0"
    return (b"ampf" + struct.pack("<I", 4) + device_type + b"meta" + struct.pack("<I", 4) + b"\0\0\0\0"
            + b"ptch" + struct.pack("<I", len(body)) + body)


def outputs() -> dict[str, bytes]:
    dev, ctl, vis = device().to_json(), control().to_json(), visual().to_json()
    text = lambda d: (json.dumps(d, indent=1) + "\n").encode("utf-8")  # noqa: E731
    return {
        "coevo_device.maxpat": text(dev),
        "coevo_device.amxd": amxd(dev),
        "coevo_device.maxhelp": text(help_patch("coevo_device.maxpat", DEVICE_HELP).to_json()),
        "coevo_control.maxpat": text(ctl),
        "coevo_control.maxhelp": text(help_patch("coevo_control.maxpat", CONTROL_HELP).to_json()),
        "coevo_visual.maxpat": text(vis),
        "coevo_visual.maxhelp": text(help_patch("coevo_visual.maxpat", VISUAL_HELP, visual=True).to_json()),
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, data in outputs().items():
        path = HERE / name
        if check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python max_patches/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
