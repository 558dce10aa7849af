"""Export a training run's models into the package (``models/shipped/``) with their manifest."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from export.onnx_export import (FP16_ATOL, ParityError, export_art, export_emotion, export_encoder, export_fp16,
                                export_generator, git_revision)
from models.art import ArtConfig, ArtGenerator
from models.emotion import EmotionConfig, EmotionModel
from models.encoder import EncoderConfig, PhraseEncoder
from models.generator import GeneratorConfig, PhraseGenerator
from models.recipe import Stage, art_command, train_command
from models.shipped import MANIFEST_NAME, read_manifest, sha256_file
from models.train_art import ArtTrainConfig
from models.train_emotion import emotion_run_config
from models.train_music import MusicConfig

__all__ = ["ship_run", "ship_art", "fold_code_signs", "fp16_entry", "load_run_models", "run_command", "MAX_BYTES"]

log = logging.getLogger(__name__)

MAX_BYTES = 25 * 1024 * 1024


def fold_code_signs(gen: PhraseGenerator, signs: list[float]) -> PhraseGenerator:
    """Multiply each code's input weights by its sign, so that raising an axis raises its feature."""
    n_codes = len(signs)
    with torch.no_grad():
        gen.fc[0].weight[:, -n_codes:] *= torch.tensor(signs, dtype=torch.float32)
    return gen


