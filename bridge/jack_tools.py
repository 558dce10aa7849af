"""JACK helpers for `coevo bench live` and the tests: a dummy-driver server and jack_midi_dump as a peer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["JackServer", "MidiDump", "jack_ports", "RATE", "PERIOD"]

RATE = 48000
PERIOD = 64  # frames per cycle: 1.33 ms at RATE
_LINE = re.compile(r"^\s*(\d+):\s+([0-9a-f]{2})(?:\s+([0-9a-f]{2}))?(?:\s+([0-9a-f]{2}))?")


def jack_ports() -> str:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout  # stderr too: no noise when none runs


class JackServer:
    """``jackd -d dummy`` at 48 kHz with a 64-frame period, realtime where the machine allows it."""

    def __init__(self, name: str, log_path: Path) -> None:
        if shutil.which("jackd") is None:
            raise FileNotFoundError("jackd is not installed (Debian: apt-get install jackd2)")
        realtime = subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode == 0
        self.name = name
        self.realtime = realtime
        self.log_path = log_path
        self._log: IO[str] = open(log_path, "w")
        env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
        self.proc = subprocess.Popen(["jackd", "-R" if realtime else "--no-realtime", "-n", name, "-d", "dummy",
                                      "-r", str(RATE), "-p", str(PERIOD)], stdout=self._log, stderr=subprocess.STDOUT, env=env)
        os.environ["JACK_DEFAULT_SERVER"] = name
        deadline = time.monotonic() + 10
        while subprocess.run(["jack_lsp"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jackd did not start: {log_path.read_text()}")
            time.sleep(0.1)

    def xruns(self) -> int:
        """How many times so far a client missed its cycle's deadline (the server logs each; JACK then
        drops the MIDI that client wrote or was to read in that cycle)."""
        return self._logged("JackEngine::XRun")

    def late_cycles(self) -> int:
        """How many times so far the driver woke too late for its cycle (the dummy driver on a busy
        machine); the server then restarts its timing from that moment, and its frame clock jumps
        against the wall clock."""
        return self._logged("JackTimedDriver::Process XRun")

    def _logged(self, line: str) -> int:
        return self.log_path.read_text(errors="replace").count(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self._log.close()


class MidiDump:
    """jack_midi_dump with absolute frame times, optionally connected to ``source``; parses its output."""

    def __init__(self, source: str | None, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(["stdbuf", "-oL", "jack_midi_dump", "-a", name], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while f"{name}:input" not in jack_ports() and time.monotonic() < deadline:
            time.sleep(0.05)
        if source is not None:
            subprocess.run(["jack_connect", source, f"{name}:input"], check=True)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def events(self) -> list[tuple[int, int, int, int]]:
        """(frame, status, data1, data2) of every event so far."""
        out = []
        for line in list(self.lines):
            m = _LINE.match(line)
            if m:
                out.append((int(m.group(1)), int(m.group(2), 16), int(m.group(3) or "0", 16),
                            int(m.group(4) or "0", 16)))
        return out

    def note_ons(self) -> list[tuple[int, int, int, int]]:
        """(frame, channel, pitch, velocity) of note-ons."""
        return [(f, s & 0x0F, d1, d2) for f, s, d1, d2 in self.events() if s & 0xF0 == 0x90 and d2 > 0]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self._reader.join(timeout=2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
