"""The daemon: input (OSC, MIDI) -> control state -> generation -> refinement -> output (MIDI, OSC, files).

Threads: the OSC receiver and the MIDI callback only parse and enqueue; the control thread owns
the state, runs inference ahead of the playhead and writes files; the timing thread (scheduler)
only sends MIDI at deadlines. ``start()`` waits until everything runs and re-raises start-up
errors; ``stop()`` silences every note, closes the journal and returns.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import queue
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mido
import numpy as np

from bridge.ableton import LivePusher, PushResult
from bridge.config import Config, config_to_toml
from bridge.errors import InputError, ModelError, PortError
from bridge.generation import (ArtModel, EmotionReader, Encoder, GenerationRequest, Generator, choose_providers,
                               model_precision, resolve_model_path)
from bridge.jack_clock import JackClock
from bridge.midi_io import MidiPorts, open_backend
from bridge.osc_io import Command, OscEndpoint, RateLimitedLog
from bridge.osc_map import MOODS
from bridge.phrase import BEATS_PER_BAR, Note, Phrase
from bridge.refine import RefineSettings, parse_key, refine_table
from bridge.scheduler import Scheduler
from bridge.session import Session
from bridge.sound_in import SoundInput
from bridge.state import ControlState
from bridge.transport import LinkClock, MidiClockFollower, Transport
from bridge.visual_outputs import OscVisuals, PngRecorder
from bridge.visuals import FrameSink, Score, VisualDriver, Visualizer
from bridge.web_view import WebView

__all__ = ["Daemon", "PhraseMaker"]

log = logging.getLogger(__name__)

LOOKAHEAD_BEATS = 6.0  # generate a phrase at least 1.5 bars before it starts (and a whole phrase ahead, see below)
OVERLAP_BEATS = 1.0  # ... plus this, so at a phrase boundary a later phrase is always there to take feedback
NOTE_CHUNK = 64
STALE_QUIET_S = 0.02
# commands that change what is generated; with apply = "bar" they wait for the next bar line
_STATE_CHANGES = {"/coevo/emotion", "/coevo/mood", "/coevo/nudge", "/coevo/axis", "/coevo/feedback/like", "/coevo/feedback/dislike",
                  "/coevo/key", "/coevo/bars", "/coevo/density", "/coevo/snapshot/recall", "/coevo/undo", "cc"}


@dataclass(frozen=True)
class _Bar:
    index: int


@dataclass(frozen=True)
class _Started:
    phrase: Phrase


@dataclass(frozen=True)
class _Pushed:
    phrase_id: str
    result: PushResult | None
    error: str


@dataclass(frozen=True)
class _Midi:
    t: float
    message: mido.Message


class PhraseMaker:
    """Generation plus refinement: the same inputs always give the same phrase (replay relies on it)."""

    def __init__(self, generator: Generator, cfg: Config) -> None:
        self.generator = generator
        self.cfg = cfg

    def make(self, phrase_id: str, start_beat: float, z: np.ndarray, codes: dict[str, float],
             emotion: tuple[float, float], bars: int, seed: int, threshold: float, tonic: int, mode: str) -> Phrase:
        contract = self.generator.contract
        code_vec = np.array([codes[n] for n in contract.code_names], dtype=np.float32)
        table = self.generator.generate(GenerationRequest(z, code_vec, emotion, bars, seed, threshold))
        length = float(bars * BEATS_PER_BAR)
        settings = RefineSettings.from_config(self.cfg, tonic, mode, emotion)
        table = refine_table(table, contract.tracks, contract.drum_tracks, length, settings, np.random.default_rng(seed))
        notes = table.to_notes(contract.tracks, 1)[0]
        return Phrase(phrase_id, bars, notes, [float(x) for x in z], dict(codes), emotion, seed, start_beat,
                      meta={"threshold": round(threshold, 6), "tonic": tonic, "mode": mode,
                            "played_mode": settings.played_mode, "half_time": settings.half_time,
                            "lift": settings.lift})


class Daemon:
    """The realtime bridge. Build it from a resolved Config; ``start()``, then ``stop()``."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        providers = choose_providers(cfg.providers)
        self.precision = model_precision(cfg.precision, providers)
        gen_path = resolve_model_path(cfg.model, "generator", self.precision)
        if gen_path is None:
            raise ModelError("no generator model: this install ships none; pass --model FILE.onnx "
                             "(make one with `coevo export`)")
        self.generator = Generator(gen_path, providers)
        log.info("generator %s on %s", gen_path, self.generator.provider)
        emo_path = resolve_model_path(cfg.emotion_model, "emotion", self.precision)
        self.emotion = EmotionReader(emo_path, providers) if emo_path else None
        if self.emotion is None:
            log.info("no emotion model: the performer's notes will not move the emotion state")
        self.encoder = self._load_encoder(providers)
        self._art = self._load_art(providers) if cfg.renders_visuals else None
        self.sound = SoundInput(cfg.sound_in) if cfg.sound_in else None  # opened here, started with the rest
        contract = self.generator.contract
        self.maker = PhraseMaker(self.generator, cfg)
        self.state = ControlState(contract.latent_size, contract.code_names, alpha=cfg.alpha, seed=cfg.seed,
                                  tonic=cfg.key, mode=cfg.mode, density=cfg.density, bars=cfg.bars)
        self.transport = Transport(cfg.bpm)
        self.queue: queue.Queue[Any] = queue.Queue()
        self.errors = RateLimitedLog(log)
        self.osc = OscEndpoint(cfg.osc_host, cfg.osc_port, [(cfg.event_host, cfg.event_port)], cfg.allow,
                               self.queue.put)
        backend, reason = open_backend()
        self.midi = MidiPorts(backend, reason, cfg.midi_out, cfg.midi_in, cfg.midi_client, self._on_midi)
        self.scheduler = Scheduler(self.transport, self.midi.send, lambda i: self.queue.put(_Bar(i)),
                                   lambda p: self.queue.put(_Started(p)))
        self.jack: JackClock | None = None  # on JACK: the server's clock, which also tells when the server goes
        self.cycle_clock: JackClock | None = None  # the same clock, when notes are aligned to its cycles
        self._jack_gone = False  # the server went away, and its ports and clock are closed
        self._sound_gone = False  # the sound input's device or server went away (said once)
        self.follower = MidiClockFollower(self.transport) if cfg.clock == "midi" else None
        self.link = LinkClock(self.transport, cfg.bpm) if cfg.clock == "link" else None
        self.session: Session | None = None
        self.pusher: LivePusher | None = None  # started on first use, or at start with ableton_push/ableton_tempo
        self.cc_map = dict(cfg.cc_map) or {str(21 + i): axis for i, axis in enumerate(contract.code_names)}
        self.learning: str | None = None
        self.score: Score | None = None  # what the visuals read the music from: made with them (_start_visuals)
        self.visualizer: Visualizer | None = None
        self.web: WebView | None = None
        self.pending: list[Command] = []  # state changes waiting for the bar line
        self.upcoming: list[Phrase] = []  # committed, not yet started
        self.recent: OrderedDict[str, Phrase] = OrderedDict()
        self.last_played: Phrase | None = None
        self.next_beat: float | None = None
        self.counter = 0
        self.performer: deque[tuple[int, float, float | None]] = deque(maxlen=512)
        self.ready_latency: deque[float] = deque(maxlen=100_000)  # command received -> new phrase committed
        self._waiting_since: float | None = None  # oldest feedback not yet answered by a new phrase
        self._dirty = False  # the state changed since the upcoming phrases were made
        self._stale: list[str] = []  # ids of upcoming phrases made before the last state change
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._control, name="coevo-control", daemon=True)

    # ---- life cycle -------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Open ports, start every thread and the clock; raise what went wrong at start-up."""
        sys.setswitchinterval(0.0002)  # the timing thread must get the GIL back quickly
        gc.collect()
        gc.freeze()  # what exists now (libraries, the model) is never scanned again: shorter GC pauses
        if self._art is not None:  # the port is taken before anything is written
            self.web = WebView(self.cfg.visual_host, self.cfg.visual_port)
            self.web.start()
        self.midi.open()
        self._open_jack_clock()
        header = {"model": str(self.generator.path), "model_sha256": self.generator.sha256,
                  "provider": self.generator.provider, "config": asdict(self.cfg)}
        self.session = Session(Path(self.cfg.data_dir), config_to_toml(self.cfg), header)
        self._load_learned()
        if self.sound is not None:
            self.sound.start()
        if self._art is not None and self.web is not None:
            self._start_visuals(self._art, self.web, self.session)
        self.osc.start()
        self.scheduler.start()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the control thread did not start")
        if self._error is not None:
            raise self._error
        if self.cfg.ableton_push != "off" or self.cfg.ableton_tempo:
            self._live_pusher()
        if self.link is not None:
            self.link.start()
        elif self.cfg.clock == "internal" and self.cfg.autostart:
            self.start_transport()
        log.info("listening for OSC on %s:%d, events to %s", *self.osc.address,
                 ", ".join(f"{h}:{p}" for h, p in self.osc.targets))

    def start_transport(self) -> None:
        """Start the internal clock with a one-bar count-in, so the first phrase is ready on time."""
        count_in = BEATS_PER_BAR * 60.0 / self.transport.bpm
        self.transport.start(0.0, time.monotonic() + count_in)

    def stop(self) -> None:
        """All notes off, threads joined, journal closed. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self.link is not None:
            self.link.stop()
        self.queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.scheduler.stop()
        if self.visualizer is not None:
            self.visualizer.stop()
        if self.web is not None:
            self.web.stop()
        if self.sound is not None:
            self.sound.stop()
        if self.pusher is not None:
            self.pusher.stop()
        self.osc.stop()
        self.midi.close()
        if self.jack is not None:
            self.jack.close()
        if self.session is not None:
            self.session.close()
        log.info("stopped")

    def _open_jack_clock(self) -> None:
        """On JACK, the server's cycle clock: notes land in the cycle nearest their time (``cycle_align``),
        and when the server goes away, ``_check_jack`` sees it."""
        backend = self.midi.backend
        if backend is None or backend.api != "UNIX_JACK":
            return
        try:
            self.jack = JackClock(f"{self.cfg.midi_client} clock")
        except PortError as err:
            log.warning("notes leave at their deadlines, up to one JACK period late: %s", err)
            return
        if not self.cfg.cycle_align:
            return
        self.cycle_clock = self.jack
        self.scheduler.clock, self.scheduler.cycle_align = self.jack, True
        period, rate = self.jack.period, self.jack.rate
        log.info("notes land in the JACK cycle nearest their time (%d frames at %d Hz): within %.2f ms "
                 "(--no-cycle-align: at the next cycle, up to %.2f ms late)", period, rate, period / rate / 2 * 1e3,
                 period / rate * 1e3)

    def _check_jack(self) -> None:
        """Follow the JACK server through a restart. A JACK client does not outlive its server: when the
        server goes away, close the MIDI ports and the clock at once (libjack frees a dead client itself
        once the process opens a client on a new server, and closing it after that crashes); then try
        the server every second and, once one runs, open ports and clock anew. Meanwhile notes go
        nowhere and the daemon runs on (OSC, clips, journal)."""
        if self.jack is None or self.jack.alive:
            return
        if not self._jack_gone:
            self._jack_gone = True
            self.midi.close()
            self.jack.close()
            log.warning("the JACK server went away: MIDI is off until one runs again (tried every second)")
            return
        try:
            clock = JackClock(f"{self.cfg.midi_client} clock")
        except PortError:
            return  # not back yet
        self.jack, self._jack_gone = clock, False
        if self.cycle_clock is not None:
            self.cycle_clock = self.scheduler.clock = clock
        self.midi.reopen()
        log.warning("the JACK server is back: MIDI ports and clock opened anew (%d frames at %d Hz); connections "
                    "made to the old server are gone, connect coevo's ports again (or let your session manager)",
                    clock.period, clock.rate)

    def _check_sound(self) -> None:
        """Say once that the sound input went away; it reads as silence from then on."""
        if self.sound is None or self._sound_gone or not self.sound.gone:
            return
        self._sound_gone = True
        log.warning("sound input %s went away (its device unplugged or its sound server stopped): the room reads "
                    "as silent from now on; restart coevo to hear it again", self.sound.name)

    def wait(self) -> None:
        while not self._stop.wait(0.5):
            pass

    # ---- input -------------------------------------------------------------------------------
    def _on_midi(self, t: float, msg: mido.Message) -> None:
        self.queue.put(_Midi(t, msg))

    def _control(self) -> None:
        self._ready.set()
        last_check = time.monotonic()
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                item = False
            quiet = item is False  # nothing arrived for the idle timeout
            if item is None:
                break
            try:
                while item is not False:  # take everything waiting, then regenerate once
                    self._handle(item)
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        item = False
                    if item is None:
                        self._stop.set()
                        break
                if self._dirty:
                    self._replace_upcoming()
                elif self._stale and quiet:
                    self._replace_stale()
                self._generate_ahead()
                if time.monotonic() - last_check > 1.0:
                    last_check = time.monotonic()
                    self._check_jack()
                    self._check_sound()
                    self.midi.check()
            except Exception as err:  # the daemon never stops on input: log, count, go on
                self.errors.warn("internal", f"{type(err).__name__}: {err}")
                log.debug("error handling %r", item, exc_info=True)

    def _idle_timeout(self) -> float:
        limit = STALE_QUIET_S if self._stale else 0.25
        if self.next_beat is None or not self.transport.running:
            return min(limit, 0.05)
        due = self.transport.time_at(self.next_beat - self._lookahead()) - time.monotonic()
        return min(limit, max(0.001, due))

    def _handle(self, item: Any) -> None:
        if isinstance(item, Command):
            self._command(item)
        elif isinstance(item, _Bar):
            self._bar(item.index)
        elif isinstance(item, _Started):
            self._started(item.phrase)
        elif isinstance(item, _Midi):
            self._midi(item.t, item.message)
        elif isinstance(item, _Pushed):
            self._pushed(item)

    def _command(self, cmd: Command) -> None:
        try:
            if cmd.path in _STATE_CHANGES:
                self._check_now(cmd)
            if cmd.path in _STATE_CHANGES and self.cfg.apply == "bar":
                self.pending.append(cmd)
            else:
                self._apply(cmd)
                if cmd.path in _STATE_CHANGES:
                    self._regenerate(cmd.received)
        except InputError as err:
            if cmd.sender is not None:
                self.osc.reject(cmd.sender, err)
            else:
                self.errors.warn(err.code, err.detail)

    def _check_now(self, cmd: Command) -> None:
        """Reject a bad state change at once, even when it would be applied at the bar line."""
        if cmd.path in ("/coevo/nudge", "/coevo/axis") and cmd.args[0] not in self.state.axis_names:
            raise InputError("unknown_axis", f"axis must be one of {', '.join(self.state.axis_names)}; got {cmd.args[0]!r}")
        if cmd.path == "/coevo/key":
            try:
                parse_key(str(cmd.args[0]), str(cmd.args[1]))
            except ValueError as err:
                raise InputError("out_of_range", str(err)) from err
        if cmd.path == "/coevo/snapshot/recall" and cmd.args[0] not in self.state.snapshots:
            raise InputError("unknown_snapshot", f"no snapshot {cmd.args[0]!r}; saved: {', '.join(self.state.snapshots) or 'none'}")
        if cmd.path.startswith("/coevo/feedback/"):
            self._feedback_target(cmd)

    def _feedback_target(self, cmd: Command) -> Phrase:
        if cmd.args:
            phrase = self.recent.get(str(cmd.args[0]))
            if phrase is None:
                raise InputError("unknown_phrase", f"no recent phrase {cmd.args[0]!r}; the last {len(self.recent)} are kept")
            return phrase
        phrase = self.last_played or (self.upcoming[0] if self.upcoming else None)
        if phrase is None:
            raise InputError("no_phrase", "nothing was played yet to like or dislike")
        return phrase

    def _apply(self, cmd: Command) -> None:  # noqa: C901 - one branch per address, read top to bottom
        s, a, p = self.state, cmd.args, cmd.path
        try:
            if p == "/coevo/ping":
                if cmd.sender is not None:
                    reply_to = (cmd.sender[0], int(a[1])) if len(a) > 1 else cmd.sender  # type: ignore[call-overload]
                    self.osc.send_to(reply_to, "/coevo/pong", (a[0],))
            elif p == "/coevo/emotion":
                s.set_emotion(float(a[0]), float(a[1]))  # type: ignore[arg-type]
            elif p == "/coevo/mood":
                s.set_emotion(*MOODS[str(a[0])])
            elif p == "/coevo/nudge":
                s.nudge(str(a[0]), float(a[1]))  # type: ignore[arg-type]
            elif p == "/coevo/axis":
                s.set_axis(str(a[0]), float(a[1]))  # type: ignore[arg-type]
            elif p == "/coevo/alpha":
                s.alpha = float(a[0])  # type: ignore[arg-type]
            elif p in ("/coevo/feedback/like", "/coevo/feedback/dislike"):
                phrase = self._feedback_target(cmd)
                like = p.endswith("like") and not p.endswith("dislike")
                s.feedback(np.asarray(phrase.z), like)
                if like and self.cfg.ableton_push == "liked":
                    self._push(phrase, self.cfg.ableton_track, None)
                if self.session is not None:
                    self.session.append({"type": "feedback", "phrase": phrase.id, "like": like,
                                         "beat": round(self.transport.beat_now(), 4)})
            elif p == "/coevo/tempo":
                if self.cfg.clock != "internal":
                    raise InputError("not_internal_clock", f"tempo follows the {self.cfg.clock} clock; /coevo/tempo "
                                                           "works with --clock internal")
                self.transport.set_bpm(float(a[0]))  # type: ignore[arg-type]
            elif p == "/coevo/transport/start":
                self.start_transport()
            elif p == "/coevo/transport/stop":
                self.transport.stop()
            elif p == "/coevo/key":
                s.set_key(str(a[0]), str(a[1]))
            elif p == "/coevo/bars":
                s.set_bars(int(a[0]))  # type: ignore[call-overload]
            elif p == "/coevo/density":
                s.set_density(float(a[0]))  # type: ignore[arg-type]
            elif p == "/coevo/generate":
                self._regenerate(cmd.received)
            elif p == "/coevo/snapshot/save":
                s.save(str(a[0]))
            elif p == "/coevo/snapshot/recall":
                s.recall(str(a[0]))
            elif p == "/coevo/morph":
                s.start_morph(str(a[0]), int(a[1]))  # type: ignore[call-overload]
            elif p == "/coevo/undo":
                if not s.undo():
                    raise InputError("nothing_to_undo", "the history is empty")
            elif p == "/coevo/note":
                self._performer_note(int(a[0]), int(a[1]), cmd.received)  # type: ignore[call-overload]
            elif p == "/coevo/learn":
                if a[0] not in s.axis_names:
                    raise InputError("unknown_axis", f"axis must be one of {', '.join(s.axis_names)}; got {a[0]!r}")
                self.learning = str(a[0])
                log.info("MIDI learn: move a controller to map it to %s", self.learning)
            elif p == "/coevo/subscribe":
                if cmd.sender is not None:
                    self.osc.subscribe((cmd.sender[0], int(a[0])))  # type: ignore[call-overload]
            elif p == "/coevo/unsubscribe":
                if cmd.sender is not None:
                    self.osc.unsubscribe((cmd.sender[0], int(a[0])))  # type: ignore[call-overload]
            elif p == "/coevo/clip/push":
                phrase = self.recent.get(str(a[2])) if len(a) > 2 else (self.last_played or
                                                                        (self.upcoming[0] if self.upcoming else None))
                if phrase is None:
                    raise InputError("unknown_phrase" if len(a) > 2 else "no_phrase",
                                     f"no recent phrase {a[2]!r}" if len(a) > 2 else "no phrase to push yet")
                self._push(phrase, int(a[0]), int(a[1]))  # type: ignore[call-overload]
            elif p == "cc":
                s.set_axis(str(a[0]), float(a[1]))  # type: ignore[arg-type]
        except InputError:
            raise
        except (ValueError, KeyError) as err:
            code = "unknown_snapshot" if isinstance(err, KeyError) else "out_of_range"
            raise InputError(code, str(err.args[0])) from err

    def _midi(self, t: float, msg: mido.Message) -> None:
        f = self.follower
        if msg.type == "clock" and f is not None:
            f.tick(t)
        elif msg.type == "start" and f is not None:
            f.start()
        elif msg.type == "continue" and f is not None:
            f.resume()
        elif msg.type == "stop" and f is not None:
            f.stop()
        elif msg.type == "songpos" and f is not None:
            f.song_position(msg.pos)
        elif msg.type in ("note_on", "note_off"):
            self._performer_note(msg.note, msg.velocity if msg.type == "note_on" else 0, t)
        elif msg.type == "control_change":
            self._cc(msg.control, msg.value, t)

    def _cc(self, control: int, value: int, t: float) -> None:
        if self.learning is not None:
            self.cc_map[str(control)] = self.learning
            log.info("MIDI learn: CC %d now moves %s", control, self.learning)
            self.learning = None
            self._save_learned()
            return
        axis = self.cc_map.get(str(control))
        if axis is not None and axis in self.state.axis_names:
            self._command(Command("cc", (axis, value / 127 * 2 - 1), None, t))

    def _performer_note(self, pitch: int, velocity: int, t: float) -> None:
        """A note played (or ended, velocity 0) at monotonic time ``t``, placed on the beat it fell on."""
        beat = self.transport.beat_at(t)
        if velocity > 0:
            self.performer.append((pitch, beat, None))
            return
        for i in range(len(self.performer) - 1, -1, -1):
            p, start, end = self.performer[i]
            if p == pitch and end is None:
                self.performer[i] = (p, start, beat)
                break

    def _learned_path(self) -> Path | None:
        return None if self.session is None else self.session.path / "midi_learn.json"

    def _save_learned(self) -> None:
        path = self._learned_path()
        if path is not None:
            path.write_text(json.dumps(self.cc_map, indent=1), encoding="utf-8")

    def _load_learned(self) -> None:
        """Take the MIDI-learn map of the newest earlier session that has one."""
        assert self.session is not None
        earlier = sorted(self.session.path.parent.glob("*/midi_learn.json"))
        if earlier:
            try:
                learned = json.loads(earlier[-1].read_text(encoding="utf-8"))
                self.cc_map.update({str(k): str(v) for k, v in learned.items()})
                self._save_learned()
                log.info("MIDI learn map from %s", earlier[-1].parent.name)
            except (OSError, ValueError, AttributeError) as err:
                log.warning("ignored unreadable %s: %s", earlier[-1], err)

    # ---- Ableton Live ---------------------------------------------------------------------------
    def _live_pusher(self) -> LivePusher:
        if self.pusher is None:
            c = self.cfg
            on_tempo = None
            if c.ableton_tempo and c.clock == "internal":
                on_tempo = lambda bpm: self.queue.put(Command("/coevo/tempo", (min(400.0, max(20.0, bpm)),),  # noqa: E731
                                                              None, time.monotonic()))
            self.pusher = LivePusher(c.ableton_host, c.ableton_port, c.ableton_reply_port,
                                     lambda pid, result, error: self.queue.put(_Pushed(pid, result, error)), on_tempo)
        return self.pusher

    def _push(self, phrase: Phrase, track: int, slot: int | None) -> None:
        self._live_pusher().push(phrase.id, phrase.notes, phrase.length_beats, track, slot)

    def _pushed(self, item: _Pushed) -> None:
        if item.result is None:
            self.errors.warn("ableton", f"phrase {item.phrase_id} not pushed to Live: {item.error}")
            self.osc.broadcast("/coevo/error", ("ableton", f"{item.phrase_id}: {item.error}"))
            return
        r = item.result
        self.osc.broadcast("/coevo/clip/pushed", (item.phrase_id, r.track, r.slot, r.notes))
        if self.session is not None:
            self.session.append({"type": "pushed", "phrase": item.phrase_id, "track": r.track, "slot": r.slot,
                                 "notes": r.notes})

    # ---- bar lines and phrases ----------------------------------------------------------------
    def _bar(self, index: int) -> None:
        changed = False
        received = None
        for cmd in self.pending:
            try:
                self._apply(cmd)
                changed = True
                received = cmd.received if received is None else received
            except InputError as err:
                if cmd.sender is not None:
                    self.osc.reject(cmd.sender, err)
        self.pending.clear()
        changed |= self.state.bar_line()
        changed |= self._read_performer()
        changed |= self._read_sound()
        if changed:
            self._regenerate(received if received is not None else time.monotonic())
        v = self.state.values
        played = RefineSettings.from_config(self.cfg, v.tonic, v.mode, (v.valence, v.arousal)).played_mode
        self.osc.broadcast("/coevo/state", (index, float(self.transport.bpm), v.valence, v.arousal,
                                            _tonic_name(v.tonic), v.mode, v.bars, float(self.state.alpha), played))
        axes: list[object] = []
        for name, value in v.axes:
            axes += [name, float(value)]
        self.osc.broadcast("/coevo/axes", axes)

    def _load_encoder(self, providers: list[str]) -> Encoder | None:
        """The encoder that inverts this generator, or None (said why) when there is none that fits."""
        path = resolve_model_path(self.cfg.encoder_model, "encoder", self.precision)
        if path is None:
            log.info("no encoder model: the performer's notes will not move z")
            return None
        try:
            return Encoder(path, providers, self.generator)
        except ModelError as err:
            if self.cfg.encoder_model:
                raise
            log.info("the shipped encoder does not fit this generator, so the performer's notes will not move z "
                     "(%s)", err)
            return None

    def _read_performer(self) -> bool:
        """Let what the performer played in the last two bars pull the emotion state and z."""
        use_emotion = self.emotion is not None and self.cfg.emotion_weight > 0
        use_encoder = self.encoder is not None and self.cfg.answer_weight > 0
        if not (use_emotion or use_encoder) or not self.performer:
            return False
        now = self.transport.beat_now()
        window = 2 * BEATS_PER_BAR
        notes = [(p, s - (now - window), (e if e is not None else now) - s)
                 for p, s, e in self.performer if (e if e is not None else now) > now - window]
        if not notes:
            return False
        if use_emotion:
            valence, arousal = self.emotion.read(notes, window)  # type: ignore[union-attr]
            self.state.pull_emotion(valence, arousal, self.cfg.emotion_weight)
            log.debug("performer reads as valence %.2f arousal %.2f", valence, arousal)
        if use_encoder:
            # the performer's notes are read as the generator's first track (melody)
            played = [Note(p, max(0.0, s), d + min(0.0, s), 100, self.generator.contract.tracks[0]) for p, s, d in notes]
            z, _, _ = self.encoder.encode(played, window // BEATS_PER_BAR)  # type: ignore[union-attr]
            self.state.pull_z(z, self.cfg.answer_weight)
        return True

    def _read_sound(self) -> bool:
        """Let the room's sound pull arousal (valence stays where it is): silence is not read."""
        if self.sound is None or self.cfg.sound_weight <= 0:
            return False
        heard = self.sound.features()
        if heard.level < 0.05:
            return False
        v = self.state.values
        self.state.pull_emotion(v.valence, heard.arousal, self.cfg.sound_weight)
        return True

    # ---- visuals ----------------------------------------------------------------------------------
    def _load_art(self, providers: list[str]) -> ArtModel:
        path = resolve_model_path(self.cfg.art_model, "art", self.precision)
        if path is None:
            raise ModelError("--visuals needs an art model: this install ships none; pass --art-model FILE.onnx "
                             "(make one with `coevo train art` and `coevo ship RUN --art`)")
        art = ArtModel(path, providers, threads=1)
        log.info("art model %s (%dx%d)", path, art.contract.image_size, art.contract.image_size)
        return art

    def _start_visuals(self, art: ArtModel, web: WebView, session: Session) -> None:
        sinks: list[FrameSink] = [web, OscVisuals(self.osc)]
        if self.cfg.record:
            sinks.append(PngRecorder(session.path / "frames"))
        driver = VisualDriver(art, self.generator.contract.latent_size, self.cfg.seed)
        self.score = Score(self.generator.contract.drum_tracks)  # the visual thread forgets what has played
        self.visualizer = Visualizer(driver, self.state, self.transport, self.score, self.cfg.visual_fps, sinks,
                                     self.sound.energy if self.sound is not None else None)
        self.visualizer.start()

    def _started(self, phrase: Phrase) -> None:
        self.upcoming = [p for p in self.upcoming if p.id != phrase.id]
        if self._stale and self.upcoming and self.upcoming[0].id in self._stale:
            self._stale = self._stale[self._stale.index(self.upcoming[0].id):]
            self._replace_stale()  # the next to play still predates the last change
        self.last_played = phrase
        if self.cfg.ableton_push == "every":
            self._push(phrase, self.cfg.ableton_track, None)
        if self.session is not None:
            c = self.generator.contract
            self.session.record_phrase(phrase, self.transport.bpm, self.cfg.channels, c.tracks, c.drum_tracks,
                                       self.cfg.write_midi)

    def _new_phrase(self, start_beat: float) -> Phrase:
        self.counter += 1
        seed = (self.cfg.seed * 1_000_003 + self.counter) % (2 ** 31)
        v = self.state.values
        rng = np.random.default_rng(seed)
        z = np.asarray(v.z) + self.cfg.variation * rng.standard_normal(len(v.z))
        return self.maker.make(f"p{self.counter:05d}", start_beat, z, dict(v.axes), (v.valence, v.arousal),
                               v.bars, seed, self.state.threshold, v.tonic, v.mode)

    def _commit(self, phrase: Phrase, replaces: Phrase | None = None) -> bool:
        c = self.generator.contract
        if replaces is None:
            self.scheduler.add_phrase(phrase, self.cfg.channels, c.drum_tracks)
        elif not self.scheduler.replace_phrase(replaces.id, phrase, self.cfg.channels, c.drum_tracks):
            return False
        if self._waiting_since is not None:
            self.ready_latency.append(time.monotonic() - self._waiting_since)
            self._waiting_since = None
        if self.score is not None:
            self.score.add(phrase, replaces.id if replaces is not None else None)
        self.upcoming = [p for p in self.upcoming if replaces is None or p.id != replaces.id] + [phrase]
        self.upcoming.sort(key=lambda p: p.start_beat)
        self.recent[phrase.id] = phrase
        while len(self.recent) > 64:
            self.recent.popitem(last=False)
        self._announce(phrase)
        return True

    def _announce(self, phrase: Phrase) -> None:
        notes = phrase.notes
        self.osc.broadcast("/coevo/phrase/begin", (phrase.id, phrase.length_beats, len(notes)))
        for chunk, i in enumerate(range(0, len(notes), NOTE_CHUNK)):
            args: list[object] = [phrase.id, chunk]
            for n in notes[i:i + NOTE_CHUNK]:
                args += [n.pitch, round(n.start, 6), round(n.duration, 6), n.velocity, int(n.mute)]
            self.osc.broadcast("/coevo/phrase/notes", args)
        self.osc.broadcast("/coevo/phrase/end", (phrase.id,))

    def _regenerate(self, since: float) -> None:
        """The state changed: the upcoming phrases are replaced once the waiting commands are applied."""
        self._dirty = True
        self._waiting_since = since if self._waiting_since is None else min(self._waiting_since, since)

    def _replace_upcoming(self) -> None:
        """Mark every upcoming phrase stale and replace the next one now. The later ones follow one at
        a time once the input has been quiet for STALE_QUIET_S, or when they become the next to play:
        feedback that keeps arriving is answered first, and not with work it makes obsolete."""
        self._dirty = False
        self._stale = [p.id for p in self.upcoming] if self.transport.running else []
        self._replace_stale()

    def _replace_stale(self) -> None:
        while self._stale:
            old = next((p for p in self.upcoming if p.id == self._stale[0]), None)
            del self._stale[0]
            if old is None:  # it started meanwhile
                continue
            new = self._new_phrase(old.start_beat)
            if new.bars != old.bars:  # a new length cannot replace a committed phrase; it follows them
                self._stale.clear()
                return
            if self._commit(new, replaces=old):  # refused when too close to its start: it plays as it is
                return

    def _lookahead(self) -> float:
        return max(LOOKAHEAD_BEATS, self.state.values.bars * BEATS_PER_BAR) + OVERLAP_BEATS

    def _generate_ahead(self) -> None:
        if not self.transport.running:
            if self.next_beat is not None and self.score is not None:
                self.score.clear()
            self.next_beat = None
            self.upcoming.clear()
            return
        now = self.transport.beat_now()
        if self.next_beat is None or self.next_beat < now:  # started, or the song position jumped
            lead = 0.1 * self.transport.bpm / 60.0  # at least 100 ms ahead
            self.next_beat = math.ceil((now + lead) / BEATS_PER_BAR) * BEATS_PER_BAR
        # a next phrase always exists, ready to be replaced the moment feedback arrives
        lookahead = self._lookahead()
        while self.next_beat - now <= lookahead:
            phrase = self._new_phrase(self.next_beat)
            self._commit(phrase)
            self.next_beat += phrase.length_beats


def _tonic_name(tonic: int) -> str:
    return ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")[tonic]
