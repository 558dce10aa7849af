"""The projection page: http://127.0.0.1:8100/ serves one self-contained page, /frames streams the frames.

Over the WebSocket the daemon sends, per frame, one binary message: b"CVF1", uint32 frame number,
uint16 width, uint16 height (little-endian), then width*height RGB bytes; and, a few times a second,
one JSON text message with what the info overlay shows. The page answers every half second with a
JSON report of what it drew (frames drawn, mean colour of its canvas), which the daemon keeps per viewer
and logs, so "is the projector showing anything?" has an answer without looking.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bridge.visuals import VisualFrame

__all__ = ["WebView"]

log = logging.getLogger(__name__)
_ws_log = logging.getLogger(__name__ + ".websockets")  # the library's per-connection lines, only when they matter
_ws_log.setLevel(logging.WARNING)

INFO_EVERY = 6  # frames between two info messages
MAX_REPORT_BYTES = 4096


def page() -> bytes:
    return (Path(__file__).parent / "web" / "visual.html").read_bytes()


class WebView:
    """The page and its WebSocket, served from an asyncio loop on a thread of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.address: tuple[str, int] = (host, port)
        self.reports: dict[str, dict[str, Any]] = {}  # viewer "host:port" -> its latest report
        self._page = page()
        self._loop = asyncio.new_event_loop()
        self._frame: bytes = b""
        self._info: str = "{}"
        self._seq = 0
        self._cond: asyncio.Condition | None = None
        self._server: Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="coevo-web", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the visualizer's web server did not start")
        if self._error is not None:
            raise self._error
        log.info("visuals on http://%s:%d/", *self.address)

    def stop(self) -> None:
        if self._thread.is_alive() and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def publish(self, frame: VisualFrame) -> None:
        """Called by the visual thread: the newest frame replaces any a slow viewer has not taken yet."""
        h, w, _ = frame.image.shape
        data = b"CVF1" + struct.pack("<IHH", frame.index, w, h) + frame.image.tobytes()
        info = None
        if frame.index % INFO_EVERY == 1:
            info = json.dumps({"frame": frame.index, "fps": round(frame.fps, 1), "bar": frame.bar, "beat": frame.beat,
                               "valence": round(frame.valence, 3), "arousal": round(frame.arousal, 3),
                               "energy": round(frame.energy, 3),
                               "palette": [[round(float(x), 3) for x in c] for c in frame.palette],
                               "viewers": len(self.reports)})
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._set_frame, data, info)

    # ---- the loop's side --------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._open())
        except OSError as err:
            self._error = OSError(f"cannot serve the visuals on {self.host}:{self.port}: {err.strerror}; is another "
                                  f"coevo running? choose another port with --visual-port")
            self._loop.close()  # before start() hears of it, so that a stop() after the error finds it closed
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            if self._server is not None:
                self._server.close()
                self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

    async def _open(self) -> None:
        self._cond = asyncio.Condition()
        self._server = await serve(self._client, self.host, self.port, process_request=self._http,
                                   max_size=MAX_REPORT_BYTES, compression=None, logger=_ws_log)
        sock = next(iter(self._server.sockets))
        self.address = sock.getsockname()[:2]

    def _set_frame(self, data: bytes, info: str | None) -> None:
        self._frame = data
        if info is not None:
            self._info = info
        self._seq += 1
        asyncio.ensure_future(self._notify())

    async def _notify(self) -> None:
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/frames":
            return None  # the WebSocket handshake goes on
        if request.path not in ("/", "/index.html"):
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such page {request.path}; the visuals are at /\n")
        headers = Headers([("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(self._page))),
                           ("Cache-Control", "no-store"), ("Connection", "close")])
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, self._page)

    async def _client(self, ws: ServerConnection) -> None:
        viewer = "%s:%d" % ws.remote_address[:2]
        log.info("viewer %s connected", viewer)
        reader = asyncio.ensure_future(self._read_reports(ws, viewer))
        seen, sent_info = 0, ""  # frame 0 is none yet
        assert self._cond is not None
        try:
            while True:
                async with self._cond:
                    await self._cond.wait_for(lambda: self._seq != seen)
                seen = self._seq
                if self._info != sent_info:
                    sent_info = self._info
                    await ws.send(sent_info)
                await ws.send(self._frame)
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            self.reports.pop(viewer, None)
            log.info("viewer %s left", viewer)

    async def _read_reports(self, ws: ServerConnection, viewer: str) -> None:
        async for message in ws:
            try:
                report = json.loads(message)
            except (TypeError, ValueError):
                log.debug("viewer %s sent something that is not JSON", viewer)
                continue
            if isinstance(report, dict):
                if viewer not in self.reports:
                    log.info("viewer %s draws %sx%s", viewer, report.get("width"), report.get("height"))
                self.reports[viewer] = report
