"""The ``coevo`` command line. ``main(argv)`` is the only place that configures logging."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from bridge.config import Config, config_to_toml, default_config_path, load_config
from bridge.errors import CoevoError

__all__ = ["main", "build_parser"]

log = logging.getLogger("coevo")

EPILOG_RUN = """\
examples:
  coevo run                                  shipped model, internal clock at 120 BPM, virtual ports
  coevo run --bpm 96 --key A --mode minor    in A minor at 96 BPM
  coevo run --clock midi --midi-in "IAC"     follow the DAW's MIDI clock arriving on an IAC bus
  coevo run --clock link                     join an Ableton Link session
  MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK coevo run     use JACK MIDI on Linux

Steer it over OSC (port 9100), e.g. with liblo's oscsend:
  oscsend localhost 9100 /coevo/mood s calm
  oscsend localhost 9100 /coevo/feedback/like
Settings resolve as: defaults < TOML file (--config, or the default path) < COEVO_* environment < flags.
See `coevo config` for every setting and its current value.
"""


def _add_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (each also COEVO_<NAME> in the environment or <name> in the TOML file)")
    g.add_argument("--config", type=Path, help=f"TOML file of settings (default: {default_config_path()} if present)")
    g.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    g.add_argument("--emotion-model", dest="emotion_model", help="emotion ONNX file (default: the shipped one, if any)")
    g.add_argument("--providers", choices=("auto", "cpu", "cuda", "tensorrt"),
                   help="onnxruntime execution providers: auto picks TensorRT/CUDA when present, else CPU")
    g.add_argument("--midi-out", dest="midi_out", help="send notes to this existing port (prefix match); "
                                                         "default: a virtual port 'coevo out'")
    g.add_argument("--midi-in", dest="midi_in", help="read the performer and MIDI clock from this port (prefix "
                                                       "match); default: a virtual port 'coevo in'")
    g.add_argument("--osc-host", dest="osc_host", help="address to listen on for OSC (default 127.0.0.1)")
    g.add_argument("--osc-port", dest="osc_port", type=int, help="OSC port to listen on (default 9100)")
    g.add_argument("--event-host", dest="event_host", help="where OSC events go (default 127.0.0.1)")
    g.add_argument("--event-port", dest="event_port", type=int, help="port OSC events go to (default 9101)")
    g.add_argument("--allow", action="append", help="with --osc-host, a host allowed to send OSC (repeatable)")
    g.add_argument("--clock", choices=("internal", "midi", "link"), help="tempo source (default internal)")
    g.add_argument("--bpm", type=float, help="tempo of the internal clock (default 120)")
    g.add_argument("--bars", type=int, help="phrase length in bars, 1..8 (default 2)")
    g.add_argument("--alpha", type=float, help="feedback step size in z_new = z_old + alpha * u (default 0.5)")
    g.add_argument("--apply", choices=("bar", "now"), help="apply changes at the next bar line, or now")
    g.add_argument("--key", help="tonic for the key lock, e.g. C, F#, Bb (default C)")
    g.add_argument("--mode", help="scale: major, minor, dorian, ... (default major)")
    g.add_argument("--no-key-lock", dest="key_lock", action="store_const", const=False, help="let notes leave the key")
    g.add_argument("--density", type=float, help="note density 0..1 (default 0.5)")
    g.add_argument("--seed", type=int, help="random seed of the session (default 0)")
    g.add_argument("--data-dir", dest="data_dir", help="where session folders go (default: the user data dir)")
    g.add_argument("--no-autostart", dest="autostart", action="store_const", const=False,
                   help="wait for /coevo/transport/start before playing")
    g.add_argument("--log-level", dest="log_level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


_NOT_SETTINGS = {"command", "config", "func", "session", "what", "out", "seconds", "kind", "output", "untrained"}


def _resolve(args: argparse.Namespace) -> Config:
    overrides = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}
    return load_config(args.config, overrides=overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from bridge.daemon import Daemon

    cfg = _resolve(args)
    daemon = Daemon(cfg)
    stopping = []

    def _on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        daemon.stop()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    daemon.start()
    midi = (f"MIDI out '{daemon.midi.out_port_name}', in '{daemon.midi.in_port_name}'" if daemon.midi.enabled
            else f"MIDI off ({daemon.midi.reason})")
    print(f"coevo is running: {daemon.generator.provider} | {midi} | OSC in {cfg.osc_host}:{cfg.osc_port}, "
          f"events to {cfg.event_host}:{cfg.event_port} | {cfg.clock} clock at {cfg.bpm:g} BPM\n"
          f"session folder: {daemon.session.path if daemon.session else '-'}\nCtrl-C stops.", flush=True)
    daemon.wait()
    daemon.stop()
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    sys.stdout.write(config_to_toml(_resolve(args)))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from bridge.doctor import run_doctor

    return run_doctor(_resolve(args))


def _cmd_replay(args: argparse.Namespace) -> int:
    from bridge.replay import replay_session

    out = replay_session(Path(args.session), model=args.model)
    print(f"re-rendered {out.phrases} phrase(s) into {out.folder} and {out.combined}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from bridge.bench import bench_live

    return bench_live(out=Path(args.out), seconds=args.seconds, model=args.model or "")


@contextlib.contextmanager
def _train_extra(command: str) -> Iterator[None]:
    """Turn a missing training dependency into an error that says what to install."""
    try:
        yield
    except ImportError as err:
        raise CoevoError(f"`coevo {command}` needs the train extra: pip install '.[train]' ({err})") from err


def _cmd_eval(args: argparse.Namespace) -> int:
    from bridge.generation import resolve_model_path

    with _train_extra("eval"):
        from models.evaluate import evaluate_music
    model = resolve_model_path(args.model or "", "generator")
    emotion = resolve_model_path(args.emotion_model or "", "emotion")
    if model is None or emotion is None:
        raise CoevoError("coevo eval music needs a generator and an emotion model: none ships; pass --model and "
                         "--emotion-model")
    out = Path(args.out)
    report = evaluate_music(model, emotion, out, n=args.segments, seed=args.seed, songs_limit=args.songs)
    sys.stdout.write((out / "report.md").read_text(encoding="utf-8"))
    print(f"\nreport and plots in {out} ({report['seconds']:.0f} s)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    with _train_extra("export"):
        from export.cli import export_untrained
    path = export_untrained(args.kind, Path(args.output), args.seed or 0)
    print(f"wrote {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    with _train_extra("train"):
        from models.train_emotion import train_emotion
        from models.train_music import MusicConfig, train_music
    out = Path(args.out)
    if args.kind in ("emotion", "all"):
        report = train_emotion(out, seed=args.seed, epochs=args.epochs)
        print(f"emotion model: test {report['model_test']}; majority baseline {report['majority_baseline_test']}; "
              f"hand-feature baseline {report['hand_feature_baseline_test']}")
    if args.kind in ("music", "all"):
        emotion = out / "emotion.pt"
        if not emotion.is_file():
            raise CoevoError(f"{emotion} is missing: train the emotion model first (coevo train emotion --out {out})")
        report = train_music(out, emotion, MusicConfig(seed=args.seed, steps=args.steps, songs=args.songs,
                                                        grooves=args.songs), resume=not args.restart)
        print(f"generator: {report['steps']} steps in {report['training_seconds'] / 60:.1f} min; axes {report['code_names']}")
    print(f"run folder: {out}")
    return 0


def _cmd_ship(args: argparse.Namespace) -> int:
    with _train_extra("ship"):
        from models.ship import ship_run
    dest = Path(args.dest)
    if not dest.is_dir():
        raise CoevoError(f"{dest} is not a folder: `coevo ship` writes models/shipped/ in the repository root; "
                         "run it there or pass --dest")
    manifest = ship_run(Path(args.run), dest)
    for kind, entry in manifest["models"].items():
        print(f"{kind}: {entry['file']} sha256 {entry['sha256'][:16]}... {entry['bytes'] / 1e6:.2f} MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coevo", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Co-create music with a generative model, live: a realtime MIDI/OSC bridge.\n"
                    "Start with `coevo run`, then steer it over OSC or MIDI; `coevo doctor` checks your setup.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("run", help="start the live daemon", epilog=EPILOG_RUN, formatter_class=fmt,
                       description="Start the daemon: generate phrases in tempo, listen to OSC and MIDI feedback.")
    _add_settings(p)
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("config", help="print the resolved configuration as TOML",
                       description="Print every setting as resolved from defaults, file, environment and flags. "
                                   "Save the output as a TOML file to start your own.")
    _add_settings(p)
    p.set_defaults(func=_cmd_config)
    p = sub.add_parser("doctor", help="check MIDI, OSC, models and execution providers, with fixes",
                       description="Check what the daemon needs and say how to fix each problem.")
    _add_settings(p)
    p.set_defaults(func=_cmd_doctor)
    p = sub.add_parser("replay", help="re-render a session from its journal",
                       description="Generate every phrase of a session again from its journal (same model, "
                                   "same z, seed and settings) into SESSION/replay/ and SESSION/replay.mid.")
    p.add_argument("session", help="a session folder (see the path `coevo run` prints)")
    p.add_argument("--model", help="generator to use (default: the one the journal names)")
    p.set_defaults(func=_cmd_replay)
    p = sub.add_parser("bench", help="benchmarks that print figures and write JSON",
                       description="live: feedback -> phrase ready latency, MIDI onset lateness at a JACK peer "
                                   "under 200 OSC messages/s, torch vs onnxruntime inference. Starts a JACK "
                                   "dummy server if none runs; needs jackd, jack_midi_dump and torch.")
    p.add_argument("what", choices=("live",))
    p.add_argument("--out", default="bench-results/live.json", help="JSON results file")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each timing phase (default 30)")
    p.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("eval", help="measure a generator against held-out music and baselines (train extra)",
                       description="music: MuseGAN metrics (empty bars, pitch classes, qualified notes, polyphony, "
                                   "drum pattern, tonal distance) and mgeval overlapping areas for the test songs, "
                                   "the model, random notes and a Markov chain; emotion controllability; the effect "
                                   "of each named axis. Prints the Markdown report; writes it with JSON and PNG plots.")
    p.add_argument("what", choices=("music",))
    p.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    p.add_argument("--emotion-model", dest="emotion_model", help="emotion ONNX file (default: the shipped one)")
    p.add_argument("--out", default="eval/music", help="report folder (default eval/music)")
    p.add_argument("-n", "--segments", type=int, default=512, help="4-bar segments per set (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--songs", type=int, help="use only this many songs and drum files (quick runs)")
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser("train", help="train the models on ../shared/data (needs the train extra)",
                       formatter_class=fmt, epilog="the shipped models: coevo train all --out runs/ship --seed 0 "
                                                   "&& coevo ship runs/ship",
                       description="Train the emotion model (VGMIDI ratings) and the phrase generator (POP909 + "
                                   "Groove, WGAN-GP with InfoGAN codes). Progress bars, checkpoints every minute, "
                                   "resume by running the same command again.")
    p.add_argument("kind", choices=("emotion", "music", "all"))
    p.add_argument("--out", default="runs/ship", help="run folder: checkpoints, reports, configs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=150, help="emotion model epochs")
    p.add_argument("--steps", type=int, default=3000, help="generator steps (about 30 min on a 2-core CPU)")
    p.add_argument("--songs", type=int, help="use only this many songs and drum files (quick runs)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("ship", help="export a training run's models into the package, with the manifest",
                       description="Export RUN/emotion.pt and RUN/generator.pt to ONNX (parity-checked) into "
                                   "models/shipped/, evaluate the generator as `coevo eval music` does (report in "
                                   "models/shipped/eval/) and write manifest.json (sha256, data, config, seed, "
                                   "time, figures).")
    p.add_argument("run")
    p.add_argument("--dest", default="models/shipped",
                   help="folder to write to (default: models/shipped, run from the repository root)")
    p.set_defaults(func=_cmd_ship)
    p = sub.add_parser("export", help="export a model to ONNX (needs the train extra)",
                       description="Export a model to ONNX with the contract metadata and a parity check. "
                                   "--untrained writes a randomly initialised model, for checking the pipes.")
    p.add_argument("kind", choices=("generator", "emotion"))
    p.add_argument("--untrained", action="store_true", required=True,
                   help="random weights (training arrives with `coevo train`)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", None) or "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except CoevoError as err:
        print(f"coevo: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"coevo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
