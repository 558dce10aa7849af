"""The Max patches in max_patches/: files parse, cords join existing boxes on valid inlets and outlets,
ports and addresses match the daemon, the .amxd container is well-formed, and the device's JavaScript
passes its Node tests against a fake LiveAPI."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config
from bridge.generation import Generator
from bridge.osc_map import INBOUND
from models.shipped import shipped_model
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
PATCHES = ROOT / "max_patches"
JS = PATCHES / "coevo_clip.js"
# (inlets, outlets) of each object class, from the Max 8 reference pages (independent of max_patches/build.py)
MAX_REFERENCE = {
    "live.thisdevice": (1, 3), "udpreceive": (1, 1), "udpsend": (1, 0), "metro": (2, 1), "loadbang": (1, 1),
    "prepend": (1, 1), "scale": (6, 1), "pak": (2, 1), "midiin": (1, 1), "midiout": (1, 0), "print": (1, 0),
    "message": (2, 1), "comment": (1, 0), "live.text": (1, 2), "live.dial": (1, 2), "live.numbox": (1, 2),
    "live.toggle": (1, 1), "pictslider": (2, 2), "bpatcher": (0, 0), "listfunnel": (1, 1), "%": (2, 1),
    "/": (2, 1), "jit.matrix": (1, 2), "jit.pwindow": (1, 2), "flonum": (1, 2), "number": (1, 2), "slider": (1, 1),
    # with n arguments: route has 2 inlets and n + 1 outlets; trigger and unpack n outlets; pack n inlets
    "route": lambda n: (2, n + 1), "t": lambda n: (1, n), "unpack": lambda n: (1, n), "pack": lambda n: (n, 1),
}
FILES = sorted(p.name for p in PATCHES.iterdir() if p.suffix in (".maxpat", ".maxhelp", ".amxd"))


def _patcher(name: str) -> dict[str, Any]:
    data = (PATCHES / name).read_bytes()
    if name.endswith(".amxd"):
        return json.loads(_amxd_chunks(data)["ptch"][:-1].decode("utf-8"))["patcher"]
    return json.loads(data.decode("utf-8"))["patcher"]


def _amxd_chunks(data: bytes) -> dict[str, bytes]:
    chunks, offset = {}, 0
    while offset < len(data):
        assert offset + 8 <= len(data), "truncated chunk header"
        tag = data[offset:offset + 4].decode("ascii")
        (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
        assert offset + 8 + size <= len(data), f"chunk {tag} runs past the end of the file"
        chunks[tag] = data[offset + 8:offset + 8 + size]
        offset += 8 + size
    return chunks


def _js_ports() -> tuple[int, int]:
    text = JS.read_text(encoding="utf-8")
    inlets = int(re.search(r"^inlets = (\d+);", text, re.M).group(1))  # type: ignore[union-attr]
    outlets = int(re.search(r"^outlets = (\d+);", text, re.M).group(1))  # type: ignore[union-attr]
    return inlets, outlets


def _boxes(patcher: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


def _kind(box: dict[str, Any]) -> str:
    return box["text"].split()[0] if box["maxclass"] == "newobj" else box["maxclass"]


def test_every_patch_is_listed() -> None:
    assert FILES == ["coevo_control.maxhelp", "coevo_control.maxpat", "coevo_device.amxd", "coevo_device.maxhelp",
                     "coevo_device.maxpat", "coevo_visual.maxhelp", "coevo_visual.maxpat"]


@pytest.mark.parametrize("name", FILES)
def test_cords_join_existing_boxes_on_valid_inlets_and_outlets(name: str) -> None:
    patcher = _patcher(name)
    boxes = _boxes(patcher)
    assert len(boxes) == len(patcher["boxes"]), "box ids must be unique"
    js_in, js_out = _js_ports()
    for box in boxes.values():
        kind = _kind(box)
        expected = (js_in, js_out) if kind == "js" else MAX_REFERENCE.get(kind)
        assert expected is not None, f"{name}: unknown object {kind}"
        if callable(expected):
            expected = expected(len(box["text"].split()) - 1)
        assert (box["numinlets"], box["numoutlets"]) == expected, f"{name}: {kind} declares wrong inlets/outlets"
        if kind == "js":
            assert box["text"].split()[1] == JS.name and JS.is_file()
    assert patcher["lines"], f"{name} has no patch cords"
    for line in patcher["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert src in boxes and dst in boxes, f"{name}: cord {src} -> {dst} joins a box that does not exist"
        assert 0 <= outlet < boxes[src]["numoutlets"], f"{name}: {src} has no outlet {outlet}"
        assert 0 <= inlet < boxes[dst]["numinlets"], f"{name}: {dst} has no inlet {inlet}"


def test_amxd_is_a_midi_effect_holding_the_maxpat() -> None:
    data = (PATCHES / "coevo_device.amxd").read_bytes()
    assert data[:4] == b"ampf" and struct.unpack("<I", data[4:8])[0] == 4
    chunks = _amxd_chunks(data)
    assert list(chunks) == ["ampf", "meta", "ptch"]
    assert chunks["ampf"] == b"mmmm"  # MIDI effect
    assert chunks["ptch"].endswith(b"\0")
    assert _patcher("coevo_device.amxd") == _patcher("coevo_device.maxpat")


def _sent_to_udpsend(patcher: dict[str, Any]) -> list[str]:
    boxes = _boxes(patcher)
    send = {i for i, b in boxes.items() if _kind(b) == "udpsend"}
    return [boxes[line["patchline"]["source"][0]]["text"] for line in patcher["lines"]
            if line["patchline"]["destination"][0] in send and boxes[line["patchline"]["source"][0]]["maxclass"] == "message"]


@pytest.mark.parametrize("name", ["coevo_device.maxpat", "coevo_control.maxpat"])
def test_ports_and_addresses_match_the_daemon(name: str) -> None:
    cfg = Config()
    patcher = _patcher(name)
    objects = [b["text"].split() for b in _boxes(patcher).values() if b["maxclass"] == "newobj"]
    sends = [o for o in objects if o[0] == "udpsend"]
    receives = [o for o in objects if o[0] == "udpreceive"]
    assert sends == [["udpsend", cfg.osc_host, str(cfg.osc_port)]]
    assert len(receives) == 1
    port = int(receives[0][1])
    messages = _sent_to_udpsend(patcher)
    if name == "coevo_device.maxpat":
        assert port == cfg.event_port  # where the daemon sends events by default
    else:
        assert f"/coevo/subscribe {port}" in messages and port != cfg.event_port
        assert ["js", JS.name, str(port)] in objects  # pings ask for the pong on that port
    assert len(messages) >= 8
    for text in messages:
        address, *args = text.split()
        spec = INBOUND.get(address)
        assert spec is not None, f"{name} sends {address}, which the daemon does not know"
        assert len(spec.args) <= len(args) <= len(spec.args) + len(spec.optional), text


def test_visual_patch_shows_the_daemons_visual_stream() -> None:
    from bridge.osc_map import OUTBOUND

    patcher = _patcher("coevo_visual.maxpat")
    boxes = _boxes(patcher)
    objects = [b["text"].split() for b in boxes.values() if b["maxclass"] == "newobj"]
    (receive,) = [o for o in objects if o[0] == "udpreceive"]
    assert f"/coevo/subscribe {receive[1]}" in _sent_to_udpsend(patcher)
    assert [o for o in objects if o[0] == "udpsend"] == [["udpsend", Config().osc_host, str(Config().osc_port)]]
    (route,) = [o for o in objects if o[0] == "route"]
    assert route[1:] == ["/coevo/visual/palette", "/coevo/visual/energy", "/coevo/beat"]
    assert all(a in OUTBOUND for a in route[1:])
    palette = OUTBOUND["/coevo/visual/palette"]
    (matrix,) = [o for o in objects if o[0] == "jit.matrix"]
    assert matrix[2:] == [str(len(palette.repeat)), "float32", "5", "1"]  # r g b planes, the 5 colours
    assert any(b["maxclass"] == "jit.pwindow" for b in boxes.values())


def test_js_pings_for_the_pong_on_the_daemons_event_port() -> None:
    text = JS.read_text(encoding="utf-8")
    default = re.search(r"jsarguments\[1\]\) : (\d+);", text)
    assert default is not None and int(default.group(1)) == Config().event_port


def test_device_dials_are_the_shipped_models_axes() -> None:
    names = Generator(shipped_model("generator"), ["CPUExecutionProvider"]).contract.code_names
    dials = [b["varname"] for b in _boxes(_patcher("coevo_device.maxpat")).values() if b["maxclass"] == "live.dial"]
    assert sorted(dials) == sorted(names)


@pytest.mark.parametrize("patch", ["coevo_device", "coevo_control"])
def test_each_patch_has_a_help_patch_that_opens_it(patch: str) -> None:
    help_patcher = _patcher(f"{patch}.maxhelp")
    boxes = _boxes(help_patcher).values()
    assert [b["name"] for b in boxes if b["maxclass"] == "bpatcher"] == [f"{patch}.maxpat"]
    assert sum(b["maxclass"] == "comment" for b in boxes) >= 4


def test_committed_patches_are_what_the_builder_writes() -> None:
    result = subprocess.run([sys.executable, str(PATCHES / "build.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_device_javascript_under_node_with_a_fake_liveapi() -> None:
    node = require("node")
    result = subprocess.run([node, "--test", str(ROOT / "tests" / "max" / "coevo_clip.test.js")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^# pass (\d+)", result.stdout, re.M) and "# fail 0" in result.stdout
