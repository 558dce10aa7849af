"""``coevo doctor``: what the daemon needs, what is there, and how to fix what is not."""

from __future__ import annotations

import socket
import sys

import onnxruntime as ort

from bridge.config import Config
from bridge.errors import ModelError, PortError, SoundError
from bridge.generation import choose_providers, load_session, model_precision, resolve_model_path
from bridge.jack_clock import JackClock
from bridge.midi_io import fix_hint, open_backend
from bridge.scheduler import REALTIME_FIX, realtime_available
from bridge.sound_in import input_devices
from models.shipped import read_manifest

__all__ = ["run_doctor"]


def _line(ok: bool, what: str, fix: str = "") -> bool:
    print(f"[{'ok' if ok else '!!'}] {what}" + (f"\n     fix: {fix}" if fix and not ok else ""))
    return ok


def _port_free(host: str, port: int, kind: int = socket.SOCK_DGRAM) -> bool:
    """Whether ``port`` can be bound: UDP (OSC) by default, or TCP (the visuals page)."""
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:  # as the server does: a closed one's TIME_WAIT is no conflict
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _sound_devices(cfg: Config) -> bool:
    """List the sound inputs; only a problem when --sound-in asks for one."""
    try:
        devices = input_devices()
    except SoundError as err:
        return _line(not cfg.sound_in, f"sound input unavailable: {err}", "apt-get install libportaudio2 (Linux); "
                     "PortAudio comes with the sounddevice wheel on macOS and Windows")
    found = bool(devices)
    _line(found or not cfg.sound_in, f"sound inputs: {len(devices)}", "connect a microphone or audio interface; "
          "on Linux start JACK or PulseAudio/PipeWire")
    for d in devices:
        print(f"     {d}")
    if cfg.sound_in:
        print(f"     --sound-in {cfg.sound_in!r} picks the first whose name contains those words")
    return found or not cfg.sound_in


def _cycle_clock(cfg: Config) -> None:
    """On JACK: whether notes can be sent to land in the cycle nearest their time (advice only)."""
    try:
        clock = JackClock("coevo doctor")
    except PortError as err:
        _line(False, f"JACK cycle clock unreadable: {err}", "start jackd before coevo; notes then land up to "
              "one period late")
        return
    period, rate = clock.period, clock.rate
    clock.close()
    state = "on" if cfg.cycle_align else "off (--no-cycle-align): notes land up to one period late"
    _line(True, f"JACK cycle clock: {period} frames at {rate} Hz; cycle alignment {state}")
    if cfg.cycle_align:
        print(f"     each note lands in the cycle nearest its time, within {period / rate / 2 * 1e3:.2f} ms")


def run_doctor(cfg: Config) -> int:
    """Print one line per check; return 0 when everything needed for `coevo run` is fine, else 1."""
    ok = True
    print(f"python {sys.version.split()[0]} on {sys.platform}, onnxruntime {ort.__version__}")
    # MIDI
    backend, reason = open_backend()
    if backend is None:
        _line(False, reason, fix_hint())
        print("     (the daemon still runs without MIDI: OSC, session files and journal work)")
    else:
        import rtmidi

        apis = ", ".join(rtmidi.get_api_display_name(a) for a in rtmidi.get_compiled_api())
        _line(True, f"{reason}; rtmidi APIs compiled in: {apis}")
        print(f"     outputs: {backend.get_output_names() or 'none'}")
        print(f"     inputs:  {backend.get_input_names() or 'none'}")
        if backend.api == "UNIX_JACK":
            _cycle_clock(cfg)
    # execution providers
    providers = ort.get_available_providers()
    gpu = any(p in providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    _line(True, f"execution providers: {', '.join(providers)}")
    if not gpu:
        print("     (CPU only; for an NVIDIA GPU: pip uninstall onnxruntime && pip install onnxruntime-gpu)")
    # models
    manifest = read_manifest()["models"]
    print(f"     shipped models: {', '.join(manifest) or 'none'}")
    precision = model_precision(cfg.precision, choose_providers(cfg.providers))
    print(f"     precision: {precision} (precision = {cfg.precision}; fp16 variants ship for "
          f"{', '.join(k for k, e in manifest.items() if 'fp16' in e) or 'none'})")
    for kind, configured in (("generator", cfg.model), ("emotion", cfg.emotion_model), ("encoder", cfg.encoder_model),
                             ("art", cfg.art_model)):
        try:
            path = resolve_model_path(configured, kind, precision)
        except ModelError as err:
            ok &= _line(False, str(err), f"check --{'model' if kind == 'generator' else kind + '-model'}")
            continue
        if path is None:
            needed = kind == "generator" or (kind == "art" and cfg.renders_visuals)
            fix = ("pass --model FILE.onnx (make one with `coevo export`)" if kind != "art" else
                   "pass --art-model FILE.onnx (make one with `coevo train art` and `coevo ship RUN --art`)")
            ok &= _line(not needed, f"{kind} model: none", fix)
            continue
        try:
            _, contract = load_session(path, ["CPUExecutionProvider"])
        except ModelError as err:
            ok &= _line(False, str(err), "re-export the model with `coevo export`")
            continue
        _line(True, f"{kind} model {path}")
        for key, value in sorted(contract.to_metadata().items()):
            print(f"     {key} = {value}")
    # OSC
    free = _port_free(cfg.osc_host, cfg.osc_port)
    ok &= _line(free, f"OSC port {cfg.osc_host}:{cfg.osc_port} {'is free' if free else 'is taken'}",
                "stop the other program (or coevo) using it, or pass --osc-port")
    print(f"     events go to {cfg.event_host}:{cfg.event_port}")
    # visuals and sound
    web_free = _port_free(cfg.visual_host, cfg.visual_port, socket.SOCK_STREAM)
    web_ok = web_free or not cfg.renders_visuals
    ok &= _line(web_ok, f"visuals page port {cfg.visual_host}:{cfg.visual_port} {'is free' if web_free else 'is taken'}"
                + ("" if cfg.renders_visuals else " (visuals are off; --visuals turns them on)"),
                "stop the other program (or coevo) using it, or pass --visual-port")
    ok &= _sound_devices(cfg)
    # timing (advice only: the daemon keeps time at normal priority too, with more jitter under load)
    if sys.platform.startswith("linux"):
        why = realtime_available()
        _line(why is None, "MIDI timing thread can run at realtime priority" if why is None
              else f"MIDI timing thread will run at normal priority ({why})", REALTIME_FIX)
    return 0 if ok else 1
