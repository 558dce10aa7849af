"""Fixtures on real parts: exported ONNX models, a JACK server (dummy driver), UDP OSC peers.

A test that needs a peer program fails when CI=true and the program is missing, and skips otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.config import Config
from bridge.daemon import Daemon
from bridge.jack_tools import JackServer

IN_CI = os.environ.get("CI", "").lower() == "true"
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
NO_MIDI_BACKEND = "mido.backends.coevo_test_no_such_backend"


def require(program: str) -> str:
    """Path of ``program``; fail under CI, skip elsewhere, when it is missing."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed (see .ci/run for the packages)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Models:
    generator: Path
    emotion: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Untrained generator and emotion models, exported through the real exporter (parity-checked)."""
    from export.cli import export_untrained

    folder = tmp_path_factory.mktemp("models")
    return Models(export_untrained("generator", folder / "gen.onnx", 1),
                  export_untrained("emotion", folder / "emo.onnx", 1))


class OscPeer:
    """A UDP OSC endpoint for tests: sends messages and collects what arrives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._held: list[tuple[str, tuple[object, ...]]] = []  # arrived, not yet handed out

    def send(self, target: tuple[str, int], path: str, *args: object) -> None:
        builder = OscMessageBuilder(path)
        for a in args:
            builder.add_arg(a)
        self.sock.sendto(builder.build().dgram, target)

    def send_raw(self, target: tuple[str, int], data: bytes) -> None:
        self.sock.sendto(data, target)

    def receive(self, timeout: float) -> list[tuple[str, tuple[object, ...]]]:
        """Every message that arrives within ``timeout`` seconds."""
        out, self._held = self._held, []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            for m in OscPacket(data).messages:
                out.append((m.message.address, tuple(m.message.params)))
        return out

    def wait_for(self, path: str, timeout: float = 5.0,
                 where: Callable[[tuple[object, ...]], bool] = lambda a: True) -> tuple[object, ...]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            batch = self.receive(0.05)
            for i, (p, args) in enumerate(batch):
                if p == path and where(args):
                    self._held = batch[i + 1:] + self._held
                    return args
        raise AssertionError(f"no {path} arrived within {timeout} s")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[OscPeer]:
    p = OscPeer()
    yield p
    p.close()


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JackServer]:
    """A JACK server with the dummy driver and a 64-frame period (the default server while it runs)."""
    require("jackd")
    require("jack_midi_dump")
    server = JackServer(f"coevo-test-{os.getpid()}", tmp_path_factory.mktemp("jack") / "jackd.log")
    yield server
    server.stop()


@pytest.fixture
def jack_midi(jack_server: JackServer, monkeypatch: pytest.MonkeyPatch) -> JackServer:
    monkeypatch.setenv("MIDO_BACKEND", JACK_BACKEND)
    return jack_server


@pytest.fixture
def make_daemon(tmp_path: Path, models: Models, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Daemon, OscPeer]]]:
    """Start daemons on an ephemeral OSC port, events to a fresh peer; MIDI off unless jack_midi is used."""
    if os.environ.get("MIDO_BACKEND") != JACK_BACKEND:
        monkeypatch.setenv("MIDO_BACKEND", NO_MIDI_BACKEND)
    started: list[tuple[Daemon, OscPeer]] = []

    def make(**settings: object) -> tuple[Daemon, OscPeer]:
        peer = OscPeer()
        values = dict(model=str(models.generator), emotion_model=str(models.emotion), osc_port=0,
                      event_port=peer.port, data_dir=str(tmp_path / "data"), bpm=240.0)
        values.update(settings)
        daemon = Daemon(Config(**values).validate())  # type: ignore[arg-type]
        daemon.start()
        started.append((daemon, peer))
        return daemon, peer

    yield make
    for daemon, peer in started:
        daemon.stop()
        peer.close()
