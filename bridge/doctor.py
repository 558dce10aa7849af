"""``coevo doctor``: what the daemon needs, what is there, and how to fix what is not."""

from __future__ import annotations

import socket
import sys

import onnxruntime as ort

from bridge.config import Config
from bridge.errors import ModelError
from bridge.generation import load_session, resolve_model_path
from bridge.midi_io import fix_hint, open_backend
from bridge.scheduler import REALTIME_FIX, realtime_available
from models.shipped import read_manifest

__all__ = ["run_doctor"]


def _line(ok: bool, what: str, fix: str = "") -> bool:
    print(f"[{'ok' if ok else '!!'}] {what}" + (f"\n     fix: {fix}" if fix and not ok else ""))
    return ok


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


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
    # execution providers
    providers = ort.get_available_providers()
    gpu = any(p in providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    _line(True, f"execution providers: {', '.join(providers)}")
    if not gpu:
        print("     (CPU only; for an NVIDIA GPU: pip uninstall onnxruntime && pip install onnxruntime-gpu)")
    # models
    manifest = read_manifest()["models"]
    print(f"     shipped models: {', '.join(manifest) or 'none'}")
    for kind, configured in (("generator", cfg.model), ("emotion", cfg.emotion_model)):
        try:
            path = resolve_model_path(configured, kind)
        except ModelError as err:
            ok &= _line(False, str(err), f"check --{'model' if kind == 'generator' else 'emotion-model'}")
            continue
        if path is None:
            needed = kind == "generator"
            ok &= _line(not needed, f"{kind} model: none", "pass --model FILE.onnx (make one with `coevo export`)")
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
    # timing (advice only: the daemon keeps time at normal priority too, with more jitter under load)
    if sys.platform.startswith("linux"):
        why = realtime_available()
        _line(why is None, "MIDI timing thread can run at realtime priority" if why is None
              else f"MIDI timing thread will run at normal priority ({why})", REALTIME_FIX)
    return 0 if ok else 1