def _config_from_json(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved model config (generator, encoder, art) with its JSON lists back as tuples."""
    lists = ("code_names", "tracks", "drum_tracks", "movements", "emotion_mean", "emotion_std", "bar_gate", "mono_tracks",
             "second_voice", "bar_pitch_classes")
    return {k: tuple(v) if k in lists else v for k, v in saved.items()}


def load_run_models(run: Path) -> tuple[PhraseGenerator, EmotionModel]:
    """The run's generator (code signs folded in, as shipped) and emotion model, frozen."""
    gen_state = torch.load(run / "generator.pt", weights_only=False)
    gen = PhraseGenerator(GeneratorConfig(**_config_from_json(gen_state["gen_config"])))
    gen.load_state_dict(gen_state["gen"])
    fold_code_signs(gen, gen_state["signs"])
    emo_state = torch.load(run / "emotion.pt", weights_only=False)
    emo = EmotionModel(EmotionConfig(**emo_state["config"]))
    emo.load_state_dict(emo_state["state"])
    return gen.eval().requires_grad_(False), emo.eval().requires_grad_(False)


def _not_made(kind: str, saved: dict[str, Any], made: dict[str, Any]) -> list[str]:
    """The settings in a run's ``saved`` config that ``coevo train`` would not have made (``made``: what it
    makes with the run's seed, length and song limit); a setting the saved config lacks is taken as made."""
    made = json.loads(json.dumps(made))  # tuples as the saved JSON's lists
    return [f"{kind} {key} = {value!r} (coevo train makes {made[key]!r})"
            for key, value in saved.items() if key in made and made[key] != value]


def _command_unless(not_made: list[str], command: Callable[[], str]) -> tuple[str | None, list[str]]:
    """``command()`` and no settings, or, where some setting is ``not_made`` by any option, None and those."""
    if not_made:
        log.warning("no coevo train command makes this run: %s", "; ".join(not_made))
        return None, not_made
    return command(), []


def run_command(run: Path, dest: Path, emotion: dict[str, Any], music: dict[str, Any],
                encoder: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """The command that trains the run's models again from its saved configs (emotion, music, encoder or
    None) and ships them to ``dest``; or None and the settings no ``coevo train`` option makes."""
    from models.train_encoder import EncoderTrainConfig  # it imports this module

    songs, steer = music.get("songs"), music.get("emotion_steer", False)
    stages = [Stage("emotion", emotion["seed"], emotion["epochs"]),
              Stage("music", music["seed"], music["steps"], songs, emotion_steer=steer)]
    not_made = (_not_made("emotion", emotion, emotion_run_config(emotion["seed"], emotion["epochs"]))
                + _not_made("music", music, asdict(MusicConfig(seed=music["seed"], steps=music["steps"], songs=songs,
                                                               grooves=songs, emotion_steer=steer))))
    if encoder is not None:
        stages.append(Stage("encoder", encoder["seed"], encoder["steps"], encoder.get("songs")))
        not_made += _not_made("encoder", encoder, asdict(EncoderTrainConfig(
            seed=encoder["seed"], steps=encoder["steps"], songs=encoder.get("songs"), grooves=encoder.get("songs"))))
    return _command_unless(not_made, lambda: train_command(str(run), stages, str(dest)))


def _art_command(run: Path, dest: Path, saved: dict[str, Any]) -> tuple[str | None, list[str]]:
    """``run_command`` for an art run."""
    cli = {k: saved.get(k, getattr(ArtTrainConfig, k)) for k in ("seed", "steps", "images", "limit", "variant", "minutes")}
    not_made = _not_made("art", saved, asdict(ArtTrainConfig(**cli)))
    return _command_unless(not_made, lambda: art_command(str(run), dest=str(dest), **cli))


def _checked_size(path: Path) -> int:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} is {size / 2**20:.1f} MB; shipped models must be <= 25 MB")
    return size


def fp16_entry(path: Path) -> dict[str, Any]:
    """Write the fp16 variant of the exported ``path`` beside it (``NAME.fp16.onnx``); its manifest entry."""
    half, diff = export_fp16(path, path.with_suffix(".fp16.onnx"))
    return {"file": half.name, "sha256": sha256_file(half), "bytes": _checked_size(half),
            "max_abs_diff_vs_fp32": round(diff, 6), "tolerance": FP16_ATOL}


def _entry(path: Path, report: dict[str, Any], kind: str, seed: int, extra: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry for the exported ``path``, with its fp16 variant for GPUs written beside it where that
    keeps within ``FP16_ATOL`` of it; where it does not, the file ships without one (GPUs run it in fp32)."""
    try:
        half: dict[str, Any] = {"fp16": fp16_entry(path)}
    except ParityError as err:
        path.with_suffix(".fp16.onnx").unlink(missing_ok=True)  # one left from an earlier run would not match
        log.warning("%s ships without an fp16 variant; GPUs will run it in fp32: %s", path.name, err)
        half = {"fp16_skipped": str(err)}
    return {"file": path.name, "kind": kind, "sha256": sha256_file(path), "bytes": _checked_size(path), "seed": seed,
            "data": report["data"], "training_seconds": report["training_seconds"], **extra, **half}


def _eval_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"segments": report["segments"], "asked": report["asked"], "musegan_model": report["musegan"]["model"],
            "musegan_model_uniform": report["musegan"]["model_uniform"],
            "musegan_test": report["musegan"]["test"], "within_tolerance_count": report["within_tolerance_count"],
            "overlap": report["overlap"],
            "emotion_control": report["emotion_control"], "velocity": report["velocity"],
            "axes_named_slope_in_test_std": {k: v["named"] for k, v in report["axes"].items()},
            "targets": report["targets"]}


def ship_run(run: Path, dest: Path, eval_segments: int | None = None, eval_songs: int | None = None) -> dict[str, Any]:
    """Export ``run/emotion.pt``, ``run/generator.pt`` and ``run/encoder.pt`` (when trained) to ONNX
    (parity-checked), evaluate the exported generator (``coevo eval music``, report in ``dest/eval/``;
    on every test segment, or ``eval_segments`` of them; 0 skips it) and write the manifest, keeping its ``art`` entry."""
    emo_report = json.loads((run / "emotion_report.json").read_text())
    music_report = json.loads((run / "music_report.json").read_text())
    music_config = json.loads((run / "music_config.json").read_text())
    seed = int(music_config["seed"])
    gen, emotion = load_run_models(run)
    emo_path = export_emotion(emotion, dest / "emotion.onnx", {
        "training_data": emo_report["data"], "seed": str(emo_report["config"]["seed"]),
        "quadrant_acc_test": str(emo_report["model_test"]["quadrant_acc"])})
    gen_path = export_generator(gen, dest / "generator.onnx", {
        "training_data": music_report["data"], "seed": str(seed),
        "training_steps": str(music_report["steps"])})
    encoder_entry, enc_config = {}, None
    if (run / "encoder.pt").is_file():
        enc_report = json.loads((run / "encoder_report.json").read_text())
        enc_config = enc_report["config"]
        enc_state = torch.load(run / "encoder.pt", weights_only=False)
        encoder = PhraseEncoder(EncoderConfig(**_config_from_json(enc_state["config"])))
        encoder.load_state_dict(enc_state["state"])
        enc_path = export_encoder(encoder, dest / "encoder.onnx", {
            "training_data": enc_report["data"], "seed": str(enc_report["config"]["seed"])}, sha256_file(gen_path))
        encoder_entry = {"encoder": _entry(enc_path, enc_report, "encoder", int(enc_report["config"]["seed"]), {
            "config": enc_report["config"], "inverts": gen_path.name,
            "evaluation": {"test_reconstruction": enc_report["test_reconstruction"],
                           "generated_latent_error": enc_report["generated_latent_error"]}})}
    else:
        for stale in ("encoder.onnx", "encoder.fp16.onnx"):  # they would invert a generator that is gone
            (dest / stale).unlink(missing_ok=True)
    evaluation = {}
    if eval_segments is None or eval_segments > 0:
        from models.evaluate import evaluate_music

        evaluation = _eval_summary(evaluate_music(gen_path, emo_path, dest / "eval", n=eval_segments,
                                                  seed=seed, songs_limit=eval_songs))
        if (run / "music_losses.png").is_file():
            shutil.copyfile(run / "music_losses.png", dest / "eval" / "music_losses.png")
    previous = read_manifest(dest)
    command, not_made = run_command(run, dest, emo_report["config"], music_config, enc_config)
    manifest = {
        "command": command, **({"command_lacks": not_made} if not_made else {}), "git_revision": git_revision(),
        "models": {
            "generator": _entry(gen_path, music_report, "generator", seed, {
                "config": music_config, "code_names": music_report["code_names"],
                "activity_map": music_report.get("activity_map"),  # None: a run from before these calibrations
                "bar_gate": music_report.get("bar_gate"),
                "mono_tracks": music_report.get("mono_tracks"),
                "second_voice": music_report.get("second_voice"),
                "bar_pitch_classes": music_report.get("bar_pitch_classes"),
                "velocity_map": music_report.get("velocity_map"),
                "emotion_steer": music_report.get("emotion_steer"),
                "evaluation": {"features_test_vs_generated": music_report["features_test_vs_generated"],
                               "code_effects": music_report["standardized_slopes"],
                               "steps": music_report["steps"], "eval_music": evaluation}}),
            "emotion": _entry(emo_path, emo_report, "emotion", int(emo_report["config"]["seed"]), {
                "config": emo_report["config"],
                "evaluation": {"test": emo_report["model_test"], "majority_baseline_test": emo_report["majority_baseline_test"],
                               "hand_feature_baseline_test": emo_report.get("hand_feature_baseline_test"),
                               "test_windows": emo_report.get("test_windows"),
                               "phrases": emo_report["phrases"], "pieces": emo_report["pieces"]}}),
            **encoder_entry,
            **({"art": previous["models"]["art"]} if "art" in previous["models"] else {}),  # shipped on its own
        },
        **{k: previous[k] for k in ("art_command", "art_command_lacks") if k in previous},
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    log.info("shipped %s", ", ".join(sorted(manifest["models"])))
    return manifest


def ship_art(run: Path, dest: Path) -> dict[str, Any]:
    """Export ``run/art.pt`` (code signs folded in) to ONNX beside the music models, copy its last sample
    grid and loss curves into ``dest/eval/``, and set the manifest's ``art`` entry (others unchanged)."""
    report = json.loads((run / "art_report.json").read_text())
    state = torch.load(run / "art.pt", weights_only=False)
    gen = ArtGenerator(ArtConfig(**_config_from_json(state["config"])))
    gen.load_state_dict(state["gen"])
    n_codes, latent = len(gen.cfg.code_names), gen.cfg.latent_size
    with torch.no_grad():  # raising an axis raises the feature it is named for
        gen.fc[0].weight[:, latent + 2:latent + 2 + n_codes] *= torch.tensor(state["signs"], dtype=torch.float32)
    seed = int(report["config"]["seed"])
    path = export_art(gen, dest / "art.onnx", {"training_data": report["data"], "seed": str(seed),
                                                "training_steps": str(report["steps"]),
                                                "variant": report.get("variant", "dcgan")})
    grids = sorted((run / "samples").glob("step_*.png"))
    (dest / "eval").mkdir(parents=True, exist_ok=True)
    if grids:
        shutil.copyfile(grids[-1], dest / "eval" / "art_samples.png")
    if (run / "art_losses.png").is_file():
        shutil.copyfile(run / "art_losses.png", dest / "eval" / "art_losses.png")
    manifest = read_manifest(dest)
    manifest["art_command"], not_made = _art_command(run, dest, report["config"])
    manifest.pop("art_command_lacks", None)
    manifest.update({"art_command_lacks": not_made} if not_made else {})
    manifest["models"]["art"] = _entry(path, report, "art", seed, {
        "config": report["config"], "code_names": report["code_names"], "movements": report["movements"],
        "emotion_mean": list(gen.cfg.emotion_mean), "emotion_std": list(gen.cfg.emotion_std),
        "evaluation": {"code_slopes_in_feature_std": report["code_slopes"], "steps": report["steps"]}})
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    log.info("shipped %s", path)
    return manifest
