"""Sound input through PortAudio's JACK host API on the dummy JACK server, fed by jack_metro (a known click
track: 880 Hz beeps at a set tempo and amplitude)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from bridge.errors import SoundError
from bridge.jack_tools import JackServer, jack_ports
from bridge.sound_in import SoundInput
from tests.conftest import NO_MIDI_BACKEND, Models, require

pytestmark = [pytest.mark.jack, pytest.mark.peer]

DEVICE = "system JACK"  # PortAudio's JACK device, matched by name words


class Metronome:
    def __init__(self, bpm: int, amplitude: float, name: str) -> None:
        self.port = f"{name}:{bpm}_bpm"
        self.proc = subprocess.Popen([require("jack_metro"), "-b", str(bpm), "-A", str(amplitude), "-n", name],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, self.proc, 5, "jack_metro did not start")

    def connect(self, to: str) -> None:
        subprocess.run(["jack_connect", self.port, to], check=True)

    def disconnect(self, to: str) -> None:
        subprocess.run(["jack_disconnect", self.port, to], check=True)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


@pytest.fixture
def metronomes(jack_server: JackServer) -> Iterator[Callable[[int, float], Metronome]]:
    made: list[Metronome] = []

    def make(bpm: int, amplitude: float) -> Metronome:
        made.append(Metronome(bpm, amplitude, f"metro{len(made)}"))
        return made[-1]

    yield make
    for m in made:
        m.stop()


def _wait_for_port(name: str, proc: subprocess.Popen, seconds: float, failure: str) -> None:
    """Until a JACK port whose name contains ``name`` is there; ``proc``, which makes it, must stay up."""
    end = time.monotonic() + seconds
    while name not in jack_ports():
        assert time.monotonic() < end and proc.poll() is None, failure
        time.sleep(0.05)


def _our_input_port() -> str:
    ports = jack_ports().split()
    ours = [p for p in ports if p.startswith("PortAudio") and ":in" in p]
    assert ours, f"no PortAudio input port among {ports}"
    return ours[-1]


def _hear(sound: SoundInput, seconds: float) -> None:
    """Wait until ``seconds`` more of audio have been heard: under xruns JACK's dummy driver drops
    cycles, and wall time runs ahead of the audio."""
    until, give_up = sound.heard_s + seconds, time.monotonic() + 4 * seconds
    while sound.heard_s < until:
        assert time.monotonic() < give_up, f"heard {sound.heard_s - until + seconds:.2f} s of audio in {4 * seconds} s"
        time.sleep(0.05)


def test_a_metronome_reads_as_its_level_tempo_and_pitch(metronomes: Callable[[int, float], Metronome]) -> None:
    loud, quiet = metronomes(240, 0.5), metronomes(240, 0.02)
    sound = SoundInput(DEVICE)
    sound.start()
    try:
        port = _our_input_port()
        time.sleep(1.0)
        silence = sound.features()
        loud.connect(port)
        _hear(sound, 4.5)  # the onset rate is counted over the last 4 s of audio
        heard = sound.features()
        loud.disconnect(port)
        quiet.connect(port)
        time.sleep(1.5)
        soft = sound.features()
    finally:
        sound.stop()
    assert sound.blocks > 100 and silence.level == 0.0 and silence.onset_rate == 0.0
    assert 3.5 <= heard.onset_rate <= 4.5  # 240 BPM: four clicks a second
    assert abs(heard.centroid_hz - 880) < 100  # jack_metro beeps at 880 Hz
    assert heard.energy > silence.energy + 0.3 and heard.arousal > silence.arousal + 0.5
    assert heard.level > soft.level + 0.2  # -28 dB quieter reads quieter


def test_a_glitch_in_the_input_moves_the_pitch_reading_little(jack_server: JackServer) -> None:
    """An xrun or a cable knock arrives as a block of broadband noise: it reads as a spectrum centred kHz
    above the room's, and the centroid is the median of the last loud blocks, so a few such blocks
    among a tone's do not move it."""
    sound = SoundInput(DEVICE)  # not started: its blocks are fed here
    rng = np.random.default_rng(0)
    t = np.arange(512) / sound.rate
    for i in range(20):
        tone = 0.5 * np.sin(2 * np.pi * 880 * (t + i * 512 / sound.rate))
        glitch = i in (5, 11, 17)
        block = rng.uniform(-0.9, 0.9, 512) if glitch else tone
        sound._block(block.astype(np.float32)[:, None], 512, None, None)
        if glitch:
            assert abs(sound.features().centroid_hz - 880) < 100
    sound.stop()


