"""Feature extraction speed: our batched path vs librosa.feature.mfcc per clip, same settings.

Also torchaudio's own ``MFCC`` transform on the same batch, the usual "batched" baseline.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.context import BenchContext
from bench.timing import best_seconds_per_call
from speechrnn.features import FeatureConfig, FeatureExtractor

BATCH_CLIPS = 256  # clips per batched call (a training batch)
QUICK_BATCH_CLIPS = 8
LIBROSA_CLIPS = 64  # clips per librosa timing round (one call each)
QUICK_LIBROSA_CLIPS = 4
SIGNAL_RMS = 0.1  # test signal level; speed does not depend on content


def _librosa_mfcc(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    import librosa

    return librosa.feature.mfcc(
        y=y, sr=config.sample_rate_hz, n_mfcc=config.n_mfcc, n_fft=config.n_fft,
        hop_length=config.hop_samples, win_length=config.window_samples, window="hann", center=False,
        n_mels=config.n_mels, fmin=config.f_min_hz, fmax=config.f_max_hz, htk=False, norm="ortho",
    )


def _torchaudio_mfcc(config: FeatureConfig):
    import torchaudio

    return torchaudio.transforms.MFCC(
        sample_rate=config.sample_rate_hz, n_mfcc=config.n_mfcc, log_mels=False, norm="ortho",
        melkwargs=dict(n_fft=config.n_fft, win_length=config.window_samples, hop_length=config.hop_samples,
                       f_min=config.f_min_hz, f_max=config.f_max_hz, n_mels=config.n_mels, center=False,
                       norm="slaney", mel_scale="slaney"),
    )


def run(ctx: BenchContext) -> dict:
    config = FeatureConfig()
    batch = QUICK_BATCH_CLIPS if ctx.quick else BATCH_CLIPS
    lib_clips = QUICK_LIBROSA_CLIPS if ctx.quick else LIBROSA_CLIPS
    rng = np.random.default_rng(ctx.seed)
    waves = (SIGNAL_RMS * rng.standard_normal((batch, config.clip_samples))).astype(np.float32)
    tensor = torch.from_numpy(waves)
    ours = FeatureExtractor(config)
    theirs = _torchaudio_mfcc(config)
    with torch.no_grad():
        frames_ours = ours(tensor).shape[1]
        frames_lib = _librosa_mfcc(waves[0], config).shape[1]
        best = best_seconds_per_call({
            "ours": lambda: ours(tensor),
            "torchaudio": lambda: theirs(tensor),
            "librosa": lambda: [_librosa_mfcc(w, config) for w in waves[:lib_clips]],
        }, ctx.min_seconds)
    ours_s, ta_s, lib_s = best["ours"], best["torchaudio"], best["librosa"]
    result = {
        "settings": f"{config.kind} {config.n_mfcc} coeffs, {config.n_mels} mels, {config.window_ms:g}/{config.hop_ms:g} ms, "
                    f"n_fft {config.n_fft}, 1 s clips at {config.sample_rate_hz} Hz",
        "batch_clips": batch,
        "frames_per_clip": {"ours": int(frames_ours), "librosa": int(frames_lib)},
        "ours_clips_per_s": batch / ours_s,
        "torchaudio_mfcc_clips_per_s": batch / ta_s,
        "librosa_clips_per_s": lib_clips / lib_s,
    }
    result["speedup_vs_librosa"] = result["ours_clips_per_s"] / result["librosa_clips_per_s"]
    result["speedup_vs_torchaudio_mfcc"] = result["ours_clips_per_s"] / result["torchaudio_mfcc_clips_per_s"]
    return result
