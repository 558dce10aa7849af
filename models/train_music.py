"""Train the phrase generator: WGAN-GP, emotion-conditioned, with InfoGAN codes, on 4-bar segments.

- Data: POP909 (melody, accompaniment, bass) paired with Groove drums, 4 consecutive bars each,
  random transposition -5..+6 semitones of the pitched tracks; train split by song.
- Emotion labels of the real segments come from the trained emotion model (VGMIDI ratings);
  generated segments are conditioned on labels drawn from the same distribution. The critic is
  a projection critic; the generator also gets the frozen emotion model's error on what it made.
- InfoGAN: a Q network of its own (lr 4e-4, weight 5) regresses the 4 continuous codes (uniform
  in [-1, 1]) of generated segments; after training, the codes are named by the musical features
  they move (the one-to-one assignment with the largest total effect), and each sign is recorded
  so that export can make raising the axis raise that feature.
- The critic reads activity, velocity and onsets by octave, and the pitched tracks folded onto
  pitch classes (harmony), where tracks that disagree on a key stand out.
- Chaining: the 4 bars of a segment share z and have their own bar_z; the critic sees all 4 bars.
- Adam, lr 1e-4 for both, betas (0.5, 0.9); 3 critic steps per generator step; GP weight 10.
- Afterwards the tracks that the songs sing one pitch at a time are read so (``monophonic_tracks``),
  each pitched track sounds in a bar only as many pitch classes as most real bars of it do
  (``pitch_class_limits``),
  each track's activity logits are shifted so that it sounds as often as the real track
  at the daemon's default threshold (``calibrate_activity``), each track rests in as many bars as the
  real track (``calibrate_bar_gate``), then its velocity logits are scaled and shifted so that its
  velocities follow the real ones (``calibrate_velocity``).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoint import random_state, restore_random_state
from models.data import PITCHES, STEPS, TRACKS, load_groove, load_pop909
from models.emotion import EmotionConfig, EmotionModel
from models.emotion_features import sign_hits
from models.evaluate import QUADRANTS, pairwise_f1, phrase_latents
from models.generator import NO_GATE, NO_VOICE, RESOLVED_LOGIT, EmotionSteer, GeneratorConfig, PhraseGenerator
from models.metrics import BARS, PITCHED, chordal_share, chroma, code_effect, drum_segments, features, segments
from models.recipe import MUSIC_STEPS

__all__ = ["MusicConfig", "Critic", "train_music", "distinct_share", "monophonic_tracks", "pitch_class_limits",
           "calibrate_activity", "calibrate_bar_gate", "calibrate_second_voice", "calibrate_velocity", "MONO_POLYPHONY",
           "PITCH_CLASS_COVER", "fit_emotion_steer", "STEER_WIDTH", "STEER_ROUNDS", "STEER_SAMENESS"]

log = logging.getLogger(__name__)


@dataclass
class MusicConfig:
    seed: int = 0
    steps: int = MUSIC_STEPS
    batch: int = 32
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 3
    gp_weight: float = 10.0
    info_weight: float = 5.0
    q_lr: float = 4e-4
    emotion_weight: float = 1.0
    width: int = 192
    critic_width: int = 64
    songs: int | None = None  # limit, for quick runs
    grooves: int | None = None
    emotion_steer: bool = False  # fit an EmotionSteer after the calibrations, then calibrate again (fit_emotion_steer)
    steer_distance: float = 0.02  # its weight on the squared distance the latents move
    steer_samples: int = 16384  # phrases read to fit the steer's view of the emotion model, a quarter more a round
    steer_steps: int = 1500  # steer steps a round


def _trunk(width: int) -> nn.Sequential:
    """4-bar multi-track convolutions down to one feature vector of 4 * width."""
    w = width
    return nn.Sequential(
        nn.Conv2d(len(TRACKS) * 3, w, (1, 12), stride=(1, 12)), nn.LeakyReLU(0.2),  # pitch 84 -> 7 (octaves)
        nn.Conv2d(w, 2 * w, (4, 1), stride=(4, 1)), nn.LeakyReLU(0.2),  # time 64 -> 16 (beats)
        nn.Conv2d(2 * w, 4 * w, (4, 1), stride=(4, 1)), nn.LeakyReLU(0.2),  # 16 -> 4 (bars)
        nn.Conv2d(4 * w, 4 * w, (4, 7)), nn.LeakyReLU(0.2),  # -> 1 x 1
        nn.Flatten(),
    )


class _Harmony(nn.Module):
    """The pitched tracks folded onto 12 pitch classes, read beat by beat at every transposition.

    The octave-wise trunk sees melody, accompaniment and bass in different octaves and could not
    tell whether they agree on a key; here a clash between tracks is in plain view.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(len(PITCHED), w, (4, 12), stride=(4, 1)), nn.LeakyReLU(0.2),  # 64 steps -> 16 beats, 12 keys
            nn.Conv2d(w, 2 * w, (4, 1), stride=(4, 1)), nn.LeakyReLU(0.2),  # 16 -> 4 bars
            nn.Conv2d(2 * w, 2 * w, (4, 12)), nn.LeakyReLU(0.2),  # -> 1 x 1
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        active = x[:, list(PITCHED)]  # [B, 3, bars*16, P], P = whole octaves from C
        chroma = active.reshape(*active.shape[:3], -1, 12).amax(dim=3)
        return self.net(torch.cat([chroma, chroma[..., :11]], dim=3))  # circular over the 12 classes