def test_onsets_are_counted_on_the_audio_clock_not_by_arrival(jack_server: JackServer) -> None:
    """A busy machine hands blocks over late and in bursts: five seconds of a 240 BPM click track
    handed over at once still read four onsets a second."""
    sound = SoundInput(DEVICE)  # not started: its blocks are fed here
    n = int(5.0 * sound.rate)
    t = np.arange(n) / sound.rate
    clicks = np.where(t % 0.25 < 0.03, 0.5 * np.sin(2 * np.pi * 880 * t), 0.0).astype(np.float32)
    for i in range(0, n - 512 + 1, 512):
        sound._block(clicks[i:i + 512, None], 512, None, None)
    heard = sound.features()
    sound.stop()
    assert sound.heard_s == pytest.approx(n // 512 * 512 / sound.rate)
    assert 3.75 <= heard.onset_rate <= 4.25


def test_an_unknown_device_says_which_there_are(jack_server: JackServer) -> None:
    with pytest.raises(SoundError, match="(?s)cannot open sound input 'no such mic'.*system"):
        SoundInput("no such mic")


def test_doctor_lists_the_jack_inputs(jack_server: JackServer) -> None:
    out = subprocess.run([sys.executable, "-m", "bridge.cli", "doctor", "--sound-in", DEVICE, "--osc-port", "0"],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert "[ok] sound inputs: " in out.stdout and "system (JACK Audio Connection Kit, 2 in)" in out.stdout, out.stdout


def test_the_room_moves_visual_energy_and_arousal_in_the_daemon(make_daemon: Callable,
                                                               metronomes: Callable[[int, float], Metronome]) -> None:
    metro = metronomes(240, 0.5)
    daemon, peer = make_daemon(sound_in=DEVICE, visuals=True, visual_port=0, autostart=False, apply="now")
    port = _our_input_port()
    peer.send(daemon.osc.address, "/coevo/mood", "sad")  # arousal -0.5
    time.sleep(1.0)
    quiet_energy = [float(a[0]) for p, a in peer.receive(0.5) if p == "/coevo/visual/energy"]
    metro.connect(port)
    time.sleep(2.0)
    loud_energy = [float(a[0]) for p, a in peer.receive(0.5) if p == "/coevo/visual/energy"]
    assert len(quiet_energy) > 10 and max(quiet_energy) < 0.05  # transport stopped: no notes, and a silent room
    assert len(loud_energy) > 10 and min(loud_energy[-10:]) > 0.3  # the newest: the last third of a second
    daemon.start_transport()  # bar lines: the sound pulls arousal up from sad
    time.sleep(4.0)
    assert daemon.state.values.arousal > -0.4 and daemon.state.values.valence == pytest.approx(-0.7)


@pytest.fixture
def own_server(jack_server: JackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JackServer]:
    """A JACK server of the test's own, to stop under the sound input (the shared one is put back after)."""
    monkeypatch.setenv("JACK_DEFAULT_SERVER", jack_server.name)
    server = JackServer(f"coevo-test-sound-{os.getpid()}", tmp_path / "jackd.log")
    yield server
    server.stop()


LISTENER = """
import sys
from bridge.sound_in import SoundInput
sound = SoundInput(sys.argv[1])
sound.start()
for line in sys.stdin:  # one reading per line asked
    f = sound.features()
    print(f"{f.level:.3f} {f.onset_rate:.2f} {sound.gone}", flush=True)
sound.stop()
"""


def test_a_sound_input_whose_server_goes_away_reads_silent_and_lets_the_process_exit(
        own_server: JackServer, metronomes: Callable[[int, float], Metronome]) -> None:
    """PortAudio hangs in any call on a stream whose JACK server died, at exit too: the input reads as
    silence instead of its last sound, and the process still ends."""
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, DEVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        _wait_for_port("PortAudio", proc, 10, "the listener did not open its input")
        metronomes(240, 0.5).connect(_our_input_port())
        time.sleep(1.5)

        def reading() -> list[str]:
            proc.stdin.write("\n")
            proc.stdin.flush()
            return proc.stdout.readline().split()

        heard = reading()
        own_server.stop()
        time.sleep(2.0)
        after = reading()
        _, err = proc.communicate(timeout=10)  # end of input: the listener stops its input and exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert float(heard[0]) > 0.5 and heard[2] == "False"
    assert after == ["0.000", "0.00", "True"]
    assert proc.returncode == 0 and "went away; left open" in err, err


def test_the_daemon_says_its_sound_input_went_away_and_stops_cleanly(own_server: JackServer, models: Models,
                                                                      tmp_path: Path) -> None:
    env = {**os.environ, "MIDO_BACKEND": NO_MIDI_BACKEND, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "bridge.cli", "run", "--model", str(models.generator), "--osc-port", "0",
           "--data-dir", str(tmp_path), "--sound-in", DEVICE]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).parent.parent)
    try:
        _wait_for_port("PortAudio", proc, 20, "the daemon did not open its sound input")
        time.sleep(1.0)
        own_server.stop()
        time.sleep(3.0)  # the daemon looks every second
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "went away (its device unplugged or its sound server stopped)" in out, out
