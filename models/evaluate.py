"""``coevo eval music``: the shipped (or any exported) generator measured against held-out real music.

Sets of 4-bar, 4-track segments are measured alike: the test songs themselves (POP909 test split,
paired with Groove test beats), the model (through onnxruntime, as the daemon runs it, at the daemon's
default density), random notes, a first-order Markov chain trained on the training songs, and the
validation songs (real music held out like the test songs). The model is a conditional generator, so it
is compared with the songs as such models are: asked for the emotions the music it learnt from carries,
as often as it carries them (the emotion model's readings of training segments, its training labels;
the songs read mostly happy). ``model_uniform`` asks it for emotions drawn evenly over the plane
instead, which a generator that follows its emotion input cannot play like the songs. Then the
emotion controls (quadrant accuracy and Spearman correlation, read back by the emotion model; how alike
the phrases made for one quadrant are) and the named axes (slope of the feature each is named after). Writes
``report.json``, ``report.md`` and PNG plots. Needs numpy, scipy, onnxruntime and matplotlib; no torch.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bridge.config import Config
from bridge.generation import Generator, bar_walk, load_session
from bridge.phrase import BEATS_PER_BAR, decode_rolls, encode_roll, midi_velocity
from bridge.refine import RefineSettings, parse_key, refine_table
from models.data import STEPS, TRACKS, load_groove, load_pop909, load_vgmidi
from models.emotion_features import HandBaseline, sign_hits
from models.metrics import (BARS, HISTOGRAMS, PITCHED, SOFT_VELOCITY, code_effect, drum_segments, features,
                            musegan_metrics, overlapping_area, phrase_histograms, segments, velocity_figures)

__all__ = ["evaluate_music", "markov_baseline", "random_baseline", "model_samples", "played_samples", "phrase_latents",
           "pairwise_f1", "TOLERANCE"]

log = logging.getLogger(__name__)

TOLERANCE = 0.25  # each MuseGAN metric of the model within +-25% of the test data's
QUADRANTS = ((0.7, 0.7), (-0.7, 0.7), (-0.7, -0.7), (0.7, -0.7))
THRESHOLD = 0.5  # the daemon's activity threshold at its default density
FEATURES = ("density", "register", "rhythm", "polyphony")  # what models.metrics.features measures


def _paired(pitched: np.ndarray, drums: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """[n, 4, 4, 16, P]: ``n`` of the pitched segments (all of them when None or when there are fewer), each
    with a drum segment; the drum segments take turns in a shuffled order, so each is used as often as the
    others (within one) and the set's drum figures are those of every drum segment, not of a draw."""
    rng = np.random.default_rng(seed)
    i = rng.choice(len(pitched), size=len(pitched) if n is None else min(n, len(pitched)), replace=False)
    j = np.resize(rng.permutation(len(drums)), len(i))
    return np.concatenate([pitched[i], drums[j][:, :, None]], axis=2)


def _share_in(emotion: np.ndarray, quadrant: tuple[float, float]) -> float:
    """Share of the rows of ``emotion`` [n, 2] in the quadrant of ``quadrant`` (valence, arousal)."""
    return float(sign_hits(emotion, np.array(quadrant))[:, 2].mean())


def _quadrant_shares(emotion: np.ndarray) -> list[float]:
    """Shares of the rows of ``emotion`` [n, 2] in each quadrant, in the order of ``QUADRANTS``."""
    return [round(_share_in(emotion, q), 4) for q in QUADRANTS]


def pairwise_f1(rolls: np.ndarray, limit: int = 64) -> float:
    """How alike the first ``limit`` phrases of ``rolls`` [n, ...] are: the mean note F1 of every pair of them
    (sounding cells, all tracks; 1 when all are the same phrase)."""
    on = (rolls[:limit] > 0).reshape(min(len(rolls), limit), -1).astype(np.float32)
    shared, sizes = on @ on.T, on.sum(axis=1)
    f1 = 2 * shared / np.maximum(sizes[:, None] + sizes[None, :], 1)
    upper = np.triu_indices(len(on), k=1)
    return float(f1[upper].mean())


