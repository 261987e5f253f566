"""Backgrounds of real rooms that recorded noise files alone miss: babble and steady hum.

Measured on unseen recordings, a live detector's false alarms come from other people talking
(babble) and from steady hums (fridges, fans, mains); the Speech Commands noise files hold
neither. These generators make both, batched on tensors, for training streams
(:mod:`speechrnn.training.stream_batches`) and, written to files from held-out speakers, for
``speechrnn stream-eval`` (:func:`write_room_noises`).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from speechrnn.record import TrimConfig, frame_levels_db, speech_bounds

HUM_F0_HZ = (40.0, 400.0)  # fundamental of a hum / tone (mains, fans, fridges, whine)
HUM_HARMONICS = 8
BABBLE_VOICES = (3, 7)  # voices mixed in babble (low inclusive, high exclusive)
BABBLE_PAUSE_S = (0.05, 0.3)  # pauses between one voice's words in babble
BABBLE_VOICE_SPREAD_DB = 3.0  # babble words are levelled to one loudness, +- this (voices at like distances)
MIN_RMS = 1e-6  # a silent piece is left silent, not amplified
EVAL_BABBLE_VOICES = 5  # voices in the babble file written for stream-eval
EVAL_HUM_F0_HZ = (50.0, 60.0, 100.0, 120.0)  # mains hums of the hum file, a quarter of it each
EVAL_HUM_NOISE_DB = -20.0  # a fan's broadband rumble under the hum file's tone, relative to it
RUMBLE_CUTOFF_HZ = 300.0  # the rumble is noise low-passed here
ROOM_NOISE_SECONDS = 120.0  # babble and hum files made by with_room_noises (streams loop them)
EVAL_LEVEL_RMS = 0.05  # written files' RMS (about -26 dBFS); stream-eval rescales noise to the SNR anyway


def babble(waves: torch.Tensor, rows: int, samples: int, voices: int, generator: torch.Generator,
           pool: torch.Tensor | None = None, bounds: torch.Tensor | None = None,
           sample_rate_hz: int = 0) -> torch.Tensor:
    """(rows, samples) babble: ``voices`` tracks per row, summed. A track is random clips of
    ``waves`` (N, S) (or of its rows listed in ``pool``) from a random offset: with ``bounds`` (N, 2),
    each clip's speech [start, end) only, levelled to unit RMS (+- :data:`BABBLE_VOICE_SPREAD_DB`),
    one after another with pauses of :data:`BABBLE_PAUSE_S` (people talking on at like distances,
    as in a café: the level never drops to silence; ``sample_rate_hz`` times the pauses); without,
    whole clips end to end."""
    count = len(pool) if pool is not None else len(waves)
    if bounds is None:
        clip = waves.shape[-1]
        per_voice = samples // clip + 2
        picks = torch.randint(0, count, (rows * voices * per_voice,), generator=generator)
        if pool is not None:
            picks = pool[picks]
        tracks = waves[picks].float().reshape(rows, voices, per_voice * clip)
        offsets = torch.randint(0, clip, (rows, voices, 1), generator=generator)
        index = offsets + torch.arange(samples).view(1, 1, -1)
        return tracks.gather(2, index).sum(1)
    if sample_rate_hz <= 0:
        raise ValueError("babble from speech bounds needs the sample rate")
    out = torch.zeros(rows, samples)
    for row in range(rows):
        for _ in range(voices):
            at = -int(torch.randint(0, waves.shape[-1], (1,), generator=generator))
            while at < samples:
                pick = int(torch.randint(0, count, (1,), generator=generator))
                clip = int(pool[pick]) if pool is not None else pick
                start, end = (int(b) for b in bounds[clip])
                piece = waves[clip, start:end].float()
                spread_db = BABBLE_VOICE_SPREAD_DB * (2 * float(torch.rand(1, generator=generator)) - 1)
                piece = piece * (10 ** (spread_db / 20) / piece.square().mean().sqrt().clamp_min(MIN_RMS))
                lo, hi = max(at, 0), min(at + piece.numel(), samples)
                if hi > lo:
                    out[row, lo:hi] += piece[lo - at : hi - at]
                pause = BABBLE_PAUSE_S[0] + (BABBLE_PAUSE_S[1] - BABBLE_PAUSE_S[0]) * float(
                    torch.rand(1, generator=generator))
                at += piece.numel() + round(pause * sample_rate_hz)
    return out


def hum(f0_hz: torch.Tensor, samples: int, sample_rate_hz: int, generator: torch.Generator,
        harmonics: int = HUM_HARMONICS) -> torch.Tensor:
    """(rows, samples) steady hums: fundamental ``f0_hz[row]`` with random harmonics falling off
    as 1/k (and none above Nyquist), random phases."""
    rows = len(f0_hz)
    order = torch.arange(1, harmonics + 1, dtype=torch.float32)
    amplitude = torch.rand(rows, harmonics, generator=generator) / order
    phase = 2 * math.pi * torch.rand(rows, harmonics, generator=generator)
    freq = f0_hz.float().unsqueeze(-1) * order  # (rows, H)
    amplitude = torch.where(freq < sample_rate_hz / 2, amplitude, torch.zeros_like(amplitude))
    t = torch.arange(samples, dtype=torch.float32) / sample_rate_hz
    angles = 2 * math.pi * freq.unsqueeze(-1) * t + phase.unsqueeze(-1)  # (rows, H, T)
    return (amplitude.unsqueeze(-1) * torch.sin(angles)).sum(1)


def random_hum(rows: int, samples: int, sample_rate_hz: int, generator: torch.Generator) -> torch.Tensor:
    """Hums with fundamentals drawn log-uniformly from :data:`HUM_F0_HZ`."""
    low, high = math.log(HUM_F0_HZ[0]), math.log(HUM_F0_HZ[1])
    f0 = torch.exp(low + (high - low) * torch.rand(rows, generator=generator))
    return hum(f0, samples, sample_rate_hz, generator)


def _rumble(samples: int, sample_rate_hz: int, generator: torch.Generator) -> torch.Tensor:
    """Broadband noise low-passed at :data:`RUMBLE_CUTOFF_HZ` (a fan's or fridge's rumble)."""
    noise = torch.randn(samples, generator=generator)
    spectrum = torch.fft.rfft(noise)
    freqs = torch.fft.rfftfreq(samples, 1.0 / sample_rate_hz)
    return torch.fft.irfft(spectrum * (freqs < RUMBLE_CUTOFF_HZ), n=samples)


def _rms_normalised(x: torch.Tensor) -> np.ndarray:
    return (x * (EVAL_LEVEL_RMS / x.square().mean().sqrt().clamp_min(1e-9))).numpy().astype(np.float32)


def word_bounds(waves: torch.Tensor, sample_rate_hz: int, trim: TrimConfig = TrimConfig()) -> torch.Tensor:
    """(N, 2) sample bounds [start, end) of the speech in each clip (energy, as stream-eval finds
    words); the whole clip where no speech stands out."""
    frame = max(1, round(sample_rate_hz * trim.frame_ms / 1000))
    bounds = np.empty((len(waves), 2), dtype=np.int64)
    for row, wave in enumerate(waves.float().numpy()):
        found = speech_bounds(frame_levels_db(wave, frame), trim.frame_ms, trim)
        first, end = found if found is not None else (0, wave.size // frame)
        bounds[row] = (first * frame, min(end * frame, wave.size))
    return torch.from_numpy(bounds)


def write_room_noises(speech: list[Path], out_dir: Path, seconds: float, sample_rate_hz: int,
                      seed: int = 0) -> list[Path]:
    """Write ``babble.wav`` (several voices of the ``speech`` clips overlapped) and ``hum.wav``
    (mains hums over a fan's rumble), ``seconds`` long each, into ``out_dir``. Give speech of
    speakers the model never heard (a test split) for a fair test."""
    from speechrnn.audio.io import load_audio, pad_or_crop, write_wav_atomic

    if not speech:
        raise ValueError("babble needs speech clips")
    generator = torch.Generator().manual_seed(seed)
    samples = round(seconds * sample_rate_hz)
    clip = sample_rate_hz  # clips are padded or cropped to one second
    waves = torch.from_numpy(np.stack([pad_or_crop(load_audio(p, sample_rate_hz), clip) for p in speech]))
    chatter = babble(waves, 1, samples, EVAL_BABBLE_VOICES, generator, bounds=word_bounds(waves, sample_rate_hz),
                     sample_rate_hz=sample_rate_hz)[0]
    part = samples // len(EVAL_HUM_F0_HZ) + 1
    tones = torch.cat([hum(torch.tensor([f0]), part, sample_rate_hz, generator)[0] for f0 in EVAL_HUM_F0_HZ])[:samples]
    rumble = _rumble(samples, sample_rate_hz, generator)
    rumble *= tones.square().mean().sqrt() / rumble.square().mean().sqrt() * 10 ** (EVAL_HUM_NOISE_DB / 20)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "babble.wav", out_dir / "hum.wav"]
    for path, audio in zip(paths, (chatter, tones + rumble)):
        write_wav_atomic(path, _rms_normalised(audio), sample_rate_hz)
    return paths


def with_room_noises(noise_dir: Path, speech_dir: Path, work: Path, seed: int, vocabulary: set[str]) -> Path:
    """``work/noise-<key>``: links to the recordings of ``noise_dir`` plus babble and hum made from the
    words of the labelled folder ``speech_dir`` outside ``vocabulary`` (babble is other people talking,
    not saying the commands). The folder is named by what it holds (``key`` digests the recordings, the
    babble's clips and ``seed``): another noise or speech folder gets a folder of its own, never a
    mixture with what an earlier call left (benches on other noises may run side by side)."""
    from speechrnn.data.cache import KEY_CHARS
    from speechrnn.data.layout import audio_files_in, scan_folder
    from speechrnn.errors import DataError
    from speechrnn.features import FeatureConfig

    recordings = {path.name: path.resolve() for path in audio_files_in(Path(noise_dir))}
    speech = [clip.path.resolve() for clip in scan_folder(Path(speech_dir))
              if not clip.label.startswith("_") and clip.label not in vocabulary]
    if not speech:
        raise DataError(f"{speech_dir}: no words outside the model's vocabulary to make babble from")
    key = hashlib.sha256("\n".join(map(str, [seed, *recordings.items(), *speech])).encode()).hexdigest()
    folder = Path(work) / f"noise-{key[:KEY_CHARS]}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in recordings.items():
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(target)
    write_room_noises(speech, folder, ROOM_NOISE_SECONDS, FeatureConfig().sample_rate_hz, seed)
    return folder
