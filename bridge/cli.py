"""The ``coevo`` command line. ``main(argv)`` is the only place that configures logging."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from bridge.config import Config, config_to_toml, default_config_path, load_config
from bridge.errors import CoevoError
from bridge.osc_map import MOODS
from models import recipe

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
    g.add_argument("--encoder-model", dest="encoder_model",
                   help="encoder ONNX file: reads the performer's notes back into z (default: the shipped one, "
                        "when it fits the generator)")
    g.add_argument("--providers", choices=("auto", "cpu", "cuda", "tensorrt"),
                   help="onnxruntime execution providers: auto picks TensorRT/CUDA when present, else CPU")
    g.add_argument("--precision", choices=("auto", "fp32", "fp16"),
                   help="shipped models in fp32 or their fp16 variants (auto: fp16 on CUDA/TensorRT, fp32 on CPU)")
    g.add_argument("--midi-out", dest="midi_out", help="send notes to this existing port (prefix match); "
                                                         "default: a virtual port 'coevo out'")
    g.add_argument("--midi-in", dest="midi_in", help="read the performer and MIDI clock from this port (prefix "
                                                       "match); default: a virtual port 'coevo in'")
    g.add_argument("--no-cycle-align", dest="cycle_align", action="store_const", const=False,
                   help="on JACK, send each note at its time, to land at the start of the next cycle (up to one "
                        "period late) instead of in the cycle nearest its time (within half a period)")
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
    g.add_argument("--no-mood-shaping", dest="mood_shaping", action="store_const", const=False,
                   help="keep the scale and the tempo feel whatever the emotion (default: negative valence "
                        "plays the key's minor counterpart, low arousal plays in half time an octave up)")
    g.add_argument("--mood-lift", dest="mood_lift", type=int,
                   help="semitones the pitched tracks rise at low arousal under mood shaping, 0..24 (default 12; "
                        "0 keeps their register)")
    g.add_argument("--density", type=float, help="note density 0..1 (default 0.5)")
    g.add_argument("--seed", type=int, help="random seed of the session (default 0)")
    g.add_argument("--data-dir", dest="data_dir", help="where session folders go (default: the user data dir)")
    g.add_argument("--no-autostart", dest="autostart", action="store_const", const=False,
                   help="wait for /coevo/transport/start before playing")
    g.add_argument("--visuals", action="store_const", const=True,
                   help="render visuals from the art model: a page at http://127.0.0.1:8100/ and OSC bundles")
    g.add_argument("--art-model", dest="art_model", help="art ONNX file for --visuals (default: the shipped one)")
    g.add_argument("--visual-port", dest="visual_port", type=int, help="port of the visuals page (default 8100)")
    g.add_argument("--visual-fps", dest="visual_fps", type=float, help="frames per second, 1..120 (default 30)")
    g.add_argument("--record", action="store_const", const=True,
                   help="with --visuals, write every frame as PNG into the session folder's frames/")
    g.add_argument("--sound-in", dest="sound_in", metavar="DEVICE",
                   help='listen to a sound input ("default", an index or words of its name; see coevo doctor): '
                        "its level, onsets and brightness move arousal and the visual energy")
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
    print(f"coevo is running: {daemon.generator.provider} | {midi} | OSC in {cfg.osc_host}:{daemon.osc.address[1]}, "
          f"events to {cfg.event_host}:{cfg.event_port} | {cfg.clock} clock at {cfg.bpm:g} BPM\n"
          f"session folder: {daemon.session.path if daemon.session else '-'}", flush=True)
    if daemon.web is not None:
        print(f"visuals: http://{daemon.web.address[0]}:{daemon.web.address[1]}/ (i: info overlay, f: full screen)"
              + (f", recording to {daemon.session.path / 'frames'}" if cfg.record and daemon.session else ""), flush=True)
    if daemon.sound is not None:
        print(f"sound input: {daemon.sound.name}", flush=True)
    print("Ctrl-C stops.", flush=True)
    daemon.wait()
    daemon.stop()
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    sys.stdout.write(config_to_toml(_resolve(args)))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from bridge.doctor import run_doctor

    return run_doctor(_resolve(args))


def _axis_value(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not name or not -1.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with VALUE in [-1, 1], e.g. density=0.8; got {text!r}")
    return name.strip(), number


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1]; got {text!r}")
    return value


def _cmd_generate(args: argparse.Namespace) -> int:
    from bridge.clips import ClipMaker, ClipOptions, parse_key_text, read_clip, write_clips
    from bridge.generation import EmotionReader, Encoder, Generator, choose_providers, resolve_model_path
    from bridge.refine import RefineSettings

    cfg = load_config(args.config, overrides={"model": args.model, "emotion_model": args.emotion_model,
                                              "providers": args.providers, "bpm": args.bpm, "density": args.density})
    try:
        tonic, mode = parse_key_text(args.key or f"{cfg.key} {cfg.mode}")
    except ValueError as err:
        raise CoevoError(f"--key: {err}") from err
    if not 1 <= args.count <= 100_000:
        raise CoevoError(f"-n must be 1..100000; got {args.count}")
    if args.spread is not None and not 0.0 <= args.spread <= 4.0:
        raise CoevoError(f"--spread must be in [0, 4]; got {args.spread}")
    if args.mood and (args.valence is not None or args.arousal is not None):
        raise CoevoError("give either --mood or --valence/--arousal, not both")
    emotion = MOODS[args.mood] if args.mood else None
    if args.valence is not None or args.arousal is not None:
        emotion = (args.valence or 0.0, args.arousal or 0.0)
    providers = choose_providers(cfg.providers)
    gen_path = resolve_model_path(cfg.model, "generator")
    if gen_path is None:
        raise CoevoError("no generator model ships with this install; pass --model FILE.onnx")
    generator = Generator(gen_path, providers, threads=os.cpu_count() or 1)  # offline: every core
    c = generator.contract
    tracks = tuple(t.strip() for t in args.tracks.split(",") if t.strip()) if args.tracks else ()
    unknown = sorted(set(tracks) - set(c.tracks))
    if unknown:
        raise CoevoError(f"--tracks: unknown track {', '.join(unknown)}; this model has {', '.join(c.tracks)}")
    encoder = emotion_reader = like = None
    if args.like:
        enc_path = resolve_model_path(args.encoder or "", "encoder")
        if enc_path is None:
            raise CoevoError("--like needs an encoder model and none ships with this install; pass --encoder FILE.onnx")
        encoder = Encoder(enc_path, providers, generator)
        emo_path = resolve_model_path(cfg.emotion_model, "emotion")
        emotion_reader = EmotionReader(emo_path, providers) if emo_path else None
        try:
            like = read_clip(Path(args.like), c.tracks, c.drum_tracks)
        except CoevoError as err:
            raise CoevoError(f"--like: {err}") from err
    opts = ClipOptions(bars=args.bars, count=args.count, emotion=emotion, axes=dict(args.axis or []), tonic=tonic,
                       mode=mode, bpm=cfg.bpm, seed=args.seed, spread=args.spread, tracks=tracks,
                       density=cfg.density, like=like)
    refine_base = dataclasses.replace(RefineSettings.from_config(cfg, tonic, mode),
                                      key_lock=cfg.key_lock and not args.no_key_lock,
                                      mood_shaping=cfg.mood_shaping and not args.no_mood_shaping)
    maker = ClipMaker(generator, refine_base, encoder, emotion_reader)
    opts = dataclasses.replace(opts, emotion=maker.emotion_of(opts))  # read once for the clips and the report below
    clips = maker.make(opts)
    out = Path(args.out)
    played = maker.settings(opts)
    paths = write_clips(clips, opts, out, c.tracks, c.drum_tracks, cfg.channels, force=args.force,
                        mode=played.played_mode)
    notes = sum(len(x) for x in clips)
    source = f"variations of {args.like}" if like else f"seed {args.seed}"
    print(f"wrote {len(paths)} clip(s) of {args.bars} bar(s), {notes / max(1, len(paths)):.0f} notes each on "
          f"average ({source}) to {out.resolve()}:")
    for path in paths[:5]:
        print(f"  {path}")
    if len(paths) > 5:
        print(f"  ... {paths[-1]}")
    shaped = [f"in {played.played_mode.replace('_', ' ')} (not {mode.replace('_', ' ')})"] if played.played_mode != mode else []
    shaped += [f"in half time{f', {played.lift} semitones up' if played.lift else ''}"] if played.half_time else []
    if shaped:
        print(f"mood shaping (valence {played.valence:+.2f}, arousal {played.arousal:+.2f}) played them "
              f"{' and '.join(shaped)}; --no-mood-shaping keeps the key and feel")
    return 0


def _cmd_live(args: argparse.Namespace) -> int:
    from bridge.ableton import AbletonLive
    from bridge.clips import read_clip

    clip = read_clip(Path(args.clip))
    notes = clip.notes
    if args.parts:
        parts = {p.strip() for p in args.parts.split(",") if p.strip()}
        have = sorted({n.track for n in notes})
        if not parts & set(have):
            raise CoevoError(f"--parts: {args.clip} has no part {', '.join(sorted(parts))}; it has {', '.join(have)}")
        notes = [n for n in notes if n.track in parts]
    with AbletonLive(args.host, args.port, args.reply_port, timeout=args.timeout) as live:
        slot = args.slot if args.slot is not None else live.first_empty_slot(args.track)
        result = live.push(notes, clip.bars * 4.0, args.track, slot, args.name or Path(args.clip).stem,
                           fire=args.fire, replace=args.replace)
    print(f"pushed {result.notes} notes ({clip.bars} bar(s)) to Live track {result.track} slot {result.slot} as "
          f"'{result.name}'{', replacing the clip there' if result.replaced else ''}{', fired' if result.fired else ''}; "
          f"Live plays at {result.live_tempo:g} BPM")
    return 0


def _cmd_art(args: argparse.Namespace) -> int:
    from models.curate import CurateError, curate

    picks: list[int] = []
    for part in (args.pick or "").split(","):
        if part.strip():
            if not part.strip().isdigit():
                raise CoevoError(f"--pick takes grid indices like 3,17,40; got {part.strip()!r}")
            picks.append(int(part))
    files = [Path(f) for f in args.file or []]
    if not picks and not files:
        raise CoevoError("nothing to curate: pass --pick INDICES and/or --file IMAGE")
    try:
        new = curate(Path(args.run), picks, files, Path(args.into) if args.into else None,
                     Path(args.grid) if args.grid else None)
    except CurateError as err:
        raise CoevoError(str(err)) from err
    print(f"added {len(new)} image(s) to {new[0].parent}:")
    for path in new:
        print(f"  {path.name}")
    print(f"train the next run on them: coevo train art --images {new[0].parent} --out runs/art-next")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from bridge.replay import replay_session

    out = replay_session(Path(args.session), model=args.model)
    print(f"re-rendered {out.phrases} phrase(s) into {out.folder} and {out.combined}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "generate":
        from bridge.bench_clips import bench_generate

        return bench_generate(Path(args.out or "bench-results/generate.json"), clips=args.clips,
                              model=args.model or "")
    if args.what == "visuals":
        from bridge.bench_visuals import bench_visuals

        return bench_visuals(Path(args.out or "bench-results/visuals.json"), seconds=args.seconds)
    from bridge.bench import bench_live

    return bench_live(out=Path(args.out or "bench-results/live.json"), seconds=args.seconds, model=args.model or "")


@contextlib.contextmanager
def _train_extra(command: str) -> Iterator[None]:
    """Turn a missing training dependency into an error that says what to install."""
    try:
        yield
    except ImportError as err:
        raise CoevoError(f"`coevo {command}` needs the train extra: pip install '.[train]' ({err})") from err


def _cmd_eval(args: argparse.Namespace) -> int:
    from bridge.generation import resolve_model_path

    if args.what == "art":
        return _eval_art(args)
    with _train_extra("eval"):
        from models.evaluate import evaluate_music
    model = resolve_model_path(args.model or "", "generator")
    emotion = resolve_model_path(args.emotion_model or "", "emotion")
    if model is None or emotion is None:
        raise CoevoError("coevo eval music needs a generator and an emotion model: none ships; pass --model and "
                         "--emotion-model")
    out = Path(args.out or "eval/music")
    report = evaluate_music(model, emotion, out, n=args.segments, seed=args.seed, songs_limit=args.songs)
    sys.stdout.write((out / "report.md").read_text(encoding="utf-8"))
    print(f"\nreport and plots in {out} ({report['seconds']:.0f} s)")
    return 0


def _eval_art(args: argparse.Namespace) -> int:
    from bridge.generation import resolve_model_path

    with _train_extra("eval"):
        from models.art_eval import evaluate_art
    runs = [Path(r) for r in args.runs]
    if not runs:
        shipped = resolve_model_path("", "art")
        if shipped is None:
            raise CoevoError("no art model ships with this install: pass run folders or art ONNX files")
        runs = [shipped]
    out = Path(args.out or "eval/art")
    try:
        report = evaluate_art(runs, out, n=args.segments or 500, seed=args.seed, limit=args.songs)
    except (FileNotFoundError, ValueError) as err:
        raise CoevoError(str(err)) from err
    sys.stdout.write((out / "report.md").read_text(encoding="utf-8"))
    print(f"\nreport and sample grids in {out} ({report['seconds']:.0f} s)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    with _train_extra("export"):
        from export.cli import export_untrained
    path = export_untrained(args.kind, Path(args.output), args.seed or 0)
    print(f"wrote {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    with _train_extra("train"):
        from models.train_emotion import cross_validate, train_emotion
        from models.train_encoder import EncoderTrainConfig, train_encoder
        from models.train_music import MusicConfig, train_music
    out = Path(args.out)
    if args.kind == "art":
        from models.train_art import ArtTrainConfig, train_art

        from models.art import ABLATION, variant_parts

        if args.images and not Path(args.images).is_dir():
            raise CoevoError(f"--images: {args.images} is not a folder")
        try:
            variant_parts(args.variant)
        except ValueError as err:
            raise CoevoError(f"--variant: {err}") from err
        runs = [(v, out / v) for v in ABLATION] if args.ablation else [(args.variant, out)]
        for variant, folder in runs:
            report = train_art(folder, ArtTrainConfig(seed=args.seed, steps=args.art_steps, images=args.images or "",
                                                      limit=args.songs, variant=variant, minutes=args.minutes or 0.0),
                               resume=not args.restart)
            print(f"art model ({variant}): {report['steps']} steps in {report['training_seconds'] / 60:.1f} min; "
                  f"axes {report['code_names']}; sample grids in {folder / 'samples'}")
        print(f"run folder: {out}" + (f"\ncompare them: coevo eval art {out}/* --out {out}/eval" if args.ablation else ""))
        return 0
    if args.kind in ("emotion", "all"):
        report = train_emotion(out, seed=args.seed, epochs=args.epochs)
        print(f"emotion model: test {report['model_test']}; majority baseline {report['majority_baseline_test']}; "
              f"hand-feature baseline {report['hand_feature_baseline_test']}")
        if args.folds:
            cv = cross_validate(out, folds=args.folds, seed=args.seed, epochs=args.epochs)
            print(f"{cv['folds']}-fold cross-validation by piece on all {cv['phrases']} phrases: model {cv['model']}; "
                  f"majority baseline {cv['majority_baseline']}; hand-feature baseline {cv['hand_feature_baseline']}; "
                  f"model minus hand features, 95% interval {cv['model_minus_hand_ci95']}")
    if args.kind in ("music", "all"):
        emotion = out / "emotion.pt"
        if not emotion.is_file():
            raise CoevoError(f"{emotion} is missing: train the emotion model first (coevo train emotion --out {out})")
        report = train_music(out, emotion, MusicConfig(seed=args.seed, steps=args.steps, songs=args.songs,
                                                        grooves=args.songs, emotion_steer=args.emotion_steer),
                             resume=not args.restart)
        print(f"generator: {report['steps']} steps in {report['training_seconds'] / 60:.1f} min; axes {report['code_names']}")
    if args.kind in ("encoder", "all"):
        missing = [p.name for p in (out / "generator.pt", out / "emotion.pt") if not p.is_file()]
        if missing:
            raise CoevoError(f"{out} lacks {', '.join(missing)}: the encoder inverts the run's generator; train it "
                             f"first (coevo train music --out {out})")
        report = train_encoder(out, EncoderTrainConfig(seed=args.seed, steps=args.encoder_steps, songs=args.songs,
                                                        grooves=args.songs), resume=not args.restart)
        scores = report["test_reconstruction"]
        print(f"encoder: {report['steps']} steps in {report['training_seconds'] / 60:.1f} min; held-out note F1 "
              f"{scores['encoder']['f1']} (prior mean {scores['prior_mean']['f1']}, random {scores['random']['f1']})")
    print(f"run folder: {out}")
    return 0


def _cmd_ship(args: argparse.Namespace) -> int:
    with _train_extra("ship"):
        from models.ship import ship_art, ship_run
    needed = ("art.pt", "art_report.json") if args.art else ("generator.pt", "emotion.pt", "music_report.json")
    missing = [name for name in needed if not (Path(args.run) / name).is_file()]
    if missing:
        raise CoevoError(f"{args.run} lacks {', '.join(missing)}: train first (coevo train {'art' if args.art else 'all'} "
                         f"--out {args.run})")
    dest = Path(args.dest)
    if not dest.is_dir():
        if args.dest == recipe.SHIPPED:
            raise CoevoError(f"{dest} is not a folder: `coevo ship` writes models/shipped/ in the repository root; "
                             "run it there or pass --dest")
        try:
            dest.mkdir(parents=True)
        except OSError as exc:
            raise CoevoError(f"--dest {dest}: cannot make that folder ({exc.strerror})") from None
    manifest = ship_art(Path(args.run), dest) if args.art else ship_run(Path(args.run), dest)
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
    p = sub.add_parser("generate", help="write N clips as MIDI files, for your DAW", formatter_class=fmt,
                       description="Generate clips offline in one batched model run and write them as standard "
                                   "MIDI files (type 1, 480 PPQ, tempo, time and key signature, one named track per "
                                   "instrument, drums on channel 10). Same seed and options: byte-identical files.",
                       epilog="examples:\n"
                              "  coevo generate --bars 4 -n 16 --mood calm --key \"A minor\" --bpm 96 --seed 7 -o clips/\n"
                              "  coevo generate --valence -0.5 --arousal 0.8 --axis density=0.8 --tracks melody,bass\n"
                              "  coevo generate --like clips/coevo_7_003.mid -n 8 -o clips/more/   variations of a clip\n"
                              "moods: " + ", ".join(sorted(MOODS)))
    p.add_argument("--bars", type=int, default=4, choices=range(1, 9), metavar="1..8", help="bars per clip (default 4)")
    p.add_argument("-n", "--count", type=int, default=16, help="number of clips (default 16)")
    p.add_argument("-o", "--out", default="clips", help="folder to write to (default ./clips)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed and options, same files (default 0)")
    p.add_argument("--mood", choices=sorted(MOODS), metavar="MOOD",
                   help="emotion by name (see the list below)")
    p.add_argument("--valence", type=_unit, help="emotion: valence -1 (negative) .. 1 (positive)")
    p.add_argument("--arousal", type=_unit, help="emotion: arousal -1 (calm) .. 1 (energetic)")
    p.add_argument("--axis", type=_axis_value, action="append", metavar="NAME=VALUE",
                   help="set a named axis in [-1, 1], e.g. density=0.8 (repeatable; names: see coevo doctor)")
    p.add_argument("--key", help="key and scale, e.g. \"A minor\", \"F# dorian\", Bb, Am (default from config: C major)")
    p.add_argument("--no-key-lock", dest="no_key_lock", action="store_true", help="let notes leave the key")
    p.add_argument("--no-mood-shaping", dest="no_mood_shaping", action="store_true",
                   help="keep --key's scale and the tempo feel whatever the mood (default: a negative valence "
                        "plays the key's minor counterpart, a low arousal plays in half time an octave up)")
    p.add_argument("--bpm", type=float, help="tempo written into the files (default 120)")
    p.add_argument("--density", type=float, help="note density 0..1 (default 0.5)")
    p.add_argument("--spread", type=float, help="how far clips vary: 1.0 samples the whole model (default); with "
                                                "--like, the distance from the liked clip (default 0.3)")
    p.add_argument("--tracks", help="comma-separated tracks to include (default: all the model has)")
    p.add_argument("--like", help="a MIDI clip you liked: generate variations around it (needs the encoder)")
    p.add_argument("--force", action="store_true", help="overwrite clip files of the same name")
    p.add_argument("--config", type=Path, help="TOML settings file (refinement, channels, models)")
    p.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    p.add_argument("--encoder", help="encoder ONNX file for --like (default: the shipped one)")
    p.add_argument("--emotion-model", dest="emotion_model", help="emotion ONNX file (default: the shipped one)")
    p.add_argument("--providers", choices=("auto", "cpu", "cuda", "tensorrt"), help="onnxruntime providers")
    p.set_defaults(func=_cmd_generate)
    p = sub.add_parser("live", help="push a MIDI clip into Ableton Live (through AbletonOSC)", formatter_class=fmt,
                       description="push: write the notes of a MIDI file into a clip slot of Live's session view "
                                   "through the AbletonOSC Remote Script (install it and select it as a Control "
                                   "Surface in Live's preferences). The notes keep their places in beats, so the "
                                   "clip plays at Live's tempo. Live is asked to read the notes back, and the push "
                                   "fails unless it holds exactly the clip's notes.",
                       epilog="examples:\n"
                              "  coevo live push clips/coevo_7_001.mid --track 0 --slot 2 --fire\n"
                              "  coevo live push clip.mid --track 1 --parts bass      only the bass part, next empty slot\n"
                              "Tracks and slots count from 0, as in AbletonOSC.")
    p.add_argument("what", choices=("push",))
    p.add_argument("clip", help="a MIDI file (e.g. from coevo generate)")
    p.add_argument("--track", type=int, required=True, help="Live track index, from 0")
    p.add_argument("--slot", type=int, help="clip slot (scene) index, from 0 (default: the first empty one)")
    p.add_argument("--name", help="clip name (default: the file name)")
    p.add_argument("--fire", action="store_true", help="launch the clip once it is written")
    p.add_argument("--replace", action="store_true", help="overwrite a clip already in the slot")
    p.add_argument("--parts", help="comma-separated track names of the file to include (default: all)")
    p.add_argument("--host", default="127.0.0.1", help="where Live runs (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=11000, help="AbletonOSC's port (default 11000)")
    p.add_argument("--reply-port", dest="reply_port", type=int, default=11001,
                   help="port AbletonOSC answers on (default 11001)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each answer (default 2)")
    p.set_defaults(func=_cmd_live)
    p = sub.add_parser("art", help="curate generated images into the training folder (co-evolution)",
                       formatter_class=fmt,
                       description="curate: copy the images you pick from a run's sample grid (RUN/samples/, 8 x 6 "
                                   "tiles, index = row * 8 + column from 0, the newest grid unless --grid) or "
                                   "image files into the folder the run trained on, or --into FOLDER, so that the "
                                   "next run learns from them. Nothing is overwritten.",
                       epilog="examples:\n"
                              "  coevo train art --images my_portfolio/ --out runs/mine\n"
                              "  coevo art curate runs/mine --pick 3,17,40\n"
                              "  coevo art curate runs/art --pick 5 --file favourite.png --into my_portfolio/")
    p.add_argument("what", choices=("curate",))
    p.add_argument("run", help="an art run folder (coevo train art --out RUN)")
    p.add_argument("--pick", help="comma-separated grid indices, e.g. 3,17,40")
    p.add_argument("--grid", help="the sample grid to pick from (default: the run's newest)")
    p.add_argument("--file", action="append", help="an image file to add (repeatable)")
    p.add_argument("--into", help="folder to add the images to (default: the folder the run trained on)")
    p.set_defaults(func=_cmd_art)
    p = sub.add_parser("replay", help="re-render a session from its journal",
                       description="Generate every phrase of a session again from its journal (same model, "
                                   "same z, seed and settings) into SESSION/replay/ and SESSION/replay.mid.")
    p.add_argument("session", help="a session folder (see the path `coevo run` prints)")
    p.add_argument("--model", help="generator to use (default: the one the journal names)")
    p.set_defaults(func=_cmd_replay)
    p = sub.add_parser("bench", help="benchmarks that print figures and write JSON",
                       description="live: feedback -> phrase ready latency, MIDI onset lateness at a JACK peer "
                                   "(in JACK's frames) without load and under 200 OSC messages/s, with JACK cycle "
                                   "alignment on and off in turns, torch vs onnxruntime inference. Starts a JACK "
                                   "dummy server if none runs; needs jackd, jack_midi_dump and torch.\n"
                                   "generate: 4-bar clips per second of `coevo generate` (batched) against one clip "
                                   "per model call, and MIDI files per second.\n"
                                   "visuals: frames per second of --visuals, and MIDI onset lateness with visuals off "
                                   "and on (two rounds each, same JACK server). Exit status 1 when a target is missed.")
    p.add_argument("what", choices=("live", "generate", "visuals"))
    p.add_argument("--out", help="JSON results file (default bench-results/<what>.json)")
    p.add_argument("--clips", type=int, default=2048, help="generate: clips per batched run (default 2048)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each timing phase (default 30)")
    p.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("eval", help="measure models against held-out music or paintings (train extra)",
                       formatter_class=fmt,
                       description="music: MuseGAN metrics (empty bars, pitch classes, qualified notes, polyphony, "
                                   "drum pattern, tonal distance) and mgeval overlapping areas for the test songs, "
                                   "the model (asked for the emotions its training songs carry; model_uniform: for any "
                                   "emotion), random notes, a Markov chain and the validation songs (real music, for "
                                   "reference); emotion controllability; the effect "
                                   "of each named axis. Prints the Markdown report; writes it with JSON and PNG plots.\n"
                                   "art: FID and KID (Inception features, offline) and MS-SSIM diversity of each art "
                                   "model against the held-out images, with a sample grid per model.",
                       epilog="examples:\n"
                              "  coevo eval music\n"
                              "  coevo eval art                                  the shipped art model\n"
                              "  coevo train art --ablation --minutes 6 --out runs/ablation\n"
                              "  coevo eval art runs/ablation/* --out eval/art   the ablation table")
    p.add_argument("what", choices=("music", "art"))
    p.add_argument("runs", nargs="*", help="art: run folders (coevo train art) or art ONNX files (default: the shipped one)")
    p.add_argument("--model", help="generator ONNX file (default: the shipped model)")
    p.add_argument("--emotion-model", dest="emotion_model", help="emotion ONNX file (default: the shipped one)")
    p.add_argument("--out", help="report folder (default eval/<what>)")
    p.add_argument("-n", "--segments", type=int,
                   help="4-bar segments per set (default: every segment of the test songs, 1448); art: images per model "
                        "(default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--songs", type=int, help="use only this many songs and drum files (quick runs)")
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser("train", help="train the models on ../shared/data (needs the train extra)",
                       formatter_class=fmt, epilog=f"the shipped models: {recipe.SHIPPED_COMMAND}",
                       description="Train the emotion model (VGMIDI ratings), the phrase generator (POP909 + "
                                   "Groove, WGAN-GP with InfoGAN codes) and the encoder that inverts it (phrase -> "
                                   "z), in that order: each needs the ones before it in the same run folder. "
                                   "art: the image model, on the paintings or --images FOLDER (8x6 sample grids "
                                   "in RUN/samples/ as it learns). "
                                   "Progress bars, checkpoints every minute, resume by running the same command again.")
    p.add_argument("kind", choices=("emotion", "music", "encoder", "all", "art"))
    p.add_argument("--out", default=recipe.RUN, help="run folder: checkpoints, reports, configs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=recipe.EMOTION_EPOCHS, help="emotion model epochs")
    p.add_argument("--folds", type=int, choices=range(2, 21), metavar="2..20",
                   help="emotion: also cross-validate by piece over every labelled phrase in this many folds, beside "
                        "the baselines (5: about 5 min on a 2-core CPU; written to OUT/emotion_cv.json)")
    p.add_argument("--steps", type=int, default=recipe.MUSIC_STEPS, help="generator steps (about 30 min on a 2-core CPU)")
    p.add_argument("--emotion-steer", dest="emotion_steer", action="store_true",
                   help="music: after training, fit a steer that moves the latents to where the emotion model reads the "
                        "emotion asked for, then calibrate again (about 2 min; on a finished run it fits the steer "
                        "without training again). On the shipped generator its own emotion control went from chance "
                        "to 0.67, but its sad and tense phrases came out nearly alike (README, Models), so the "
                        "shipped models have none")
    p.add_argument("--encoder-steps", dest="encoder_steps", type=int, default=recipe.ENCODER_STEPS,
                   help="encoder steps (about 10 min on a 2-core CPU)")
    p.add_argument("--art-steps", dest="art_steps", type=int, default=recipe.ART_STEPS,
                   help="art model steps (about 20 min on a 2-core CPU at 64x64)")
    p.add_argument("--images", help="art: train on this folder of your own images instead of the paintings")
    p.add_argument("--variant", default=recipe.ART_VARIANT,
                   help="art: dcgan (default), full, or some of attention, dilated, multiscale, ms-ssim joined by '+' "
                        "(e.g. attention+ms-ssim); see the README's ablation")
    p.add_argument("--minutes", type=float, help="art: stop after this many minutes of training (or --art-steps)")
    p.add_argument("--ablation", action="store_true",
                   help="art: train every variant into OUT/<variant>, each for --minutes, to compare with coevo eval art")
    p.add_argument("--songs", type=int, help="use only this many songs and drum files, or images for art (quick runs)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("ship", help="export a training run's models into the package, with the manifest",
                       description="Export RUN/emotion.pt and RUN/generator.pt to ONNX (parity-checked) into "
                                   "models/shipped/, evaluate the generator as `coevo eval music` does (report in "
                                   "models/shipped/eval/) and write manifest.json (sha256, data, config, seed, "
                                   "time, figures).")
    p.add_argument("run")
    p.add_argument("--art", action="store_true", help="RUN is an art run (coevo train art): ship art.onnx only")
    p.add_argument("--dest", default=recipe.SHIPPED,
                   help="folder to write to, made if missing (default: models/shipped, run from the repository root)")
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