def _track_states(rolls: np.ndarray) -> list[list[bytes]]:
    """Each segment's step-by-step states of one track ([n, bars, 16, P] -> n lists of 64 keys)."""
    flat = (rolls > 0).reshape(len(rolls), -1, rolls.shape[-1])
    return [[np.packbits(step).tobytes() for step in seg] for seg in flat]


def markov_baseline(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """First-order Markov chain per track over the set of active pitches at each step, trained on
    ``train`` segments; a state never seen with a successor restarts from a random opening state."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, BARS, len(TRACKS), STEPS, train.shape[-1]), dtype=np.uint8)
    for t in range(len(TRACKS)):
        chains: dict[bytes, Counter[bytes]] = defaultdict(Counter)
        openings: list[bytes] = []
        for seq in _track_states(train[:, :, t]):
            openings.append(seq[0])
            for a, b in zip(seq, seq[1:]):
                chains[a][b] += 1
        table = {k: (list(c), np.array(list(c.values()), dtype=np.float64)) for k, c in chains.items()}
        for i in range(n):
            state = openings[rng.integers(len(openings))]
            for s in range(BARS * STEPS):
                row = np.unpackbits(np.frombuffer(state, dtype=np.uint8))[: train.shape[-1]]
                out[i, s // STEPS, t, s % STEPS] = row * 100
                nxt, counts = table.get(state, (None, None))
                state = (openings[rng.integers(len(openings))] if nxt is None
                         else nxt[rng.choice(len(nxt), p=counts / counts.sum())])
    return out


def random_baseline(reference: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Random notes: per track and bar as many notes as the reference has on average, uniform pitch
    within the track's range in the reference, uniform onset, 1-4 steps long (drums: one step)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, BARS, len(TRACKS), STEPS, reference.shape[-1]), dtype=np.uint8)
    on = reference > 0
    for t in range(len(TRACKS)):
        onsets = on[:, :, t].copy()
        onsets[:, :, 1:] &= ~on[:, :, t, :-1]
        per_bar = onsets.sum(axis=(2, 3)).mean()
        used = np.nonzero(on[:, :, t].any(axis=(0, 1, 2)))[0]
        if used.size == 0:
            continue
        for i in range(n):
            for b in range(BARS):
                for _ in range(rng.poisson(per_bar)):
                    p = rng.integers(used.min(), used.max() + 1) if t != 3 else rng.choice(used)
                    s = int(rng.integers(0, STEPS))
                    length = 1 if t == 3 else int(rng.integers(1, 5))
                    out[i, b, t, s:s + length, p] = 100
    return out


def phrase_latents(rng: np.random.Generator, seed: int, n: int, latent_size: int,
                   bar_latent_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Latents of ``n`` 4-bar phrases as the daemon draws a phrase's: z [n, latent_size] from ``rng``, and
    each phrase's bar latents a walk (``bar_walk``) seeded from ``seed`` and the phrase's index
    ([n * 4, bar_latent_size])."""
    z = rng.standard_normal((n, latent_size)).astype(np.float32)
    return z, np.concatenate([bar_walk(seed * 100_003 + i, BARS, bar_latent_size) for i in range(n)])


def _model_outputs(gen: Generator, emotion: np.ndarray, seed: int,
                   codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Note activity and velocity (0..1) of one 4-bar phrase per row of ``emotion`` [n, 2], with latents
    drawn as the daemon draws them: each [n, 4, 4, 16, P]."""
    c = gen.contract
    n = len(emotion)
    z, bar_z = phrase_latents(np.random.default_rng(seed), seed, n, c.latent_size, c.bar_latent_size)
    codes = np.zeros((n, len(c.code_names)), np.float32) if codes is None else codes.astype(np.float32)
    rep = lambda a: np.repeat(a.astype(np.float32), BARS, axis=0)  # noqa: E731
    outputs = [gen.run(rep(z)[lo:lo + 512], bar_z[lo:lo + 512], rep(emotion)[lo:lo + 512], rep(codes)[lo:lo + 512])
               for lo in range(0, n * BARS, 512)]
    roll, velocity = (np.concatenate(part) for part in zip(*outputs))
    return roll.reshape(n, BARS, *roll.shape[1:]), velocity.reshape(n, BARS, *velocity.shape[1:])


def model_samples(gen: Generator, emotion: np.ndarray, seed: int, codes: np.ndarray | None = None) -> np.ndarray:
    """One 4-bar phrase per row of ``emotion`` [n, 2], as the daemon makes them: [n, 4, 4, 16, P], the
    model's velocity (1..127, before refinement) where activity passes the threshold, else 0."""
    roll, velocity = _model_outputs(gen, emotion, seed, codes)
    return np.where(roll > THRESHOLD, midi_velocity(velocity), 0).astype(np.uint8)


def played_samples(gen: Generator, emotion: tuple[float, float], n: int, seed: int, mood_shaping: bool) -> np.ndarray:
    """``n`` 4-bar phrases for one ``emotion`` as the daemon plays them with its default settings (key
    lock in C major, note length, velocity, density cap; mood shaping on or off), laid back on the
    step grid: [n, 4, 4, 16, P] velocity, 0 where silent."""
    c = gen.contract
    roll, velocity = _model_outputs(gen, np.tile(np.array([emotion], np.float32), (n, 1)), seed)
    table = decode_rolls(roll, velocity, c.tracks, c.drum_tracks, c.pitch_low, THRESHOLD)
    cfg = Config()
    settings = replace(RefineSettings.from_config(cfg, *parse_key(cfg.key, cfg.mode), emotion), mood_shaping=mood_shaping)
    table = refine_table(table, c.tracks, c.drum_tracks, float(BARS * BEATS_PER_BAR), settings,
                         np.random.default_rng(seed))
    return np.stack([encode_roll(notes, c.tracks, BARS, c.steps_per_bar, c.pitch_low, c.pitches)
                     for notes in table.to_notes(c.tracks, n)])


def _merged_pitched(rolls: np.ndarray) -> np.ndarray:
    """The pitched tracks of [n, bars, tracks, steps, P] rolls merged on one time axis: [n, bars*steps, P] bool."""
    return (rolls[:, :, list(PITCHED)] > 0).any(axis=2).reshape(len(rolls), BARS * STEPS, -1)


def _read_emotion(session: Any, rolls: np.ndarray) -> np.ndarray:
    merged = _merged_pitched(rolls).astype(np.float32)
    return np.concatenate([session.run(None, {"roll": merged[i:i + 256]})[0] for i in range(0, len(merged), 256)])


def _hand_reading(baseline: HandBaseline, rolls: np.ndarray) -> np.ndarray:
    merged = _merged_pitched(rolls)
    return baseline.predict(list(merged.astype(np.uint8) * 100), np.full(len(rolls), 120.0))


def _emotion_control(gen: Generator, session: Any, n: int, seed: int) -> dict[str, Any]:
    """Quadrant accuracy and Spearman correlations as the emotion model (``session``) reads the generated
    phrases, and the same read by the hand-feature baseline (fitted on VGMIDI's training pieces): a second
    reader the generator never trained against (velocity 100 and 120 BPM, as the daemon plays by default)."""
    vgmidi = load_vgmidi()
    train = vgmidi.indices("train")
    hand = HandBaseline.fit([vgmidi.rolls[i] for i in train], vgmidi.tempos[train], vgmidi.labels[train])
    hits: dict[str, list[float]] = defaultdict(list)
    for q, (v, a) in enumerate(QUADRANTS):
        rolls = model_samples(gen, np.tile([[v, a]], (n, 1)), seed + q)
        hits["alike"].append(pairwise_f1(rolls))
        for reader, pred in (("model", _read_emotion(session, rolls)), ("hand", _hand_reading(hand, rolls))):
            hits[reader].append(_share_in(pred, (v, a)))
        for shaped in (False, True):  # as the daemon plays them, without and with mood shaping
            rolls = played_samples(gen, (v, a), n, seed + q, mood_shaping=shaped)
            hits[f"played{shaped:d}"].append(_share_in(_read_emotion(session, rolls), (v, a)))
            hits[f"played{shaped:d}_hand"].append(_share_in(_hand_reading(hand, rolls), (v, a)))
    request = np.random.default_rng(seed).uniform(-1, 1, (4 * n, 2))
    rolls = model_samples(gen, request, seed + 7)
    pred, by_hand = _read_emotion(session, rolls), _hand_reading(hand, rolls)
    rho = lambda p, k: round(float(spearmanr(request[:, k], p[:, k]).statistic), 4)  # noqa: E731
    return {"quadrant_accuracy": round(float(np.mean(hits["model"])), 4),
            "per_quadrant": {f"v{v:+.1f} a{a:+.1f}": round(h, 4) for (v, a), h in zip(QUADRANTS, hits["model"])},
            "spearman_valence": rho(pred, 0), "spearman_arousal": rho(pred, 1),
            "hand_feature_reader": {"quadrant_accuracy": round(float(np.mean(hits["hand"])), 4),
                                    "spearman_valence": rho(by_hand, 0), "spearman_arousal": rho(by_hand, 1)},
            "played": {name: {"quadrant_accuracy": round(float(np.mean(hits[key])), 4),
                              "per_quadrant": [round(h, 4) for h in hits[key]],
                              "hand_feature_reader": round(float(np.mean(hits[f"{key}_hand"])), 4)}
                       for name, key in (("refined", "played0"), ("mood_shaped", "played1"))},
            "pairwise_f1": [round(x, 4) for x in hits["alike"]], "samples": 8 * n}


def _axis_effects(gen: Generator, test_features: dict[str, np.ndarray], n: int, seed: int) -> dict[str, Any]:
    """Slope of every feature over each axis's values -1..1, in test-set standard deviations per unit;
    ``named`` is the slope of the feature the axis is named after (None if its name is no feature)."""
    names = gen.contract.code_names
    emotion = np.random.default_rng(seed).uniform(-1, 1, (n, 2))
    out = {}
    for k, name in enumerate(names):
        means, slopes = code_effect(lambda codes: model_samples(gen, emotion, seed, codes), n, len(names), k,
                                    test_features)
        rounded = {f: round(v, 4) for f, v in slopes.items()}
        out[name] = {"feature_means": {f: [round(x, 4) for x in m] for f, m in means.items()},
                     "slopes_in_test_std": rounded, "named": rounded.get(name)}
    return out


def _plots(out: Path, hists: dict[str, dict[str, np.ndarray]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for feature in ("pitch_class", "note_length", "ioi"):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.8 / len(hists)
        for i, (name, h) in enumerate(hists.items()):
            mean = h[feature].mean(axis=0)
            ax.bar(np.arange(len(mean)) + i * width, mean, width, label=name)
        ax.set_title(f"{feature.replace('_', ' ')} histogram (mean over segments)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"hist_{feature}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path.name)
    return written


def _markdown(report: dict[str, Any]) -> str:
    sets = list(report["musegan"])
    shares = " / ".join(f"{x:.2f}" for x in report["asked"]["model_quadrant_shares"])
    lines = ["# coevo eval music", "", f"Model: `{report['model']}`; {report['segments']} segments of 4 bars per set.",
             "", "`model` is asked for the emotions the training songs carry, as the emotion model reads them (its "
             f"training labels), as often as they carry them: happy / tense / sad / calm {shares}. `model_uniform` "
             "is asked for any emotion, evenly over the plane.", "", "## MuseGAN metrics", "",
             "| metric | " + " | ".join(sets) + " | model within ±25% |",
             "|---|" + "---|" * (len(sets) + 1)]
    for metric in report["musegan"]["test"]:
        row = [f"{report['musegan'][s][metric]:.4f}" for s in sets]
        ok = report["within_tolerance"][metric]
        lines.append(f"| {metric} | " + " | ".join(row) + f" | {'yes' if ok else 'NO'} |")
    count = report["within_tolerance_count"]
    lines += ["", "Within ±25% of the test songs: " + ", ".join(f"{s} {count[s]}" for s in sets if s != "test")
              + f" of {len(report['musegan']['test'])}."]
    if "valid" in count:
        lines[-1] += (" `valid` is real music too: the validation songs, held out from training like the test songs;"
                      " several of MuseGAN's figures are rates of a few in a thousand, where two sets of real songs"
                      " differ by more than ±25%.")
    lines += ["", "## Overlapping area with the test set (mgeval)", "",
              "| feature | " + " | ".join(s for s in sets if s != "test") + " |", "|---|" + "---|" * (len(sets) - 1)]
    for feature in HISTOGRAMS:
        lines.append(f"| {feature} | " + " | ".join(f"{report['overlap'][s][feature]:.3f}" for s in sets if s != "test") + " |")
    lines += ["", "## Velocity", "", f"Of the sounding cells (the model's velocity, before refinement's `velocity_floor`): "
              f"the share under {SOFT_VELOCITY}, the 5th percentile and the median.", "",
              "| track | test under / p5 / median | model under / p5 / median |", "|---|---|---|"]
    for track in report["velocity"]["test"]:
        cells = [" / ".join("-" if x is None else f"{x:.2f}" if k == "under_soft" else f"{x:.0f}"
                            for k, x in report["velocity"][s][track].items()) for s in ("test", "model")]
        lines.append(f"| {track} | {cells[0]} | {cells[1]} |")
    e = report["emotion_control"]
    h = e["hand_feature_reader"]
    lines += ["", "## Emotion control", "", f"Quadrant accuracy {e['quadrant_accuracy']:.3f} (chance 0.25); "
              f"Spearman valence {e['spearman_valence']:.3f}, arousal {e['spearman_arousal']:.3f}.", "",
              "How alike the phrases made for one quadrant are (mean note F1 of every pair of 64; 1: all the "
              "same phrase; 64 test segments: " + f"{e['pairwise_f1_test']:.3f}): "
              + ", ".join(f"v{v:+.1f} a{a:+.1f} {x:.3f}" for (v, a), x in zip(QUADRANTS, e["pairwise_f1"])) + ".", "",
              f"Read by the hand-feature baseline instead (a reader the generator never trained against): quadrant "
              f"accuracy {h['quadrant_accuracy']:.3f}; Spearman valence {h['spearman_valence']:.3f}, arousal "
              f"{h['spearman_arousal']:.3f}.", "",
              "As the daemon plays them by default (decoded and refined: key lock in C major, note length, "
              "velocity, density cap), quadrant accuracy read by the emotion model / by the hand-feature baseline, "
              "and per quadrant (" + ", ".join(f"v{v:+.1f} a{a:+.1f}" for v, a in QUADRANTS) + ") by the emotion model:", "",
              "| refinement | emotion model | hand-feature baseline | per quadrant |", "|---|---|---|---|"]
    for name, label in (("refined", "without mood shaping"), ("mood_shaped", "with mood shaping (the default)")):
        pl = e["played"][name]
        lines.append(f"| {label} | {pl['quadrant_accuracy']:.3f} | {pl['hand_feature_reader']:.3f} | "
                     + " / ".join(f"{x:.2f}" for x in pl["per_quadrant"]) + " |")
    lines += ["", "## Named axes", "", "Slope of each feature per unit of the axis (-1..1), in test-set standard deviations.", "",
              "| axis | " + " | ".join(FEATURES) + " |", "|---|" + "---|" * len(FEATURES)]
    for name, a in report["axes"].items():
        cells = [f"**{a['slopes_in_test_std'][f]:+.3f}**" if f == name else f"{a['slopes_in_test_std'][f]:+.3f}"
                 for f in FEATURES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets", ""] + [f"- {k}: {'met' if v else 'MISSED'}" for k, v in report["targets"].items()]
    return "\n".join(lines) + "\n"


def evaluate_music(model: Path, emotion_model: Path, out: Path, n: int | None = None, seed: int = 0,
                   songs_limit: int | None = None) -> dict[str, Any]:
    """Measure everything on ``n`` segments a set (None: as many as the test songs have, every one of them
    in the test set), write ``out/report.json``, ``out/report.md`` and plots; return the report.

    The whole test set is the default because MuseGAN's rates near zero are a few bars in a thousand:
    the songs' accompaniment rests in 0.19% of their bars, and 512 segments drawn from the 1448 read
    it anywhere from 0.05% to 0.39% (95% of draws), far wider than the +-25% band the model is held to."""
    t0 = time.monotonic()
    gen = Generator(model, ["CPUExecutionProvider"])
    log.info("test segments ...")
    songs, split = load_pop909(limit=songs_limit)
    groove = load_groove(limit=songs_limit)
    beats = groove["bars"]
    # held out: POP909 test songs with Groove test beats; the Markov chain learns from the training ones
    test = _paired(segments(songs, split.test), drum_segments(beats, groove["test"] or list(beats)), n, seed)
    n = len(test)
    train = _paired(segments(songs, split.train), drum_segments(beats, groove["split"] or list(beats)), 2000, seed + 1)
    session, _ = load_session(emotion_model, ["CPUExecutionProvider"])
    asked = _read_emotion(session, train)[np.random.default_rng(seed + 8).integers(0, len(train), n)]
    log.info("model, random and Markov samples ...")
    sets = {"test": test,
            "model": model_samples(gen, asked, seed + 2),
            "model_uniform": model_samples(gen, np.random.default_rng(seed + 2).uniform(-1, 1, (n, 2)), seed + 2),
            "random": random_baseline(test, n, seed + 3),
            "markov": markov_baseline(train, n, seed + 4)}
    # other real songs held out from training (the validation split, with Groove's validation beats),
    # measured against the test songs as the model is: how close two sets of real music come
    held_out = segments(songs, split.valid)
    if len(held_out):
        sets["valid"] = _paired(held_out, drum_segments(beats, groove["valid"] or groove["test"] or list(beats)), n, seed + 7)
    musegan = {name: musegan_metrics(rolls) for name, rolls in sets.items()}
    hists = {name: phrase_histograms(rolls) for name, rolls in sets.items()}
    overlap = {name: {f: round(overlapping_area(hists["test"][f], hists[name][f]), 4) for f in HISTOGRAMS}
               for name in sets if name != "test"}
    within_of = {name: {m: abs(musegan[name][m] - musegan["test"][m]) <= TOLERANCE * abs(musegan["test"][m]) + 1e-9
                        for m in musegan["test"]} for name in musegan if name != "test"}
    within = within_of["model"]
    velocity = {name: velocity_figures(sets[name]) for name in ("test", "model")}  # the baselines play 100
    log.info("emotion control and named axes ...")
    emotion = _emotion_control(gen, session, max(n // 4, 16), seed + 5)
    emotion["pairwise_f1_test"] = round(pairwise_f1(test), 4)  # the songs' own variety, to compare
    axes = _axis_effects(gen, features(test), max(n // 4, 16), seed + 6)
    mean_oa = {name: (o["pitch_class"] + o["note_length"]) / 2 for name, o in overlap.items()}
    targets = {
        "every MuseGAN metric within ±25% of the test data": all(within.values()),
        "pitch-class and note-length overlapping area >= 0.8": overlap["model"]["pitch_class"] >= 0.8
        and overlap["model"]["note_length"] >= 0.8,
        "overlapping area better than the Markov baseline": mean_oa["model"] > mean_oa["markov"],
        "emotion quadrant controllability >= 60%": emotion["quadrant_accuracy"] >= 0.6,
    }
    report = {"model": str(model), "emotion_model": str(emotion_model), "segments": n, "seed": seed,
              "asked": {"model": "the training songs' emotions", "model_uniform": "any emotion, evenly",
                        "model_quadrant_shares": _quadrant_shares(asked)},
              "threshold": THRESHOLD, "musegan": {k: {m: round(v, 4) for m, v in d.items()} for k, d in musegan.items()},
              "within_tolerance": within,
              "within_tolerance_count": {name: sum(w.values()) for name, w in within_of.items()},
              "overlap": overlap, "velocity": velocity, "emotion_control": emotion, "axes": axes,
              "targets": targets, "seconds": round(time.monotonic() - t0, 1)}
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = _plots(out, hists)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report

