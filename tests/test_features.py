"""The feature module against librosa, and streaming == whole-signal framing."""

import numpy as np
import pytest
import torch

from speechrnn.audio.io import load_audio, pad_or_crop
from speechrnn.features import (
    FeatureConfig,
    FeatureExtractor,
    StreamingFeatures,
    mel_filterbank,
    vtlp_warp_hz,
    warped_mel_filterbank,
)

from datapaths import DATA

# Largest |difference| between our MFCCs and librosa's, in dB-scaled cepstral units, on real
# speech whose coefficients reach several hundred: float32 FFT/matmul rounding, nothing systematic.
LIBROSA_MFCC_ATOL = 5e-3
LIBROSA_LOGMEL_ATOL = 1e-3


def _speech(config: FeatureConfig) -> np.ndarray:
    clip = load_audio(DATA / "speech_commands" / "yes" / "b87bdb22_nohash_1.wav", config.sample_rate_hz)
    return pad_or_crop(clip, config.clip_samples)


def _librosa_mel_db(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    import librosa

    # librosa centres the window inside the n_fft frame; padding the signal by the same amount
    # on both sides makes its frame t cover our samples [t * hop, t * hop + window).
    pad = (config.n_fft - config.window_samples) // 2
    mel = librosa.feature.melspectrogram(
        y=np.pad(y, (pad, pad)), sr=config.sample_rate_hz, n_fft=config.n_fft,
        hop_length=config.hop_samples, win_length=config.window_samples, window="hann",
        center=False, power=2.0, n_mels=config.n_mels, fmin=config.f_min_hz, fmax=config.f_max_hz,
        htk=False, norm="slaney",
    )
    return librosa.power_to_db(mel, ref=1.0, amin=config.log_floor, top_db=None)


def test_mfcc_matches_librosa_on_real_speech():
    import librosa

    config = FeatureConfig()
    y = _speech(config)
    ours = FeatureExtractor(config).numpy(y)[0]
    ref = librosa.feature.mfcc(S=_librosa_mel_db(y, config), n_mfcc=config.n_mfcc, dct_type=2, norm="ortho").T
    assert ours.shape == ref.shape == (config.clip_frames, config.n_mfcc)
    np.testing.assert_allclose(ours, ref, atol=LIBROSA_MFCC_ATOL, rtol=0)


def test_logmel_matches_librosa_with_other_settings():
    config = FeatureConfig(kind="logmel", n_mels=64, window_ms=30, hop_ms=10, f_max_hz=4000)
    y = _speech(config)
    ours = FeatureExtractor(config).numpy(y)[0]
    ref = _librosa_mel_db(y, config).T
    assert ours.shape == ref.shape == (config.clip_frames, 64)
    np.testing.assert_allclose(ours, ref, atol=LIBROSA_LOGMEL_ATOL, rtol=0)


def test_default_frame_count_and_shapes():
    config = FeatureConfig()
    assert (config.window_samples, config.hop_samples, config.clip_samples) == (400, 160, 16000)
    assert config.clip_frames == 98
    out = FeatureExtractor(config)(torch.zeros(3, 16000))
    assert out.shape == (3, 98, 40)
    assert FeatureExtractor(config)(torch.zeros(2, 100)).shape == (2, 0, 40)


def test_batched_equals_one_by_one_and_chunked_cpu_path():
    config = FeatureConfig()
    extractor = FeatureExtractor(config)
    waves = torch.randn(70, 8000) * 0.1  # more than one CPU chunk
    batched = extractor(waves)
    single = torch.cat([extractor(w) for w in waves])
    torch.testing.assert_close(batched, single, atol=1e-3, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 37, 160, 1000, 16000])
