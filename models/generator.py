"""Phrase generator: one bar per row, conditioned on emotion and interpretable codes (torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["GeneratorConfig", "PhraseGenerator", "EmotionSteer", "NO_GATE", "NO_VOICE", "RESOLVED_LOGIT"]

NO_GATE = -1e4  # a bar gate no activity logit falls under: the track never rests by the gate
NO_VOICE = 1e4  # a second-voice logit no activity exceeds: the step sounds its strongest pitch alone
RESOLVED_LOGIT = 15.0  # the highest activity logit a reading rule may cut at: the fp32 activity the daemon reads
#                        has only a few values left between sigmoid(15) and 1, and none past about 17.3
RESTING = -30.0  # activity logit of every cell of a track resting in a bar (sigmoid: 1e-13)


@dataclass
class GeneratorConfig:
    latent_size: int = 32
    bar_latent_size: int = 16
    code_names: tuple[str, ...] = ("density", "register", "rhythm", "brightness")
    steps_per_bar: int = 16
    pitch_low: int = 24
    pitch_high: int = 107
    tracks: tuple[str, ...] = ("melody", "accompaniment", "bass", "drums")
    drum_tracks: tuple[str, ...] = ("drums",)
    width: int = 128
    temporal_kernel: int = 3  # a convolution over time after each upsampling (1: none, as in files before 2026-11-25)
    bar_gate: tuple[float, ...] = ()  # per track: the activity logit a bar's strongest cell must reach, else the
    # track rests in that bar (set by calibration after training; empty: no gate, as in files before 2026-12-03)
    mono_tracks: tuple[str, ...] = ()  # tracks that sound one pitch at a time: at each step only the strongest pitch
    # can sound (set after training from the data; empty: every track may sound chords, as before 2026-12-03)
    second_voice: tuple[float, ...] = ()  # per track: on the mono tracks, the activity logit a step's second strongest
    # pitch must exceed to sound beside the strongest (set after training; empty: never, as in files before 2026-12-03)
    bar_pitch_classes: tuple[int, ...] = ()  # per track, the most pitch classes a bar sounds, its strongest (0: any;
    # set after training from the data; empty: no limit, as in files before 2026-12-03)
    steer_width: int = 0  # hidden width of the emotion steer, fitted after training (0: none, as in files before
    # 2026-12-06)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pitches(self) -> int:
        return self.pitch_high - self.pitch_low + 1


class EmotionSteer(nn.Module):
    """Moves a bar's latents to where the emotion model reads the emotion asked for (latent constraints, as
    in Engel, Hoffman and Roberts 2018): ``z + f(z, emotion)`` and ``bar_z + g(bar_z, z, emotion)``. Fitted
    after the adversarial training with the generator frozen (``models.train_music.fit_emotion_steer``); it
    starts as the identity."""

    def __init__(self, latent_size: int, bar_latent_size: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.phrase = nn.Sequential(nn.Linear(latent_size + 2, width), nn.LeakyReLU(0.2), nn.Linear(width, latent_size))
        self.bar = nn.Sequential(nn.Linear(bar_latent_size + latent_size + 2, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, bar_latent_size))
        for last in (self.phrase[2], self.bar[2]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (z + self.phrase(torch.cat([z, emotion], dim=1)),
                bar_z + self.bar(torch.cat([bar_z, z, emotion], dim=1)))


class PhraseGenerator(nn.Module):
    """Maps (z, bar_z, emotion, codes) to a multi-track bar: note activity and velocity.

    The time axis grows 4 -> 8 -> 16 steps by transposed convolutions, each followed by a
    convolution over neighbouring steps (``temporal_kernel``): without it every step descends from
    one seed step alone, and notes came out as single steps or whole beats, rarely in between and
    rarely across a beat. The pitch axis is produced by a linear map per time step, so any pitch
    range fits. With a ``bar_gate``, a track whose strongest activity in a bar stays under its gate
    rests in that bar (every cell silent at any threshold), as real tracks rest between phrases; the
    ``mono_tracks`` sound only the strongest pitch of each step, as a sung melody does (and, over its
    ``second_voice`` logit, the second strongest too, as a sung line's notes now and then overlap); with
    ``bar_pitch_classes`` a track sounds in each bar only its strongest pitch classes (by the bar's
    total activity on each), as real parts keep to a few. With a ``steer`` (``steer_width``) the latents
    first move to where the emotion model reads the emotion asked for. The exporter leaves these rules out of the
    graph and writes them into the contract, whose reader applies them (``GeneratorContract.read_activity``).
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        if cfg.steps_per_bar % 4:
            raise ValueError(f"steps_per_bar must be a multiple of 4, got {cfg.steps_per_bar}")
        if cfg.temporal_kernel < 1 or cfg.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd and at least 1, got {cfg.temporal_kernel}")
        self.cfg = cfg
        w = cfg.width
        n_in = cfg.latent_size + cfg.bar_latent_size + 2 + len(cfg.code_names)
        self.seed_steps = 4
        self.fc = nn.Sequential(nn.Linear(n_in, w * self.seed_steps), nn.LeakyReLU(0.2))
        ups: list[nn.Module] = []
        steps = self.seed_steps
        while steps < cfg.steps_per_bar:
            factor = 2 if cfg.steps_per_bar % (steps * 2) == 0 else cfg.steps_per_bar // steps
            ups += [nn.ConvTranspose1d(w, w, factor, stride=factor), nn.LeakyReLU(0.2)]
            if cfg.temporal_kernel > 1:
                k = cfg.temporal_kernel
                ups += [nn.Conv1d(w, w, k, padding=k // 2), nn.LeakyReLU(0.2)]
            steps *= factor
        self.up = nn.Sequential(*ups)
        n_tracks = len(cfg.tracks)
        self.to_roll = nn.Conv1d(w, n_tracks * cfg.pitches * 2, 1)
        self.register_buffer("gate", torch.full((n_tracks,), NO_GATE), persistent=False)  # cfg.bar_gate's
        self.register_buffer("mono", torch.zeros(n_tracks, dtype=torch.bool), persistent=False)  # cfg.mono_tracks
        self.register_buffer("voice", torch.full((n_tracks,), NO_VOICE), persistent=False)  # cfg.second_voice
        self.register_buffer("classes", torch.full((n_tracks,), 12), persistent=False)  # cfg.bar_pitch_classes
        self.register_buffer("pitch_class", (torch.arange(cfg.pitches) + cfg.pitch_low) % 12, persistent=False)
        self.set_bar_gate(cfg.bar_gate)
        self.set_mono_tracks(cfg.mono_tracks)
        self.set_second_voice(cfg.second_voice)
        self.set_bar_pitch_classes(cfg.bar_pitch_classes)
        self.steer = EmotionSteer(cfg.latent_size, cfg.bar_latent_size, cfg.steer_width) if cfg.steer_width else None

    def attach_steer(self, steer: EmotionSteer | None) -> None:
        """Steer the latents by ``steer`` from now on, or not at all when None (its width in ``cfg.steer_width``
        too, 0 for none)."""
        self.steer = steer
        self.cfg.steer_width = 0 if steer is None else steer.width

    def logits(self, z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Activity and velocity before their sigmoids: [B, 2, tracks, steps, pitches]."""
        cfg = self.cfg
        if self.steer is not None:
            z, bar_z = self.steer(z, bar_z, emotion)
        x = torch.cat([z, bar_z, emotion, codes], dim=1)
        x = self.fc(x).view(x.shape[0], cfg.width, self.seed_steps)
        x = self.to_roll(self.up(x))  # [B, 2*tracks*pitches, steps]
        x = x.view(x.shape[0], 2, len(cfg.tracks), cfg.pitches, cfg.steps_per_bar).transpose(3, 4)
        if not cfg.bar_gate and not cfg.mono_tracks and not cfg.bar_pitch_classes:  # second_voice needs mono_tracks
            return x
        activity = x[:, 0]
        if cfg.mono_tracks:
            top = activity.topk(2, dim=3).values  # [B, tracks, steps, 2]
            weaker = activity < top[..., :1]  # [B, tracks, steps, pitches]
            if cfg.second_voice:
                weaker &= (activity < top[..., 1:]) | (activity <= self.voice[None, :, None, None])
            activity = activity.masked_fill(weaker & self.mono[None, :, None, None], RESTING)
        if cfg.bar_pitch_classes:
            strength = torch.sigmoid(activity).sum(dim=2)  # [B, tracks, pitches]
            chroma = strength.new_zeros(*strength.shape[:2], 12).index_add_(2, self.pitch_class, strength)
            rank = chroma.argsort(dim=2, descending=True, stable=True).argsort(dim=2)  # 0: the strongest class
            kept = (rank < self.classes[None, :, None])[:, :, self.pitch_class]  # [B, tracks, pitches]
            activity = activity.masked_fill(~kept[:, :, None, :], RESTING)
        if cfg.bar_gate:
            rests = activity.amax(dim=(2, 3)) < self.gate  # [B, tracks]
            activity = activity.masked_fill(rests[:, :, None, None], RESTING)
        return torch.stack([activity, x[:, 1]], dim=1)

    def forward(self, z: torch.Tensor, bar_z: torch.Tensor, emotion: torch.Tensor, codes: torch.Tensor):
        x = self.logits(z, bar_z, emotion, codes)
        return torch.sigmoid(x[:, 0]), torch.sigmoid(x[:, 1])

    @torch.no_grad()
    def set_bar_gate(self, gate: Sequence[float]) -> None:
        """Gate each track's bars at ``gate[t]`` (activity logits; empty: no gate), in ``cfg.bar_gate`` too."""
        if gate and len(gate) != len(self.cfg.tracks):
            raise ValueError(f"one gate per track ({len(self.cfg.tracks)}), got {len(gate)}")
        self.cfg.bar_gate = tuple(float(g) for g in gate)
        self.gate.copy_(torch.tensor(self.cfg.bar_gate or [NO_GATE] * len(self.cfg.tracks)))

    @torch.no_grad()
    def set_mono_tracks(self, names: Sequence[str]) -> None:
        """Sound only the strongest pitch of each step on the tracks ``names`` (empty: none), in ``cfg.mono_tracks`` too."""
        unknown = [n for n in names if n not in self.cfg.tracks]
        if unknown:
            raise ValueError(f"mono tracks must be among {list(self.cfg.tracks)}, got {unknown}")
        self.cfg.mono_tracks = tuple(names)
        self.mono.copy_(torch.tensor([t in self.cfg.mono_tracks for t in self.cfg.tracks]))

    @torch.no_grad()
    def set_second_voice(self, voice: Sequence[float]) -> None:
        """On the mono tracks, let a step's second strongest pitch sound too where its activity logit exceeds
        ``voice[t]`` (empty: never), in ``cfg.second_voice`` too."""
        if voice and len(voice) != len(self.cfg.tracks):
            raise ValueError(f"one second-voice logit per track ({len(self.cfg.tracks)}), got {len(voice)}")
        self.cfg.second_voice = tuple(float(v) for v in voice)
        self.voice.copy_(torch.tensor(self.cfg.second_voice or [NO_VOICE] * len(self.cfg.tracks)))

    @torch.no_grad()
    def set_bar_pitch_classes(self, classes: Sequence[int]) -> None:
        """Sound at most ``classes[t]`` pitch classes a bar on track ``t``, its strongest (0: any; empty: no
        limit on any track), in ``cfg.bar_pitch_classes`` too."""
        if classes and (len(classes) != len(self.cfg.tracks) or not all(0 <= int(k) <= 12 for k in classes)):
            raise ValueError(f"one count 0..12 per track ({len(self.cfg.tracks)}), got {list(classes)}")
        self.cfg.bar_pitch_classes = tuple(int(k) for k in classes)
        self.classes.copy_(torch.tensor([k or 12 for k in self.cfg.bar_pitch_classes] or [12] * len(self.cfg.tracks)))

    @torch.no_grad()
    def map_velocity(self, scale: Sequence[float], shift: Sequence[float]) -> None:
        """Fold ``scale[t] * logit + shift[t]`` on each track's velocity logits into the last convolution;
        the activity (where notes sound) is left exactly as it was."""
        self._fold(1, scale, shift)

    @torch.no_grad()
    def shift_activity(self, shift: Sequence[float]) -> None:
        """Fold ``logit + shift[t]`` on each track's activity logits into the last convolution: a track
        sounds where its activity passed ``sigmoid(-shift[t])`` before; velocities are left as they were."""
        self._fold(0, [1.0] * len(shift), shift)

    def _fold(self, channel: int, scale: Sequence[float], shift: Sequence[float]) -> None:
        n_tracks, pitches = len(self.cfg.tracks), self.cfg.pitches
        if len(scale) != n_tracks or len(shift) != n_tracks:
            raise ValueError(f"one scale and one shift per track ({n_tracks}), got {len(scale)} and {len(shift)}")
        weight = self.to_roll.weight.view(2, n_tracks, pitches, -1)
        bias = self.to_roll.bias.view(2, n_tracks, pitches)
        for t, (a, b) in enumerate(zip(scale, shift)):
            weight[channel, t] *= a
            bias[channel, t] = bias[channel, t] * a + b
