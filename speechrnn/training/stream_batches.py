"""Batches for the ``stream`` objective: continuous audio with a target at every frame.

A batch is ``lanes`` independent endless streams, each advanced by one segment
(``TrainConfig.stream_segment_s``) per optimizer step. The network's state is carried from one
segment of a lane to the next (truncated backpropagation through time), so the model learns to
run for hours from whatever state it is in, and never relies on a fresh one. A few lanes are
zeroed now and then (``stream_reset_prob``) so that a cold start at the beginning of a stream works too.

A segment is a background - recorded noise, babble (several voices of the training speech
overlapped) and steady hum or tones, at a random signal-to-noise ratio - with the training clips'
words placed at random times and gaps, each through a random room and gain. Every frame gets a
target:

* the word's class in a short window at the word's end (``stream_target_ms`` long, starting
  ``stream_target_lead_ms`` before the end): the moment the word can be told apart from every
  longer word that starts like it;
* the background class everywhere else: silence, noise, babble, word onsets and the middle of words.

Words of the ``_unknown_`` class (other words) get ``_unknown_`` in their window, so the network
learns explicitly to call them something else; both are background to the detector. (With the data
spec's ``unknown_by_word`` each other word has a class of its own and gets it in its window.)

Which clips are spoken when is planned per epoch from ``(seed, epoch)`` (every training clip once
per epoch, in the epoch's order), and every random choice of a step is seeded from
``(seed, epoch, step, rank)``: a resumed run replays the same data (the carried state restarts at
zero after a resume).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from speechrnn.data.augment import (
    DB_PER_POWER_DECADE,
    ROOM_BANK_SIZE,
    AugmentConfig,
    LowPass,
    NoiseBank,
    RoomBank,
    SpeedChanger,
    _power,
    _uniform,
    generated_noise,
    sped_length,
    spec_augment,
)
from speechrnn.data.channel import ChannelBank
from speechrnn.data.background import BABBLE_VOICES, random_hum, word_bounds
from speechrnn.data.background import babble as make_babble
from speechrnn.features import FeatureConfig

WORD_PAD_MS = 60.0  # context kept around a clip's speech when it is placed in a stream
GAP_S_MIN = 0.15  # silence between placed words: short ("up, up, up") ...
GAP_S_MAX = 1.6  # ... to long
FIRST_GAP_S_MAX = 0.8  # a lane's first word starts within this of the segment's start
EMPTY_LANE_PROB = 0.08  # share of lane segments with no word at all: background alone
WORD_GAIN_DB_MAX = 6.0  # loudness differences between words of one stream
QUIET_SNR_DB = (30.0, 45.0)  # lanes that get no noise (1 - noise_prob) still have a faint floor ...
DIGITAL_SILENCE_PROB = 0.1  # ... except these: exact zeros around the words (files, padding, flush())
BABBLE_PROB = 0.35  # lanes whose background includes babble
BABBLE_LEVEL_DB = (-6.0, 6.0)  # babble level relative to the lane's noise
REFERENCE_WORD_POWER = 10 ** (-26.0 / DB_PER_POWER_DECADE)  # -26 dBFS clip power: lanes without words
MIN_BABBLE_CLIPS = 32  # fewer other-word clips than this: babble is made of every training clip
CLIP_LIMIT = 1.0  # full scale, like a real ADC


@dataclass(frozen=True)
class Placement:
    """A training clip placed in a lane's segment: the clip's speech starts at ``start`` samples."""

    clip: int  # row in the training ClipSet
    start: int
    speed: float = 1.0  # played this many times as fast (AugmentConfig.speed)


class StreamBatches:
    """Plans epochs of stream segments and renders them into (frames, frame targets)."""

    def __init__(self, waves: torch.Tensor, targets: torch.Tensor, is_silence: torch.Tensor,
                 extractor: torch.nn.Module, feature_config: FeatureConfig, augment: AugmentConfig,
                 noise: list[torch.Tensor], device: torch.device, *, segment_s: float, target_ms: float,
                 target_lead_ms: float, background_class: int, other_word_classes: tuple[int, ...],
                 hum_prob: float, hum_level_db: tuple[float, float],
                 speakers: Sequence[str | None] | None = None, words: Sequence[str | None] | None = None):
        self.waves, self.targets = waves, targets
        self.extractor, self.augment, self.device = extractor, augment, device
        self.rate = feature_config.sample_rate_hz
        self.hop, self.window = feature_config.hop_samples, feature_config.window_samples
        self.segment = round(segment_s * self.rate)
        self.frames = feature_config.num_frames(self.segment)
        self.target_frames = max(1, round(target_ms / feature_config.hop_ms))
        self.lead_frames = round(target_lead_ms / feature_config.hop_ms)
        self.background = background_class
        self.hum_prob, self.hum_level_db = hum_prob, hum_level_db  # see TrainConfig.stream_hum_prob
        self.words = torch.nonzero(~is_silence).flatten()  # generated silence is the background here
        pad = round(self.rate * WORD_PAD_MS / 1000)
        bounds = word_bounds(waves[self.words], self.rate)
        self.speech_start = torch.zeros(len(waves), dtype=torch.long)
        self.speech_end = torch.zeros(len(waves), dtype=torch.long)
        self.speech_start[self.words], self.speech_end[self.words] = bounds[:, 0], bounds[:, 1]
        self.cut_start = (self.speech_start - pad).clamp_min(0)
        self.cut_end = (self.speech_end + pad).clamp_max(waves.shape[-1])
        unknown = self.words[torch.isin(targets[self.words], torch.tensor(other_word_classes, dtype=torch.long))]
        self.babble_clips = unknown if len(unknown) >= MIN_BABBLE_CLIPS else self.words
        self.clip_power = _power(waves.float())  # floored at MIN_POWER
        recordings = [n for n in noise if n.numel() > 0] or generated_noise(self.rate)
        self.noise = NoiseBank(recordings, self.segment)
        self.rooms = RoomBank(augment, self.rate, waves.shape[-1], count=ROOM_BANK_SIZE) if augment.room else None
        self.speed = SpeedChanger()
        self.low_pass = LowPass(augment.band_limit_hz, self.rate) if augment.band_limit_prob > 0 else None
        self.channels = None
        if augment.channel_prob > 0:
            if speakers is None or words is None:
                raise ValueError("channel_prob needs each training clip's speaker and word")
            self.channels = ChannelBank(waves, speakers, words)

    # ------------------------------------------------------------------------------- planning
    def plan_epoch(self, order: torch.Tensor, lanes: int, generator: torch.Generator) -> list[list[list[Placement]]]:
        """Place the clips of ``order`` (rows of the training set, silence rows skipped) into
        segments: ``plan[step][lane]`` is the list of placements of one lane's segment."""
        speech = set(self.words.tolist())
        queue = [int(i) for i in order.tolist() if int(i) in speech]
        tail = self.target_frames * self.hop + self.window  # a word's target window must fit
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        plan: list[list[list[Placement]]] = []
        position = 0
        while position < len(queue):
            step = []
            for _ in range(lanes):
                placed: list[Placement] = []
                if rng.random() >= EMPTY_LANE_PROB:
                    at = int(rng.uniform(0.0, FIRST_GAP_S_MAX) * self.rate)
                    while position < len(queue):
                        clip = queue[position]
                        speed = self.augment.draw_speed(rng)
                        lead = sped_length(int(self.speech_start[clip] - self.cut_start[clip]), speed)
                        length = sped_length(int(self.cut_end[clip] - self.cut_start[clip]), speed)
                        if at + length + tail > self.segment:
                            break
                        placed.append(Placement(clip, at + lead, speed))
                        position += 1
                        at += length + int(rng.uniform(GAP_S_MIN, GAP_S_MAX) * self.rate)
                step.append(placed)
            plan.append(step)
        return plan

    # ------------------------------------------------------------------------------ rendering
    @torch.no_grad()
    def render(self, step: list[list[Placement]], generator: torch.Generator,
               fill: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step's lanes -> frames (B, T, F), frame targets (B, T) and word ids (B, T) (-1 outside
        every word's window, else the placement's number within the step)."""
        lanes, cfg = len(step), self.augment
        speech = self._words(step, generator)  # (B, segment)
        targets = torch.full((lanes, self.frames), self.background, dtype=torch.long)
        word_ids = torch.full((lanes, self.frames), -1, dtype=torch.long)
        reference = torch.full((lanes,), REFERENCE_WORD_POWER)
        number = 0
        for lane, placed in enumerate(step):
            for placement in placed:
                end = placement.start + sped_length(int(self.speech_end[placement.clip]
                                                        - self.speech_start[placement.clip]), placement.speed)
                first = max(0, round(end / self.hop) - self.lead_frames)
                last = min(self.frames, first + self.target_frames)
                targets[lane, first:last] = int(self.targets[placement.clip])
                word_ids[lane, first:last] = number
                number += 1
            if placed:
                reference[lane] = self.clip_power[[p.clip for p in placed]].mean()
        background = self._background(lanes, generator)
        snr_db = _uniform(generator, lanes, cfg.snr_db_min, cfg.snr_db_max, torch.device("cpu"))
        quiet = _uniform(generator, lanes, *QUIET_SNR_DB, torch.device("cpu"))
        noisy = _uniform(generator, lanes, 0.0, 1.0, torch.device("cpu")) < (cfg.noise_prob if cfg.noise else 0.0)
        snr_db = torch.where(noisy, snr_db, quiet)
        scale = torch.sqrt(reference / _power(background) / torch.pow(10.0, snr_db / DB_PER_POWER_DECADE))
        scale = torch.where(_uniform(generator, lanes, 0.0, 1.0, torch.device("cpu")) < DIGITAL_SILENCE_PROB,
                            torch.zeros_like(scale), scale)
        mix = speech + background * scale.unsqueeze(-1)
        if cfg.gain and cfg.gain_db_max > 0:
            gain_db = _uniform(generator, lanes, -cfg.gain_db_max, cfg.gain_db_max, torch.device("cpu"))
            mix *= torch.pow(10.0, gain_db / (2 * DB_PER_POWER_DECADE)).unsqueeze(-1)
        mix = mix.clamp(-CLIP_LIMIT, CLIP_LIMIT).to(self.device)
        frames = self.extractor(mix, cfg.draw_warps(lanes, generator),
                                cfg.draw_band_masks(lanes, self.extractor.config.n_mels, generator))
        frames = spec_augment(frames, cfg, generator, fill=fill)
        return frames, targets.to(self.device), word_ids.to(self.device)

    def _words(self, step: list[list[Placement]], generator: torch.Generator) -> torch.Tensor:
        """The lanes' speech alone: every placed clip through a random room, at its speed and a random gain."""
        placements = [(lane, p) for lane, placed in enumerate(step) for p in placed]
        out = torch.zeros(len(step), self.segment)
        if not placements:
            return out
        clips = torch.tensor([p.clip for _, p in placements])
        waves = self.waves[clips].float()
        cfg = self.augment
        if self.rooms is not None and cfg.room_prob > 0:
            rows = torch.nonzero(_uniform(generator, len(clips), 0.0, 1.0, torch.device("cpu")) < cfg.room_prob).flatten()
            if len(rows):
                waves = waves.index_copy(0, rows, self.rooms(waves[rows], generator))
        chains = cfg.draw_channels(len(clips), generator)  # drawn only when self.channels exists
        if chains is not None:
            waves = self.channels.rows(waves, clips, chains, generator)
        narrow = cfg.draw_band_limited(len(clips), generator)  # drawn only when self.low_pass exists
        if narrow is not None:
            waves = self.low_pass.rows(waves, narrow)
        gains = torch.pow(10.0, _uniform(generator, len(clips), -WORD_GAIN_DB_MAX, WORD_GAIN_DB_MAX,
                                         torch.device("cpu")) / (2 * DB_PER_POWER_DECADE))
        fade = round(self.rate * WORD_PAD_MS / 1000)
        for (lane, placement), wave, gain in zip(placements, waves, gains.tolist()):
            lo, hi = int(self.cut_start[placement.clip]), int(self.cut_end[placement.clip])
            at = placement.start - sped_length(int(self.speech_start[placement.clip] - lo), placement.speed)
            piece = self.speed(wave[lo:hi], placement.speed) * gain
            ramp = min(fade, piece.numel() // 2)
            if ramp:  # the cut never clicks: a raised-cosine fade over the padding
                window = 0.5 - 0.5 * torch.cos(torch.linspace(0.0, math.pi, ramp))
                piece[:ramp] *= window
                piece[-ramp:] *= window.flip(0)
            out[lane, at : at + piece.numel()] += piece
        return out

    def _background(self, lanes: int, generator: torch.Generator) -> torch.Tensor:
        """Noise recordings, with babble and hum mixed into some lanes: (B, segment)."""
        cpu = torch.device("cpu")
        noise, noise_power = self.noise.sample_with_power(lanes, generator, cpu)
        babble_rows = torch.nonzero(_uniform(generator, lanes, 0.0, 1.0, cpu) < BABBLE_PROB).flatten()
        if len(babble_rows):
            voices = int(torch.randint(BABBLE_VOICES[0], BABBLE_VOICES[1], (1,), generator=generator))
            babble = make_babble(self.waves, len(babble_rows), self.segment, voices, generator, pool=self.babble_clips)
            level = _uniform(generator, len(babble_rows), *BABBLE_LEVEL_DB, cpu)
            gain = torch.sqrt(noise_power[babble_rows] / _power(babble) * torch.pow(10.0, level / DB_PER_POWER_DECADE))
            noise[babble_rows] += babble * gain.unsqueeze(-1)
        hum_rows = torch.nonzero(_uniform(generator, lanes, 0.0, 1.0, cpu) < self.hum_prob).flatten()
        if len(hum_rows):
            hum = random_hum(len(hum_rows), self.segment, self.rate, generator)
            level = _uniform(generator, len(hum_rows), *self.hum_level_db, cpu)
            gain = torch.sqrt(noise_power[hum_rows] / _power(hum) * torch.pow(10.0, level / DB_PER_POWER_DECADE))
            noise[hum_rows] += hum * gain.unsqueeze(-1)
        return noise



def stream_loss(logits: torch.Tensor, targets: torch.Tensor, word_ids: torch.Tensor, kind: str,
                label_smoothing: float = 0.0) -> torch.Tensor:
    """Loss of a stream segment: the mean over background frames plus the mean over words, so that
    the words (a tenth of the frames) weigh as much as everything around them.

    ``ce``: every frame of a word's window counts. ``max``: only the word's best frame in its window
    (max-pooling loss, Sun et al. 2016): the network may fire anywhere in the window, once.
    """
    flat_logits = logits.float().reshape(-1, logits.shape[-1])
    losses = torch.nn.functional.cross_entropy(flat_logits, targets.reshape(-1), reduction="none",
                                               label_smoothing=label_smoothing)
    ids = word_ids.reshape(-1)
    inside = ids >= 0
    if kind == "ce" or not inside.any():
        return background_plus_words(losses, ids)
    best = torch.full((int(ids.max()) + 1,), math.inf, device=losses.device)
    best = best.scatter_reduce(0, ids[inside], losses[inside], reduce="amin")  # lowest loss = best frame
    return _background_mean(losses, inside) + best[torch.isfinite(best)].mean()


def background_plus_words(per_frame: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
    """The mean of ``per_frame`` over the frames outside every word's window plus its mean over those
    inside (``word_ids`` >= 0, same shape): the words, a tenth of the frames, weigh as much as
    everything around them."""
    inside = word_ids >= 0
    total = _background_mean(per_frame, inside)
    return total + per_frame[inside].mean() if bool(inside.any()) else total


def _background_mean(per_frame: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    return per_frame[~inside].mean() if bool((~inside).any()) else per_frame.new_zeros(())