def test_streaming_features_do_not_depend_on_chunk_size(chunk):
    config = FeatureConfig()
    extractor = FeatureExtractor(config)
    y = _speech(config)
    whole = extractor.numpy(y)[0]
    stream = StreamingFeatures(extractor)
    parts = [stream.push_with_levels(y[i : i + chunk]) for i in range(0, y.size, chunk)]
    streamed = np.concatenate([frames for frames, _ in parts])
    assert streamed.shape == whole.shape
    assert stream.frames_emitted == whole.shape[0]
    np.testing.assert_allclose(streamed, whole, atol=1e-3, rtol=1e-5)
    # each frame's level is the RMS of its own analysis window, in dBFS
    windows = np.lib.stride_tricks.sliding_window_view(y, config.window_samples)[:: config.hop_samples]
    want = 10 * np.log10(np.maximum(np.mean(np.square(windows, dtype=np.float64), axis=1), 1e-10))
    levels = np.concatenate([levels for _, levels in parts])
    assert levels.dtype == np.float32
    np.testing.assert_allclose(levels, want[: len(levels)], atol=1e-3)
    assert len(levels) == len(streamed)
    _, silent = StreamingFeatures(extractor).push_with_levels(np.zeros(config.clip_samples, dtype=np.float32))
    assert np.all(silent == pytest.approx(-100.0))  # digital silence is floored, not -inf


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(f_max_hz=4000.0, n_mfcc=13),
                                    FeatureConfig(sample_rate_hz=8000, n_fft=256, f_max_hz=3800.0)])
def test_an_unwarped_filterbank_is_the_filterbank(config):
    torch.testing.assert_close(warped_mel_filterbank(config, 1.0), mel_filterbank(config), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("warp", [0.9, 1.1])
def test_a_vocal_tract_warp_moves_a_formant_and_keeps_the_band(warp):
    config = FeatureConfig(kind="logmel")
    extractor = FeatureExtractor(config)
    t = torch.arange(config.clip_samples) / config.sample_rate_hz

    def loudest_band(hz: float, warps=None) -> int:
        tone = 0.3 * torch.sin(2 * torch.pi * hz * t)
        return int(extractor(tone.unsqueeze(0), warps).mean(dim=1).argmax())

    # a 1 kHz formant heard through the warp lands in the band of a (warp x 1 kHz) one
    assert loudest_band(1000.0, torch.tensor([warp])) == loudest_band(1000.0 * warp) != loudest_band(1000.0)
    # each row of a batch has its own warp; an unwarped row is what the live path computes
    waves = torch.randn(2, config.clip_samples) * 0.1
    both = extractor(waves, torch.tensor([1.0, warp]))
    torch.testing.assert_close(both[0], extractor(waves[:1])[0], atol=1e-3, rtol=1e-5)
    assert (both[1] - extractor(waves[1:])[0]).abs().max() > 1.0
    # the warp is linear, then bends back so the band's top stays its top (nothing above it is read)
    hz = torch.linspace(0.0, config.sample_rate_hz / 2, 2001, dtype=torch.float64)
    warped = vtlp_warp_hz(hz, warp, config.f_max_hz)
    assert torch.all(warped[1:] > warped[:-1])  # monotonic, hence continuous at the knee too
    assert warped[hz == 1000.0].item() == pytest.approx(1000.0 * warp)
    assert vtlp_warp_hz(torch.tensor([config.f_max_hz], dtype=torch.float64), warp, config.f_max_hz).item() == \
        pytest.approx(config.f_max_hz)
    assert torch.equal(warped[hz > config.f_max_hz], hz[hz > config.f_max_hz])


def test_a_microphone_missing_mel_bands_flattens_only_those_bands():
    config = FeatureConfig(kind="logmel")
    extractor = FeatureExtractor(config)
    waves = torch.from_numpy(np.stack([_speech(config), _speech(config) * 0.5]))
    plain = extractor(waves)
    masks = torch.zeros(2, config.n_mels, dtype=torch.bool)
    masks[1, 10:16] = True  # the second row's microphone misses six bands
    heard = extractor(waves, band_masks=masks)
    torch.testing.assert_close(heard[0], plain[0])  # an unmasked row is what the live path computes
    torch.testing.assert_close(heard[1][:, ~masks[1]], plain[1][:, ~masks[1]])
    level = plain[1].mean(dim=-1, keepdim=True)  # the frame's mean log energy over the bands
    torch.testing.assert_close(heard[1][:, masks[1]], level.expand(-1, 6))
    mfcc = FeatureExtractor(FeatureConfig())
    assert (mfcc(waves, band_masks=masks)[1] - mfcc(waves)[1]).abs().max() > 1.0  # before the DCT: every coefficient moves


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError, match="kind"):
        FeatureConfig(kind="plp")
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureConfig(n_mfcc=50, n_mels=40)
    with pytest.raises(ValueError, match="f_max_hz"):
        FeatureConfig(f_max_hz=9000)
    with pytest.raises(ValueError, match="n_fft"):
        FeatureConfig(window_ms=40, n_fft=512)
