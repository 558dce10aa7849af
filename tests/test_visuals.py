"""The visualizer on real parts: the shipped art model, OSC bundles caught by oscdump, the page in headless
Chromium, PNG recording read back with Pillow, and the pieces it is made of."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from bridge.config import Config
from bridge.daemon import Daemon
from bridge.generation import ArtModel
from bridge.phrase import Note, Phrase
from bridge.state import ControlState
from bridge.visual_outputs import png_bytes
from bridge.visuals import MusicFeatures, Score, VisualDriver, palette, principal_directions, upscale
from models.shipped import shipped_model
from tests.conftest import free_udp_port, require

ART = shipped_model("art")


@pytest.fixture(scope="module")
def art() -> ArtModel:
    assert ART is not None, "the shipped art model is missing"
    return ArtModel(ART, ["CPUExecutionProvider"])


def _phrase(pid: str, start: float, onsets: list[float], velocity: int = 100) -> Phrase:
    notes = [Note(60, t, 0.25, velocity, "melody") for t in onsets]
    return Phrase(pid, 1, notes, [0.0] * 8, {}, (0.0, 0.0), 0, start)


def test_energy_jumps_on_each_onset_and_fades_within_a_beat() -> None:
    score = Score(("drums",))
    score.add(_phrase("a", 4.0, [0.0, 1.0, 2.0]))
    before, on, after = (score.features(b).energy for b in (4.99, 5.0, 5.5))
    assert on > before + 0.2 and on > after + 0.2  # the flash lands on the note, not before it
    assert score.features(3.0).energy == 0.0  # nothing has played yet
    louder = Score(("drums",))
    louder.add(_phrase("b", 4.0, [0.0, 1.0, 2.0], velocity=127))
    quiet = Score(("drums",))
    quiet.add(_phrase("c", 4.0, [0.0, 1.0, 2.0], velocity=30))
    assert louder.features(5.0).energy > quiet.features(5.0).energy


def test_a_replaced_phrase_leaves_the_score_and_old_ones_are_pruned() -> None:
    score = Score(())
    score.add(_phrase("a", 0.0, [0.0, 1.0]))
    score.add(_phrase("b", 0.0, [0.5]), replaces="a")
    assert score.features(1.0).energy < score.features(0.5).energy  # a's note at beat 1 is gone
    score.prune(100.0)
    assert score.features(0.5).energy == 0.0


def test_motion_speeds_up_with_the_music_energy(art: ArtModel) -> None:
    state = ControlState(8, (), alpha=0.5, seed=0, tonic="C", mode="major", density=0.5, bars=2).values

    def travelled(energy: float) -> float:
        driver = VisualDriver(art, 8, seed=3)
        music = MusicFeatures(energy, 1.0, 60.0, 0.5, 0.0)
        driver.step(state, music, 1 / 30, 0.0)
        start = driver.z.copy()
        for _ in range(30):
            driver.step(state, music, 1 / 30, 2 / 30)  # 120 BPM
        return float(np.linalg.norm(driver.z - start))

    assert travelled(1.0) > 2 * travelled(0.0)


def test_codes_follow_the_music_and_breathe_on_the_beat(art: ArtModel) -> None:
    state = ControlState(8, (), alpha=0.5, seed=0, tonic="C", mode="major", density=0.5, bars=2).values
    names = art.contract.code_names

    def settle(music: MusicFeatures) -> dict[str, float]:
        driver = VisualDriver(art, 8)
        for _ in range(60):
            driver.step(state, music, 1 / 30, 0.0)
        return dict(zip(names, driver.codes))

    on_beat, off_beat = settle(MusicFeatures(0.3, 2.0, 60, 0.5, 0.0)), settle(MusicFeatures(0.3, 2.0, 60, 0.5, 0.5))
    low, high = settle(MusicFeatures(0.3, 2.0, 40, 0.5, 0.5)), settle(MusicFeatures(0.3, 2.0, 84, 0.5, 0.5))
    soft, loud = settle(MusicFeatures(0.3, 2.0, 60, 0.2, 0.5)), settle(MusicFeatures(0.3, 2.0, 60, 0.9, 0.5))
    assert on_beat["contrast"] > off_beat["contrast"] + 0.2
    assert low["warmth"] > high["warmth"] + 1.0 and loud["saturation"] > soft["saturation"] + 1.0


def test_palette_finds_the_main_colours_darkest_first() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)
    image[:, 32:] = (20, 20, 120)
    image[:8, :8] = (250, 250, 250)
    colours = palette(image)
    assert colours.shape == (5, 3) and np.all((colours >= 0) & (colours <= 1))
    lum = colours @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(lum) >= 0)
    for wanted in ((200, 30, 30), (20, 20, 120), (250, 250, 250)):
        assert np.min(np.abs(colours - np.array(wanted) / 255).max(axis=1)) < 0.02


def test_upscale_is_smooth_and_keeps_the_picture() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    big = upscale(small, 128)
    assert big.shape == (128, 128, 3) and big.dtype == np.uint8
    assert np.abs(big.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3)) - small).mean() < 30
    step = np.abs(np.diff(big.astype(int), axis=1)).mean()
    assert step < np.abs(np.diff(small.astype(int), axis=1)).mean()  # neighbours closer: interpolated


def test_principal_directions_are_orthonormal_and_ordered_by_visible_change(art: ArtModel) -> None:
    basis = principal_directions(art, 8)
    assert basis.shape == (8, art.contract.latent_size)
    assert np.allclose(basis @ basis.T, np.eye(8), atol=1e-6)
    z = np.random.default_rng(1).standard_normal((32, art.contract.latent_size)).astype(np.float32)
    zeros = (np.zeros((32, 2), np.float32), np.zeros((32, 3), np.float32))

    def change(direction: np.ndarray) -> float:
        return float(np.abs(art.render(z + 1.5 * direction, *zeros) - art.render(z, *zeros)).mean())

    assert change(basis[0]) > change(basis[-1])


def test_png_frames_read_back_with_pillow() -> None:
    image = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    read = np.asarray(Image.open(io.BytesIO(png_bytes(image))).convert("RGB"))
    assert np.array_equal(read, image)


# ---- the daemon with --visuals ----------------------------------------------------------------------

def _visual_lines(out: str) -> dict[str, list[list[str]]]:
    got: dict[str, list[list[str]]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and (parts[1].startswith("/coevo/visual/") or parts[1] == "/coevo/beat"):
            got.setdefault(parts[1], []).append(parts[2:])
    return got


@pytest.mark.peer
def test_visual_bundles_reach_oscdump_at_frame_rate_and_follow_emotion(make_daemon: Callable) -> None:
    oscdump = require("oscdump")
    dump_port = free_udp_port()
    dump = subprocess.Popen(["stdbuf", "-oL", oscdump, "-L", str(dump_port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.3)
        daemon, peer = make_daemon(event_port=dump_port, visuals=True, visual_port=0, apply="now", visual_fps=30.0)
        time.sleep(1.0)
        peer.send(daemon.osc.address, "/coevo/emotion", -0.8, 0.9)
        started = time.monotonic()
        time.sleep(3.0)
        seconds = time.monotonic() - started + 1.0
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=5)
    got = _visual_lines(out)
    assert set(got) == {"/coevo/visual/palette", "/coevo/visual/energy", "/coevo/visual/valence",
                        "/coevo/visual/arousal", "/coevo/visual/latent", "/coevo/beat"}
    assert len(got["/coevo/visual/palette"]) >= 15 * seconds  # target 30 fps; half of it on a loaded CI machine
    palette_args = got["/coevo/visual/palette"][-1]
    assert palette_args[0] == "f" * 15 and all(0.0 <= float(x) <= 1.0 for x in palette_args[1:])
    assert got["/coevo/visual/latent"][-1][0] == "f" * 8
    assert got["/coevo/beat"][-1][0] == "ii" and 1 <= int(got["/coevo/beat"][-1][2]) <= 4
    valence = [float(a[1]) for a in got["/coevo/visual/valence"]]
    arousal = [float(a[1]) for a in got["/coevo/visual/arousal"]]
    assert abs(valence[0]) < 0.05 and valence[-1] < -0.7 and arousal[-1] > 0.8  # moved there, smoothly
    assert max(abs(b - a) for a, b in zip(valence, valence[1:])) < 0.2
    energy = [float(a[1]) for a in got["/coevo/visual/energy"]]
    assert max(energy) > 0.3 and min(energy) < max(energy) - 0.2  # it pulses with the notes
    assert daemon.visualizer is not None and daemon.visualizer.frames > 0


@pytest.mark.peer
def test_the_page_draws_in_headless_chromium_and_changes_colour_with_emotion(make_daemon: Callable,
                                                                           tmp_path: Path) -> None:
    chromium = require("chromium")
    daemon, peer = make_daemon(visuals=True, visual_port=0, apply="now", emotion_model="")
    peer.send(daemon.osc.address, "/coevo/emotion", -0.9, -0.9)
    assert daemon.web is not None
    host, port = daemon.web.address
    page = urllib.request.urlopen(f"http://{host}:{port}/", timeout=5).read().decode()
    assert "<canvas" in page and "http" not in page.split("<script>")[1]  # no external resources
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"http://{host}:{port}/nothing", timeout=5)
    browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                                "--window-size=640,480", f"http://{host}:{port}/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def report(after: float = 0.0, timeout: float = 30.0) -> dict:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                reports = list(daemon.web.reports.values())
                if reports and reports[0].get("drawn", 0) > after:
                    return dict(reports[0])
                time.sleep(0.1)
            raise AssertionError(f"the page reported no frames within {timeout} s (browser rc {browser.poll()})")

        first = report()
        time.sleep(2.5)  # emotion smoothing settles
        dark = report(first["drawn"])
        assert dark["lit"] > 0.5 and dark["width"] == 640  # not blank, and the canvas fills the window
        assert dark["drawn"] > first["drawn"] and dark["frame"] > first["frame"]  # frames advance
        peer.send(daemon.osc.address, "/coevo/emotion", 0.9, 0.9)
        time.sleep(3.0)
        bright = report(dark["drawn"])
        assert bright["drawn"] - dark["drawn"] > 30  # still drawing, more than 10 frames a second
    finally:
        browser.terminate()
        browser.wait(timeout=10)
    change = np.abs(np.array(bright["mean"]) - np.array(dark["mean"])).sum()
    assert change > 15, f"the page's mean colour hardly changed: {dark['mean']} -> {bright['mean']}"


def test_record_writes_the_frames_into_the_session_folder(make_daemon: Callable) -> None:
    daemon, _ = make_daemon(record=True, visual_port=0)
    time.sleep(1.5)
    daemon.stop()
    assert daemon.session is not None
    frames = sorted((daemon.session.path / "frames").glob("frame_*.png"))
    assert len(frames) >= 20 and frames[0].name == "frame_000001.png"
    images = []
    for f in (frames[0], frames[-1]):
        with Image.open(f) as image:
            images.append(np.asarray(image))
    assert images[0].shape == (128, 128, 3) and not np.array_equal(images[0], images[1])


def test_a_taken_visuals_port_is_a_clear_error_and_writes_nothing(tmp_path: Path, models, monkeypatch) -> None:
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.coevo_test_no_such_backend")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    cfg = Config(model=str(models.generator), osc_port=0, data_dir=str(tmp_path / "data"), visuals=True,
                 visual_port=taken.getsockname()[1])
    daemon = Daemon(cfg.validate())
    try:
        with pytest.raises(OSError, match="--visual-port"):
            daemon.start()
    finally:
        daemon.stop()
        taken.close()
    assert not (tmp_path / "data").exists()


def test_visuals_need_an_art_model_that_is_one(tmp_path: Path, models) -> None:
    cfg = Config(model=str(models.generator), osc_port=0, data_dir=str(tmp_path), visuals=True,
                 art_model=str(models.emotion))
    with pytest.raises(Exception, match="an art model was expected"):
        Daemon(cfg.validate())


def test_bad_frames_settings_are_refused() -> None:
    with pytest.raises(Exception, match="visual_fps must be in"):
        Config(visual_fps=500.0).validate()


def test_viewer_reports_that_are_not_json_change_nothing(make_daemon: Callable) -> None:
    import asyncio

    import websockets

    daemon, _ = make_daemon(visuals=True, visual_port=0)
    host, port = daemon.web.address

    async def talk() -> tuple[bytes, dict]:
        async with websockets.connect(f"ws://{host}:{port}/frames") as ws:
            await ws.send("not json {")
            await ws.send(json.dumps({"drawn": 3, "lit": 1.0}))
            frame = None
            while not isinstance(frame, bytes):
                frame = await ws.recv()
            await asyncio.sleep(0.3)
            return frame, dict(next(iter(daemon.web.reports.values())))

    frame, report = asyncio.run(talk())
    assert frame[:4] == b"CVF1" and len(frame) == 12 + 128 * 128 * 3
    assert report == {"drawn": 3, "lit": 1.0}
    assert daemon.visualizer.frames > 0 and os.environ.get("MIDO_BACKEND")