class Critic(nn.Module):
    """4-bar multi-track critic with a projection term for emotion."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.trunk = _trunk(width)
        self.harmony = _Harmony(width // 2)
        features = 4 * width + width
        self.out = nn.Linear(features, 1)
        self.embed = nn.Linear(2, features, bias=False)

    def forward(self, x: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.trunk(x), self.harmony(x)], dim=1)
        return self.out(h).squeeze(1) + (self.embed(emotion) * h).sum(1)


class CodeReader(nn.Module):
    """InfoGAN's Q network: reads the codes back from a generated segment.

    It has its own trunk, so learning the codes never disturbs the gradient-penalised critic.
    """

    def __init__(self, n_codes: int, width: int = 32) -> None:
        super().__init__()
        self.trunk = _trunk(width)
        self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.LeakyReLU(0.2), nn.Linear(2 * width, n_codes),
                                  nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def _to_critic(roll: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
    """[B, bars, tracks, 16, P] activity and velocity -> critic input [B, 3*tracks, bars*16, P]: activity,
    velocity and onsets (activity rising from the step before), so note starts and lengths are in plain view."""
    b = roll.shape[0]
    x = torch.cat([roll, roll * velocity], dim=2)  # [B, bars, 2T, 16, P]
    x = x.permute(0, 2, 1, 3, 4).reshape(b, 2 * len(TRACKS), BARS * STEPS, PITCHES)
    act = x[:, :len(TRACKS)]
    onset = torch.relu(act - torch.nn.functional.pad(act, (0, 0, 1, 0))[:, :, :-1])
    return torch.cat([x, onset], dim=1)


MAX_CELLS = 20_000  # sounding cells per track that calibrate_velocity reads


def _sample_logits(gen: PhraseGenerator, labels: np.ndarray, seed: int, n: int, random_codes: bool = True) -> torch.Tensor:
    """The generator's logits [n, 2, tracks, 16, P] for ``n`` bars at random latents and codes (or the codes
    at their centre, as the daemon plays by default), emotions drawn from ``labels``."""
    g = torch.Generator().manual_seed(seed)
    c = gen.cfg
    with torch.no_grad():
        pick = torch.from_numpy(np.random.default_rng(seed).integers(0, len(labels), n))
        codes = torch.rand(n, len(c.code_names), generator=g) * 2 - 1
        return gen.logits(torch.randn(n, c.latent_size, generator=g), torch.randn(n, c.bar_latent_size, generator=g),
                          torch.from_numpy(labels)[pick], codes if random_codes else torch.zeros_like(codes))


def _track_cells(real: np.ndarray, drums: np.ndarray, t: int) -> np.ndarray:
    """Track ``t`` of the real segments: ``real`` [n, 4, 3, 16, P] holds the pitched tracks, ``drums`` [n, 4, 16, P]."""
    return real[:, :, t] if t < real.shape[2] else drums


MONO_POLYPHONY = 0.02  # a track sounding two pitches at once in fewer of its sounding steps is read one pitch at a time
PITCH_CLASS_COVER = 0.85  # a pitched track sounds in a bar as many pitch classes as this share of the real bars do, at most


def monophonic_tracks(gen: PhraseGenerator, real: np.ndarray) -> dict[str, float]:
    """Read one pitch a step on every pitched track that the real segments (``real`` [n, 4, 3, 16, P]) sound
    as chords in under ``MONO_POLYPHONY`` of its sounding steps; set them in ``gen`` and return each pitched
    track's share of chordal steps.

    The songs' melody is a sung line (two pitches at once in 0.4% of its steps), but the generator's
    melody, trained by a critic that reads every track through the same convolutions, sounded two or
    more in 17% of its steps (shipped generator of 2026-12-03). The strongest pitch of each step is
    the model's own choice of the note; the other tracks (bass 39% chordal in the songs) are left as
    they are.
    """
    out = {gen.cfg.tracks[t]: round(chordal_share(real[:, :, t]), 5) for t in range(real.shape[2])}
    gen.set_mono_tracks([name for name, share in out.items() if share < MONO_POLYPHONY])
    return out


def pitch_class_limits(gen: PhraseGenerator, real: np.ndarray) -> dict[str, dict[str, float]]:
    """Limit each pitched track of ``gen`` to its strongest few pitch classes a bar: the fewest that cover
    ``PITCH_CLASS_COVER`` of the sounding bars of that track in the real segments (``real`` [n, 4, 3, 16, P]);
    the drums keep every pitch. Returns, per pitched track, the limit and the share of real bars it covers.

    The songs' accompaniment sounds 4.6 pitch classes a bar and its bass 2.3, where the shipped
    generator of 2026-12-03 sounded 5.9 and 3.6: weak stray notes, off the bar's harmony, that the
    activity threshold lets through. The strongest classes are the model's own harmony of the bar.
    """
    limits, out = [], {}
    for t, name in enumerate(gen.cfg.tracks):
        if t >= real.shape[2]:
            limits.append(0)
            continue
        bars = real[:, :, t].reshape(-1, *real.shape[3:])  # [n * bars, steps, P]
        used = (chroma(bars) > 0).sum(axis=1)  # pitch classes a bar
        used = used[used > 0]
        covered = np.array([(used <= k).mean() for k in range(1, 13)])
        k = int(np.argmax(covered >= PITCH_CLASS_COVER)) + 1
        limits.append(k)
        out[name] = {"pitch_classes": k, "real_bars_covered": round(float(covered[k - 1]), 4),
                     "real_mean": round(float(used.mean()), 3)}
    gen.set_bar_pitch_classes(limits)
    return out


def calibrate_activity(gen: PhraseGenerator, real: np.ndarray, drums: np.ndarray, labels: np.ndarray, seed: int,
                       n: int = 2048) -> dict[str, dict[str, float]]:
    """Shift each track's activity logits so that, at the daemon's default threshold (activity over 0.5), the
    track sounds in as many cells as it does in the real segments (``real`` and ``drums`` as in
    ``calibrate_velocity``); fold the shifts into ``gen`` and return, per track, the real and generated
    sounding shares before and the shift.

    The adversarial training leaves the tracks' activity unevenly confident: the shipped generator of
    2026-12-01 sounded the melody in 0.26% of its cells against 0.73% in the songs (empty in 28% of bars,
    1.4 pitch classes a bar), so a single threshold played too little melody. One shift per track keeps
    which cells are likelier to sound than others.
    """
    x = _sample_logits(gen, labels, seed, n)[:, 0]
    shifts, out = [], {}
    for t, name in enumerate(gen.cfg.tracks):
        share = float((_track_cells(real, drums, t) > 0).mean())
        logit = x[:, t].flatten().numpy()
        cut = float(np.quantile(logit, 1.0 - share))  # share of the cells lie above it
        shifts.append(-cut)
        out[name] = {"sounding_real": round(share, 5), "sounding_before": round(float((logit > 0).mean()), 5),
                     "shift": round(-cut, 4)}
    gen.shift_activity(shifts)
    return out


def _phrase_activity(gen: PhraseGenerator, n: int, seed: int) -> torch.Tensor:
    """The generator's activity logits [n * 4, tracks, 16, P] for ``n`` 4-bar phrases drawn as the daemon
    draws them and ``coevo eval music`` measures them (``models.evaluate.phrase_latents``), emotions
    anywhere on the plane, the named axes at their centre."""
    c = gen.cfg
    rng = np.random.default_rng(seed)
    z, bar_z = phrase_latents(rng, seed, n, c.latent_size, c.bar_latent_size)
    z = np.repeat(z, BARS, axis=0)
    emotion = np.repeat(rng.uniform(-1, 1, (n, 2)), BARS, axis=0)
    codes = np.zeros((n * BARS, len(c.code_names)))
    rows = lambda a, lo: torch.from_numpy(a[lo:lo + 2048].astype(np.float32))  # noqa: E731
    with torch.no_grad():
        return torch.cat([gen.logits(*(rows(a, lo) for a in (z, bar_z, emotion, codes)))[:, 0]
                          for lo in range(0, n * BARS, 2048)])


def calibrate_second_voice(gen: PhraseGenerator, real: np.ndarray, seed: int,
                           n: int = 2048) -> dict[str, dict[str, float]]:
    """On each of ``gen``'s mono tracks, let a step's second strongest pitch sound where its activity logit
    exceeds a level fitted so that the track sounds two pitches in as many of its sounding steps as the
    real segments (``real`` [n, 4, 3, 16, P]) do; sets it in ``gen`` and returns, per mono track, the real
    share, the level and the generated share after, on ``n`` phrases drawn as the daemon draws them.

    The songs' melody is a sung line, but its notes overlap now and then: two pitches sound in 0.47% of
    the training songs' melody steps (0.40% in the test songs), and one pitch a step made the generated
    melody's MuseGAN polyphony exactly 0. The second voice is the model's own second choice of pitch,
    heard where it is most sure of it. It is fitted after the bar gate, which rests the bars the model
    is least sure of, and on phrases rather than single bars: the daemon's bar latents wander further
    from the centre than single draws, and a level fitted on single ungated bars sounded two pitches in
    0.83% of the melody's steps as the evaluation plays it. A level past ``RESOLVED_LOGIT`` cannot be read
    from the fp32 activity the daemon reads: a generator trained at seed 1 (2026-12-06), its melody that
    sure of itself, fitted 22.5, which read the second voice in 1.9% of its melody's steps in the daemon
    against 0.50% in torch.
    """
    gen.set_second_voice(())
    mono = list(gen.cfg.mono_tracks)
    if not mono:
        return {}
    gen.set_mono_tracks(())
    free = _phrase_activity(gen, n, seed)  # every pitch, before the mono rule
    gen.set_mono_tracks(mono)
    voice, out = [], {}
    for t, name in enumerate(gen.cfg.tracks):
        if name not in mono:
            voice.append(NO_VOICE)
            continue
        top = free[:, t].topk(2, dim=-1).values.reshape(-1, 2).numpy()
        second = top[top[:, 0] > 0, 1]  # in the steps that sound at the default threshold
        share = chordal_share(real[:, :, t])
        level = max(float(np.quantile(second, 1.0 - share)), 0.0) if len(second) else NO_VOICE
        if RESOLVED_LOGIT < level < NO_VOICE:  # past what the daemon's fp32 activity tells from saturation: the
            # second pitch sounds wherever it is at least that sure, or never, whichever share is nearer the songs'
            level = RESOLVED_LOGIT if (second > RESOLVED_LOGIT).mean() < 2 * share else NO_VOICE
        voice.append(level)
        out[name] = {"chordal_real": round(share, 5), "second_voice": round(voice[-1], 4)}
    gen.set_second_voice(voice)
    after = _phrase_activity(gen, n, seed)
    for t, name in enumerate(gen.cfg.tracks):
        if name in out:
            out[name]["chordal_after"] = round(chordal_share((after[:, t] > 0).numpy()), 5)
    return out


def calibrate_bar_gate(gen: PhraseGenerator, real: np.ndarray, drums: np.ndarray, seed: int,
                       n: int = 2048) -> dict[str, dict[str, float]]:
    """Gate each track so that it rests in as many bars as it does in the real segments (``real`` and
    ``drums`` as in ``calibrate_velocity``): a bar whose strongest activity logit stays under the
    track's gate is silent. Sets the gates in ``gen`` and returns, per track, the real and generated
    shares of empty bars at the default threshold before, and the gate (``NO_GATE`` where the track
    already rests as often: the gate only ever silences).

    A generator's bar rarely falls silent by itself, since one cell over the threshold is enough to
    sound: the activity-calibrated generator of 2026-12-02 left the melody empty in 0.7% of bars,
    where the songs' melody rests in a fifth of them. The gate silences the bars the model is least
    sure of, which keeps which bars sound more than others. The bars are drawn as the daemon plays by
    default, the named axes at their centre, for emotions anywhere on the plane: the weakest bars'
    strength moves with both, and gates fitted over random codes and the training segments' emotions
    left the melody empty in 31% of bars at the centre. A gate is at most ``RESOLVED_LOGIT``, past which the
    daemon's fp32 activity no longer tells bars apart.
    """
    gen.set_bar_gate(())
    anywhere = np.random.default_rng(seed).uniform(-1, 1, (n, 2)).astype(np.float32)  # emotions the performer may ask
    strongest = _sample_logits(gen, anywhere, seed, n, random_codes=False)[:, 0].amax(dim=(2, 3)).numpy()  # [n, tracks]
    gates, out = [], {}
    for t, name in enumerate(gen.cfg.tracks):
        empty = float((~(_track_cells(real, drums, t) > 0).any(axis=(2, 3))).mean())
        cut = float(np.quantile(strongest[:, t], empty))  # that share of the bars lie under it
        gates.append(min(cut, RESOLVED_LOGIT) if cut > 0 else NO_GATE)  # the daemon cannot rest a saturated bar
        out[name] = {"empty_real": round(empty, 5), "empty_before": round(float((strongest[:, t] <= 0).mean()), 5),
                     "gate": round(gates[-1], 4)}
    gen.set_bar_gate(gates)
    return out


def calibrate_velocity(gen: PhraseGenerator, real: np.ndarray, drums: np.ndarray, labels: np.ndarray, seed: int,
                       n: int = 2048, steps: int = 600) -> dict[str, dict[str, float]]:
    """Map each track's velocity logits by ``scale * logit + shift`` so that the velocities of its sounding
    cells (activity over 0.5) follow the real ones (``real`` [n, 4, 3, 16, P] and ``drums`` [n, 4, 16, P]
    uint8), quantile by quantile (2%..98%); fold the map into ``gen`` and return it per track.

    The adversarial training orders a phrase's velocities sensibly but at logits 5-70 times too large, so
    the sigmoid saturates: a fifth to a half of the sounding cells came out under 20 and most of the rest
    at 127. Scaling keeps the order (which notes are louder) and where notes sound is untouched.
    """
    g = torch.Generator().manual_seed(seed)
    x = _sample_logits(gen, labels, seed, n)
    q = torch.linspace(0.02, 0.98, 49)
    scale, shift, out = [], [], {}
    for t, name in enumerate(gen.cfg.tracks):
        logit = x[:, 1, t][x[:, 0, t] > 0]  # activity over 0.5
        if len(logit) > MAX_CELLS:  # an untrained generator sounds half its cells: a sample says as much
            logit = logit[torch.randperm(len(logit), generator=g)[:MAX_CELLS]]
        source = _track_cells(real, drums, t)
        target = torch.from_numpy(np.quantile(source[source > 0], q.numpy()).astype(np.float32) / 127.0)
        log_a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        if len(logit) >= 2:
            opt = torch.optim.Adam([log_a, b], lr=0.05)
            for _ in range(steps):
                gap = ((torch.quantile(torch.sigmoid(log_a.exp() * logit + b), q) - target) ** 2).mean()
                opt.zero_grad()
                gap.backward()
                opt.step()
        scale.append(float(log_a.detach().exp()))
        shift.append(float(b.detach()))
        out[name] = {"scale": round(scale[-1], 5), "shift": round(shift[-1], 5)}
    gen.map_velocity(scale, shift)
    return out


def distinct_share(roll: torch.Tensor) -> float:
    """Share of the batch's generated segments that differ from every other one, note for note (activity over
    0.5): 1/batch when the generator has collapsed onto one output. Runs of this trainer can pass through such
    a phase early on (seen from about step 100 to 650-1000) and leave it; a late one is a failed run."""
    on = (roll.detach() > 0.5).flatten(1)
    return round(len(torch.unique(on, dim=0)) / len(on), 4)


def _merged(roll: torch.Tensor) -> torch.Tensor:
    """Pitched tracks merged into one roll over time, for the emotion model: [B, bars*16, P]."""
    pitched = roll[:, :, :3].amax(dim=2)  # [B, bars, 16, P]
    return pitched.reshape(roll.shape[0], BARS * STEPS, PITCHES)


def _generate(gen: PhraseGenerator, z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor,
              codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """4 bars per row: [B, 4, tracks, 16, P] activity and velocity."""
    b = z.shape[0]
    rep = lambda t: t.repeat_interleave(BARS, dim=0)  # noqa: E731
    roll, vel = gen(rep(z), bar_z.reshape(b * BARS, -1), rep(emotion), rep(codes))
    return roll.view(b, BARS, *roll.shape[1:]), vel.view(b, BARS, *vel.shape[1:])


STEER_WIDTH = 128  # hidden width of the emotion steer
STEER_ROUNDS = 8  # each round reads the steer's own latents for real and fits the view of the emotion model again
STEER_SAMENESS = 0.15  # pairwise note F1 a quadrant's phrases may gain under the steer before it warns


def fit_emotion_steer(gen: PhraseGenerator, emo_model: nn.Module, cfg: MusicConfig) -> dict[str, Any]:
    """Fit an ``EmotionSteer`` for the frozen ``gen`` and attach it in place of any it had: latents move to
    where ``emo_model`` (an ``EmotionModel``, or any module reading merged pitched rolls [B, steps, P] as
    [B, 2] valence and arousal) reads the emotion asked for, at the cost ``cfg.steer_distance`` a unit of
    squared distance moved.

    Adversarial training leaves the generator's own emotion control at chance (the emotion model reads
    nearly all POP909 as happy, and the generator learns to ignore its emotion input), yet the phrases it
    makes at different latents read differently: over random latents the emotion model reads 90% happy,
    7% calm, 1.6% tense and 1.6% sad. The steer finds those places (latent constraints, Engel et al.
    2018). What the daemon hears is read through hard cuts (threshold, reading rules), which pass no useful
    gradient, so the steer learns against a small network fitted to the emotion model's reading of the
    phrases at ``cfg.steer_samples`` latents; each of ``STEER_ROUNDS`` rounds reads the steer's own latents
    for real and adds them, so that it cannot hide in the network's errors. Returns the figures."""
    t0 = time.monotonic()
    gen.attach_steer(None)  # a steer is fitted to the generator as trained, never on top of another
    c = gen.cfg
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    steer = EmotionSteer(c.latent_size, c.bar_latent_size, STEER_WIDTH)
    width = c.latent_size + BARS * c.bar_latent_size
    view = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.randn(n, c.latent_size, generator=g), torch.randn(n, BARS, c.bar_latent_size, generator=g),
                torch.rand(n, 2, generator=g) * 2 - 1)

    def steered(z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(z)
        rep = lambda t: t.repeat_interleave(BARS, dim=0)  # noqa: E731
        z2, b2 = steer(rep(z), bar_z.reshape(n * BARS, -1), rep(emotion))
        return z2.view(n, BARS, -1)[:, 0], b2.view(n, BARS, -1)

    @torch.no_grad()
    def read(z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """The emotion model's reading of the phrases at these latents, sounded as the daemon sounds them."""
        out = []
        for lo in range(0, len(z), 256):
            part = slice(lo, lo + 256)
            roll, _ = _generate(gen, z[part], bar_z[part], emotion[part], torch.zeros(len(z[part]), len(c.code_names)))
            out.append(emo_model(_merged((roll > 0.5).float())))
        return torch.cat(out)

    def in_quadrant(got: torch.Tensor, emotion: torch.Tensor) -> dict[str, Any]:
        hits = sign_hits(got.numpy(), emotion.numpy())[:, 2]
        each = [float(hits[sign_hits(emotion.numpy(), np.array(q))[:, 2]].mean()) for q in QUADRANTS]
        return {"quadrant_accuracy": round(sum(each) / 4, 4), "per_quadrant": [round(q, 4) for q in each]}

    @torch.no_grad()
    def alike() -> list[float]:
        """How alike 64 phrases made for each quadrant are (pairwise note F1; the same latents every call)."""
        fixed = torch.Generator().manual_seed(cfg.seed + 1)
        z, bar_z = torch.randn(64, c.latent_size, generator=fixed), torch.randn(64, BARS, c.bar_latent_size, generator=fixed)
        return [round(pairwise_f1((_generate(gen, z, bar_z, torch.tensor([q] * 64, dtype=torch.float32),
                                             torch.zeros(64, len(c.code_names)))[0] > 0.5).numpy()), 4) for q in QUADRANTS]

    z, bar_z, emotion = draw(cfg.steer_samples)
    seen, reading = torch.cat([z, bar_z.flatten(1)], dim=1), read(z, bar_z, emotion)
    before = in_quadrant(reading, emotion)  # the generator's own control, unsteered
    alike_before = alike()
    rounds = []
    for _ in range(STEER_ROUNDS):
        view.requires_grad_(True)
        opt = torch.optim.Adam(view.parameters(), lr=1e-3, weight_decay=1e-4)
        for _epoch in range(40):
            order = torch.randperm(len(seen), generator=g)
            for lo in range(0, len(seen), 256):
                i = order[lo:lo + 256]
                loss = ((view(seen[i]) - reading[i]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        view.requires_grad_(False)
        opt = torch.optim.Adam(steer.parameters(), lr=1e-3)
        for _step in range(cfg.steer_steps):
            z, bar_z, emotion = draw(128)
            z2, b2 = steered(z, bar_z, emotion)
            moved = ((z2 - z) ** 2).sum(1) + ((b2 - bar_z) ** 2).sum((1, 2))
            heard = view(torch.cat([z2, b2.flatten(1)], dim=1))
            loss = ((heard - emotion) ** 2).mean() + cfg.steer_distance * moved.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            z, bar_z, emotion = draw(cfg.steer_samples // 4)
            z2, b2 = steered(z, bar_z, emotion)
            got = read(z2, b2, emotion)
        rounds.append({**in_quadrant(got, emotion), "moved_z": round(float((z2 - z).norm(dim=1).mean()), 3),
                       "moved_bar_z": round(float((b2 - bar_z).norm(dim=2).mean()), 3)})
        log.info("emotion steer round %d: %s", len(rounds), rounds[-1])
        seen, reading = torch.cat([seen, torch.cat([z2, b2.flatten(1)], dim=1)]), torch.cat([reading, got])
    gen.attach_steer(steer.requires_grad_(False).eval())
    alike_after = alike()
    for (v, a), was, now in zip(QUADRANTS, alike_before, alike_after):
        if now > was + STEER_SAMENESS:
            log.warning("the steer plays the phrases made for valence %+.1f, arousal %+.1f nearly alike (mean note F1 "
                        "of two %.2f, without it %.2f): asked for variations there, it gives one phrase", v, a, now, was)
    return {"distance": cfg.steer_distance, "samples": cfg.steer_samples, "steps": cfg.steer_steps, "before": before,
            "rounds": rounds, "pairwise_f1": {"before": alike_before, "after": alike_after},
            "seconds": round(time.monotonic() - t0, 1)}


def _name_codes(gen: PhraseGenerator, reference: dict[str, np.ndarray], seed: int, n: int = 256) -> tuple[list[str], list[float], dict[str, Any]]:
    """Name each code by the feature it moves, one name each, as ``coevo eval music`` measures it.

    A code's effect on a feature is the least-squares slope of the feature's mean over code values
    -1..1 (5 values, the other codes at 0, emotions drawn over [-1, 1]^2), in standard deviations of
    ``reference`` (the features of real training segments). The names are the one-to-one assignment
    with the largest total effect (every permutation is tried; a greedy choice left the last code
    with whatever feature remained), and each sign makes raising the axis raise its feature.
    """
    cfg = gen.cfg
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, cfg.latent_size, generator=g)
    bz = torch.randn(n, BARS, cfg.bar_latent_size, generator=g)
    emo = torch.rand(n, 2, generator=g) * 2 - 1

    def sample(codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return _generate(gen, z, bz, emo, torch.from_numpy(codes))[0].numpy()

    slopes = {k: code_effect(sample, n, len(cfg.code_names), k, reference)[1] for k in range(len(cfg.code_names))}
    feature_names = list(slopes[0])
    if len(slopes) > len(feature_names):
        raise ValueError(f"{len(slopes)} codes but only {len(feature_names)} features to name them by")
    best = max(itertools.permutations(feature_names, len(slopes)),
               key=lambda names: sum(abs(slopes[k][f]) for k, f in enumerate(names)))
    signs = [1.0 if slopes[k][f] >= 0 else -1.0 for k, f in enumerate(best)]
    return list(best), signs, {"standardized_slopes": slopes}


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    """Loss curves of a run (every 20 steps; every key but step and minutes) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    keys = [k for k in history[0] if k not in ("step", "minutes")] if history else []
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.7 * max(1, len(keys)), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(steps, [h[key] for h in history], lw=0.8)
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train_music(out: Path, emotion_ckpt: Path, cfg: MusicConfig, resume: bool = True) -> dict[str, Any]:
    """Train for ``cfg.steps`` generator steps, checkpointing every minute; returns the training report."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "music_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    songs, split = load_pop909(limit=cfg.songs)
    groove = load_groove(limit=cfg.grooves)
    real = segments(songs, split.train)  # uint8 velocity
    drums = drum_segments(groove["bars"], groove["split"] or list(groove["bars"]))
    log.info("%d POP909 segments of 4 bars (train songs %d), %d Groove drum segments", len(real), len(split.train), len(drums))

    emo_state = torch.load(emotion_ckpt, weights_only=False)
    emo_model = EmotionModel(EmotionConfig(**emo_state["config"]))
    emo_model.load_state_dict(emo_state["state"])
    emo_model.eval().requires_grad_(False)
    with torch.no_grad():
        merged = torch.from_numpy((real.max(axis=2) > 0).astype(np.float32).reshape(len(real), BARS * STEPS, PITCHES))
        labels = torch.cat([emo_model(merged[i:i + 512]) for i in range(0, len(merged), 512)]).numpy()

    gcfg = GeneratorConfig(width=cfg.width)
    gen = PhraseGenerator(gcfg)
    critic = Critic(cfg.critic_width)
    reader = CodeReader(len(gcfg.code_names), cfg.critic_width // 2)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_q = torch.optim.Adam(reader.parameters(), lr=cfg.q_lr, betas=cfg.betas)
    step, elapsed, history = 0, 0.0, []
    ckpt = out / "music.ckpt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        gen.load_state_dict(state["gen"])
        critic.load_state_dict(state["critic"])
        reader.load_state_dict(state["reader"])
        opt_q.load_state_dict(state["opt_q"])
        opt_g.load_state_dict(state["opt_g"])
        opt_c.load_state_dict(state["opt_c"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        restore_random_state(state, rng, cfg.steps - step)
        log.info("resumed at step %d (%.1f min)", step, elapsed / 60)

    def real_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i = rng.integers(0, len(real), cfg.batch)
        j = rng.integers(0, len(drums), cfg.batch)
        pitched = np.roll(real[i], int(rng.integers(-5, 7)), axis=-1)  # transposition
        full = np.concatenate([pitched, drums[j][:, :, None]], axis=2).astype(np.float32) / 127.0
        roll = torch.from_numpy((full > 0).astype(np.float32))
        return roll, torch.from_numpy(full), torch.from_numpy(labels[i])

    def fake_batch(emotion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = torch.randn(cfg.batch, gcfg.latent_size)
        bz = torch.randn(cfg.batch, BARS, gcfg.bar_latent_size)
        codes = torch.rand(cfg.batch, len(gcfg.code_names)) * 2 - 1
        roll, vel = _generate(gen, z, bz, emotion, codes)
        return roll, vel, codes

    def save() -> None:
        torch.save({"gen": gen.state_dict(), "critic": critic.state_dict(), "reader": reader.state_dict(),
                    "opt_g": opt_g.state_dict(), "opt_c": opt_c.state_dict(), "opt_q": opt_q.state_dict(), "step": step,
                    "elapsed": time.monotonic() - t_start, "history": history, "gen_config": asdict(gcfg),
                    "random": random_state(rng)}, ckpt)

    bar = tqdm(desc="music", unit="step", initial=step, total=cfg.steps)
    t_start = time.monotonic() - elapsed
    last_save = time.monotonic()
    while step < cfg.steps:
        for _ in range(cfg.n_critic):
            roll_r, vel_r, emo_r = real_batch()
            with torch.no_grad():
                roll_f, vel_f, _ = fake_batch(emo_r)
            x_r, x_f = _to_critic(roll_r, vel_r), _to_critic(roll_f, vel_f)
            eps = torch.rand(cfg.batch, 1, 1, 1)
            x_i = (eps * x_r + (1 - eps) * x_f).requires_grad_(True)
            s_i = critic(x_i, emo_r)
            grad = torch.autograd.grad(s_i.sum(), x_i, create_graph=True)[0]
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            s_r = critic(x_r, emo_r)
            s_f = critic(x_f, emo_r)
            loss_c = s_f.mean() - s_r.mean() + cfg.gp_weight * gp
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        emo = torch.from_numpy(labels[rng.integers(0, len(labels), cfg.batch)])
        roll_f, vel_f, codes = fake_batch(emo)
        x_f = _to_critic(roll_f, vel_f)
        s_f = critic(x_f, emo)
        info = ((reader(x_f) - codes) ** 2).mean()
        emo_err = ((emo_model(_merged(roll_f)) - emo) ** 2).mean()
        loss_g = -s_f.mean() + cfg.info_weight * info + cfg.emotion_weight * emo_err
        opt_g.zero_grad()
        opt_q.zero_grad()
        loss_g.backward()  # the reader's gradients come from the information term alone
        opt_g.step()
        opt_q.step()
        step += 1
        bar.update(1)
        if step % 20 == 0:
            row = {"step": step, "minutes": round((time.monotonic() - t_start) / 60, 2),
                   "critic": round(float(loss_c.item()), 4), "wasserstein": round(float((s_r.mean() - s_f.mean()).item()), 4),
                   "info": round(float(info.item()), 4), "emotion": round(float(emo_err.item()), 4),
                   "distinct": distinct_share(roll_f)}
            history.append(row)
            bar.set_postfix(w=row["wasserstein"], info=row["info"], emo=row["emotion"], distinct=row["distinct"])
        if time.monotonic() - last_save > 60:
            last_save = time.monotonic()
            save()
    bar.close()
    save()
    elapsed = time.monotonic() - t_start
    gen.eval()
    chordal = monophonic_tracks(gen, real)
    pitch_classes = pitch_class_limits(gen, real)
    activity_map = calibrate_activity(gen, real, drums, labels, cfg.seed)
    bar_gate = calibrate_bar_gate(gen, real, drums, cfg.seed)
    second_voice = calibrate_second_voice(gen, real, cfg.seed)
    velocity_map = calibrate_velocity(gen, real, drums, labels, cfg.seed)
    steer = None
    if cfg.emotion_steer:  # the steer moves where the tracks sound and rest: fit those again
        steer = fit_emotion_steer(gen, emo_model, cfg)
        steer["calibrated_before"] = {"activity_map": activity_map, "bar_gate": bar_gate, "second_voice": second_voice}
        gen.set_bar_gate(())
        gen.set_second_voice(())
        activity_map = calibrate_activity(gen, real, drums, labels, cfg.seed)
        bar_gate = calibrate_bar_gate(gen, real, drums, cfg.seed)
        second_voice = calibrate_second_voice(gen, real, cfg.seed)
    pick = np.random.default_rng(cfg.seed)
    i, j = pick.permutation(len(real))[:2048], pick.integers(0, len(drums), min(2048, len(real)))
    reference = features(np.concatenate([real[i] > 0, drums[j][:, :, None] > 0], axis=2))
    names, signs, effects = _name_codes(gen, reference, cfg.seed)
    gen.cfg.code_names = tuple(names)
    # a held-out comparison of simple features: real test segments vs generated ones
    test = segments(songs, split.test)
    with torch.no_grad():
        n = min(256, len(test))
        emo = torch.from_numpy(labels[rng.integers(0, len(labels), n)])
        z, bz = torch.randn(n, gcfg.latent_size), torch.randn(n, BARS, gcfg.bar_latent_size)
        fake, _ = _generate(gen, z, bz, emo, torch.zeros(n, len(names)))
    no_drums = np.zeros((n, BARS, 1, STEPS, PITCHES), bool)  # test segments have the pitched tracks only
    real_f = features(np.concatenate([test[:n] > 0, no_drums], axis=2).astype(np.float32))
    fake_f = features(fake.numpy())
    report = {
        "data": "POP909 (train split by song) + Groove MIDI (train split), 4-bar segments",
        "segments": int(len(real)), "drum_segments": int(len(drums)), "steps": step,
        "training_seconds": round(elapsed, 1), "code_names": names, "code_signs": signs, **effects,
        "chordal_steps_real": chordal, "mono_tracks": list(gen.cfg.mono_tracks),
        "second_voice_fit": second_voice, "second_voice": list(gen.cfg.second_voice),
        "pitch_classes_real": pitch_classes, "bar_pitch_classes": list(gen.cfg.bar_pitch_classes),
        "activity_map": activity_map, "bar_gate": bar_gate, "velocity_map": velocity_map, "emotion_steer": steer,
        "features_test_vs_generated": {k: {"test": round(float(real_f[k].mean()), 3),
                                           "generated": round(float(fake_f[k].mean()), 3)} for k in real_f
                                       if k != "rhythm"},
        "history_tail": history[-3:],
    }
    (out / "music_report.json").write_text(json.dumps(report, indent=1))
    (out / "music_history.json").write_text(json.dumps(history))
    plot_losses(history, out / "music_losses.png")
    torch.save({"gen": gen.state_dict(), "signs": signs, "gen_config": asdict(gen.cfg)}, out / "generator.pt")
    return report
