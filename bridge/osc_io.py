"""OSC over UDP: parse and validate what arrives, hand commands on, send replies and events.

One socket serves both directions, so replies (pong, errors) come from the port the sender used.
The receive thread only parses, validates and enqueues; it never touches the control state.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from pythonosc.osc_packet import OscPacket, ParseError

from bridge.errors import InputError
from bridge.osc_map import MAX_SUBSCRIBED, OUTBOUND, validate

__all__ = ["Command", "OscEndpoint", "RateLimitedLog", "encode_bundle", "encode_message"]

log = logging.getLogger(__name__)

Target = tuple[str, int]


@dataclass(frozen=True)
class Command:
    """A validated message from outside, ready for the control thread."""

    path: str
    args: tuple[object, ...]
    sender: Target | None
    received: float  # time.monotonic() at arrival


class RateLimitedLog:
    """Logs a warning at most once per ``interval`` seconds per code, counting what it held back."""

    def __init__(self, logger: logging.Logger, interval: float = 2.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, code: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[code] = self.counts.get(code, 0) + 1
            if now - self._last.get(code, -1e9) < self.interval:
                self._held[code] = self._held.get(code, 0) + 1
                return
            held = self._held.pop(code, 0)
            self._last[code] = now
        suffix = f" ({held} more like it held back)" if held else ""
        self.logger.warning("%s: %s%s", code, message, suffix)


def _osc_string(text: str) -> bytes:
    data = text.encode()
    return data + b"\0" * (4 - len(data) % 4)  # null-terminated, padded to 4 bytes


def encode_message(path: str, args: Sequence[object]) -> bytes:
    """An OSC message of types i (ints and bools), f (floats) and s (anything else, as text), the only
    types Pure Data vanilla reads. One struct.pack for all arguments: a phrase's notes, 64 groups of
    five, take a tenth of the time python-osc's builder does, on the control thread."""
    tags, fmt, values = [","], [">"], []
    for value in args:
        if isinstance(value, int):  # bool too
            tags.append("i")
            fmt.append("i")
            values.append(int(value))
        elif isinstance(value, float):
            tags.append("f")
            fmt.append("f")
            values.append(value)
        else:
            data = _osc_string(str(value))
            tags.append("s")
            fmt.append(f"{len(data)}s")
            values.append(data)
    return _osc_string(path) + _osc_string("".join(tags)) + struct.pack("".join(fmt), *values)


def encode_bundle(messages: Sequence[bytes]) -> bytes:
    """An OSC bundle of encoded messages, to be applied immediately (time tag 1)."""
    return b"#bundle\0" + struct.pack(">Q", 1) + b"".join(struct.pack(">i", len(m)) + m for m in messages)


class OscEndpoint:
    """Receives commands on ``host:port`` and sends events to the event targets."""

    def __init__(self, host: str, port: int, targets: Iterable[Target], allow: Iterable[str],
                 on_command: Callable[[Command], None]) -> None:
        self.on_command = on_command
        self.targets: list[Target] = list(dict.fromkeys(targets))
        self._configured = frozenset(self.targets)
        self.allowed = self._allowed_hosts(host, allow)
        self.errors = RateLimitedLog(log)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            raise OSError(f"cannot listen for OSC on {host}:{port}: {err.strerror}; is another "
                          f"coevo running? choose another port with --osc-port") from err
        self.sock.settimeout(0.2)
        self.address: Target = self.sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="coevo-osc", daemon=True)
        self._send_lock = threading.Lock()

    @staticmethod
    def _allowed_hosts(host: str, allow: Iterable[str]) -> frozenset[str] | None:
        """None serves everyone (loopback binding); otherwise only these sender addresses."""
        if ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            return None
        return frozenset({"127.0.0.1", *(socket.gethostbyname(h) for h in allow)})

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # stop() after a start that failed half-way
            self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.handle_datagram(data, sender)

    def handle_datagram(self, data: bytes, sender: Target) -> None:
        """Parse one datagram; enqueue each valid message, answer each bad one with /coevo/error."""
        if self.allowed is not None and sender[0] not in self.allowed:
            self.errors.warn("not_allowed", f"ignored OSC from {sender[0]}: not in --allow")
            return
        received = time.monotonic()
        try:
            messages = [m.message for m in OscPacket(data).messages]
        except (ParseError, ValueError, IndexError, TypeError) as err:  # python-osc raises more than ParseError on garbage
            self.reject(sender, InputError("malformed", f"not an OSC packet ({len(data)} bytes): {err}"))
            return
        for msg in messages:
            try:
                args = validate(msg.address, list(msg.params))
            except InputError as err:
                self.reject(sender, err)
                continue
            self.on_command(Command(msg.address, args, sender, received))

    def reject(self, sender: Target, err: InputError) -> None:
        self.errors.warn(err.code, f"{err.detail} (from {sender[0]}:{sender[1]})")
        self.send_to(sender, "/coevo/error", (err.code, err.detail[:480]))

    def send_to(self, target: Target, path: str, args: Sequence[object]) -> None:
        if path not in OUTBOUND:
            raise ValueError(f"{path} is not in the outbound address map")
        self._send(encode_message(path, args), target, path)

    def _send(self, data: bytes, target: Target, what: str) -> None:
        try:
            with self._send_lock:
                self.sock.sendto(data, target)
        except OSError as err:
            self.errors.warn("send_failed", f"cannot send {what} to {target[0]}:{target[1]}: {err.strerror}")

    def broadcast(self, path: str, args: Sequence[object]) -> None:
        if path not in OUTBOUND:
            raise ValueError(f"{path} is not in the outbound address map")
        data = encode_message(path, args)
        for target in list(self.targets):
            self._send(data, target, path)

    def broadcast_bundle(self, messages: Sequence[tuple[str, Sequence[object]]]) -> None:
        """One OSC bundle (timetag: immediately) of these messages to every event target."""
        for path, _ in messages:
            if path not in OUTBOUND:
                raise ValueError(f"{path} is not in the outbound address map")
        data = encode_bundle([encode_message(path, args) for path, args in messages])
        for target in list(self.targets):
            self._send(data, target, "a bundle")

    def subscribe(self, target: Target) -> None:
        """Send events to ``target`` too; past MAX_SUBSCRIBED subscriptions the oldest one is dropped
        (the configured targets are never dropped)."""
        if target in self.targets:
            return
        targets = list(self.targets)  # replaced whole below: broadcasts on other threads iterate the old list
        subscribed = [t for t in targets if t not in self._configured]
        if len(subscribed) >= MAX_SUBSCRIBED:
            targets.remove(subscribed[0])
            log.info("OSC events no longer go to %s:%d: %d targets subscribed is the most", *subscribed[0], MAX_SUBSCRIBED)
        self.targets = [*targets, target]
        log.info("OSC events now also go to %s:%d", *target)

    def unsubscribe(self, target: Target) -> None:
        """Stop sending events to ``target``. Raises InputError if none go there."""
        if target not in self.targets:
            raise InputError("not_subscribed", f"no events go to {target[0]}:{target[1]}")
        self.targets = [t for t in self.targets if t != target]
        log.info("OSC events no longer go to %s:%d", *target)
