"""Batch augmentation: measured SNR, shift, masks, switches and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechrnn.audio.io import load_audio
from speechrnn.data.augment import (
    AugmentConfig,
    LowPass,
    NoiseBank,
    room_response,
    WaveAugmenter,
    generated_noise,
    mix_at_snr,
    spec_augment,
    sped_length,
    SpeedChanger,
    time_shift,
)
from speechrnn.features import FeatureConfig, FeatureExtractor
from test_data_layout import REPO_DATA

RATE_HZ = 16000
CLIP = 16000
DRY = {"room": False, "gain": False, "speed": False}  # leaves the clean speech as it is, to measure noise and shift alone


def snr_db(clean: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    noise = mixed - clean
    return 10 * torch.log10(clean.square().mean(-1) / noise.square().mean(-1))


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    """Four real one-second clips (yes, no, one, two)."""
    words = ("yes", "no", "one", "two")
    waves = [load_audio(next((REPO_DATA / "speech_commands" / w).glob("*.wav")), RATE_HZ) for w in words]
    return torch.stack([torch.from_numpy(np.resize(w, CLIP)) for w in waves])


@pytest.fixture(scope="module")
def noise() -> list[torch.Tensor]:
    return [torch.from_numpy(load_audio(p, RATE_HZ)) for p in sorted((REPO_DATA / "noise").glob("*.wav"))]


def test_mix_at_snr_hits_the_requested_snr(speech, noise):
    recording = noise[0][:CLIP].expand(len(speech), -1)
    for target in (0.0, 10.0, 20.0):
        measured = snr_db(speech, mix_at_snr(speech, recording, target))
        torch.testing.assert_close(measured, torch.full_like(measured, target), atol=0.01, rtol=0)
    per_row = torch.tensor([-5.0, 3.0, 12.5, 30.0])
    measured = snr_db(speech, mix_at_snr(speech, recording, per_row))
    torch.testing.assert_close(measured, per_row, atol=0.01, rtol=0)
    one = mix_at_snr(speech[0], noise[1][:CLIP], 6.0)
    assert abs(float(snr_db(speech[0], one)) - 6.0) < 0.01


def test_mix_at_snr_leaves_silence_silent(noise):
    silent = torch.zeros(2, CLIP)
    assert float(mix_at_snr(silent, noise[0][: 2 * CLIP].reshape(2, CLIP), 10.0).abs().max()) < 1e-4


def test_time_shift_moves_the_signal_and_fills_zeros():
    waves = torch.zeros(3, 100)
    waves[:, 50] = 1.0
    shifted = time_shift(waves, torch.tensor([7, -20, 0]), max_shift=20)
    assert shifted.argmax(dim=1).tolist() == [57, 30, 50]
    ramp = torch.arange(1.0, 101.0).unsqueeze(0)
    right = time_shift(ramp, torch.tensor([5]), 10)[0]
    left = time_shift(ramp, torch.tensor([-5]), 10)[0]
    assert right[:5].eq(0).all() and torch.equal(right[5:], ramp[0, :95])
    assert left[-5:].eq(0).all() and torch.equal(left[:95], ramp[0, 5:])


def test_augmenter_shift_only_stays_within_range(speech):
    augment = WaveAugmenter(AugmentConfig(noise=False, spec_augment=False, shift_ms=100, **DRY), [], RATE_HZ)
    impulses = torch.zeros(64, CLIP)
    impulses[:, CLIP // 2] = 1.0
    out = augment(impulses, torch.zeros(64, dtype=torch.bool), torch.Generator().manual_seed(1))
    shifts = out.argmax(dim=1) - CLIP // 2
    assert shifts.abs().max() <= 1600 and len(set(shifts.tolist())) > 10
    assert torch.equal(out.sum(dim=1), torch.ones(64))  # moved, not smeared


def test_noise_mixing_uses_the_configured_probability_and_snr_range(speech, noise):
    config = AugmentConfig(noise_prob=1.0, snr_db_min=5.0, snr_db_max=15.0, shift=False, **DRY)
    augment = WaveAugmenter(config, noise, RATE_HZ)
    batch = speech.repeat(16, 1)
    out = augment(batch, torch.zeros(len(batch), dtype=torch.bool), torch.Generator().manual_seed(0))
    measured = snr_db(batch, out)
    assert measured.min() > 4.99 and measured.max() < 15.01 and measured.std() > 1.0
    never = WaveAugmenter(AugmentConfig(noise_prob=0.0, shift=False, **DRY), noise, RATE_HZ)
    assert torch.equal(never(batch, torch.zeros(len(batch), dtype=torch.bool), torch.Generator()), batch)
    sometimes = WaveAugmenter(AugmentConfig(noise_prob=0.5, shift=False, **DRY), noise, RATE_HZ)
    big = speech.repeat(100, 1)
    changed = (sometimes(big, torch.zeros(len(big), dtype=torch.bool), torch.Generator().manual_seed(3)) != big).any(1)
    assert 0.35 < changed.float().mean() < 0.65


def test_silence_rows_become_noise_at_random_volume(noise):
    augment = WaveAugmenter(AugmentConfig(noise=False, shift=False, **DRY), noise, RATE_HZ)
    waves = torch.zeros(32, CLIP)
    is_silence = torch.arange(32) % 2 == 0
    out = augment(waves, is_silence, torch.Generator().manual_seed(0))
    assert out[~is_silence].eq(0).all()
    rms = out[is_silence].square().mean(1).sqrt()
    loudest = max(float(n.square().mean().sqrt()) for n in noise) * 1.5
    assert (rms > 0).all() and rms.max() < loudest and rms.std() > 0


def test_room_keeps_the_direct_sound_in_place_adds_a_decaying_tail_and_keeps_power():
    config = AugmentConfig(rt60_s_min=0.3, rt60_s_max=0.3, drr_db_min=0.0, drr_db_max=0.0, tilt_db_per_octave_max=0.0)
    clicks = torch.zeros(8, CLIP)
    clicks[:, 1000] = 1.0
    out = room_response(clicks, config, RATE_HZ, torch.Generator().manual_seed(0))
    assert out[:, :1000].abs().max() < 1e-4  # causal: nothing before the click
    assert torch.equal(out.abs().argmax(1), torch.full((8,), 1000))  # the direct path is the peak
    torch.testing.assert_close(out.square().mean(1), clicks.square().mean(1))
    tail = out[:, 1001:].square()
    # energy 60 dB down after the RT60: compare 50 ms windows 0.1 s and 0.2 s after the click
    early, late = tail[:, 1600:2400].sum(1), tail[:, 3200:4000].sum(1)
    decay_db = 10 * torch.log10(early / late)
    assert ((decay_db > 14) & (decay_db < 26)).all()  # 60 dB * 0.1 s / 0.3 s = 20 dB
    direct, reverb = out[:, 1000].square(), tail.sum(1)
    assert ((10 * torch.log10(direct / reverb)).abs() < 1.0).all()  # the drawn 0 dB ratio


@pytest.mark.parametrize("length", [1626, 777, 8000])  # 1626 + 4000 - 1: an odd smooth FFT size
def test_room_works_for_any_clip_length(length):
    clicks = torch.zeros(3, length)
    clicks[:, 5] = 1.0
    config = AugmentConfig(drr_db_min=10.0, tilt_db_per_octave_max=0.0)  # the tilt is zero-phase: not causal
    out = room_response(clicks, config, RATE_HZ, torch.Generator().manual_seed(0))
    assert out.shape == clicks.shape and out[:, :5].abs().max() < 1e-4
    assert torch.equal(out.abs().argmax(1), torch.full((3,), 5))


def test_room_tilt_changes_the_spectral_balance(speech):
    flat = AugmentConfig(drr_db_min=60.0, drr_db_max=60.0, tilt_db_per_octave_max=0.0)
    tilted = AugmentConfig(drr_db_min=60.0, drr_db_max=60.0, tilt_db_per_octave_max=6.0)
    dry = room_response(speech, flat, RATE_HZ, torch.Generator().manual_seed(0))
    torch.testing.assert_close(dry, speech, atol=2e-3, rtol=0)  # no room, no tilt: unchanged
    out = room_response(speech.repeat(8, 1), tilted, RATE_HZ, torch.Generator().manual_seed(1))
    spectrum = torch.fft.rfft(out).abs().square()
    reference = torch.fft.rfft(speech.repeat(8, 1)).abs().square()
    high_over_low = spectrum[:, 4000:8000].sum(1) / spectrum[:, 200:1000].sum(1)
    ratio_db = 10 * torch.log10(high_over_low / (reference[:, 4000:8000].sum(1) / reference[:, 200:1000].sum(1)))
    assert ratio_db.abs().max() > 6 and ratio_db.std() > 3  # brighter and duller microphones


def test_gain_scales_whole_clips_within_range(speech):
    augment = WaveAugmenter(AugmentConfig(noise=False, shift=False, room=False, speed=False, gain_db_max=12.0), [], RATE_HZ)
    batch = speech.repeat(16, 1)
    out = augment(batch, torch.zeros(len(batch), dtype=torch.bool), torch.Generator().manual_seed(0))
    gain_db = 10 * torch.log10(out.square().mean(1) / batch.square().mean(1))
    assert gain_db.abs().max() <= 12.0 + 1e-3 and gain_db.std() > 3
    gain = torch.pow(10.0, gain_db / 20).unsqueeze(-1)
    torch.testing.assert_close(out, batch * gain, atol=1e-5, rtol=1e-4)  # one gain per clip, nothing else


def _peak_hz(wave: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[-1]))
    return float(spectrum.abs().argmax()) * RATE_HZ / wave.shape[-1]


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_moves_the_pitch_and_keeps_the_clip_length(speed):
    tone = 0.3 * torch.sin(2 * torch.pi * 500.0 * torch.arange(CLIP) / RATE_HZ)
    batch = torch.stack([tone, tone])
    fixed = AugmentConfig(noise=False, shift=False, room=False, gain=False, speed=True, speed_min=speed,
                          speed_max=speed)
    out = WaveAugmenter(fixed, [], RATE_HZ)(batch, torch.zeros(2, dtype=torch.bool), torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    assert _peak_hz(out[0]) == pytest.approx(500.0 * speed, abs=2.0)  # 500 Hz played 1.1x as fast: 550 Hz
    sped = SpeedChanger()(tone[: CLIP // 2], speed)  # a stream's word: it lasts 1 / speed as long
    assert sped.shape[-1] == sped_length(CLIP // 2, speed) == round(CLIP / 2 / speed)
    assert _peak_hz(sped) == pytest.approx(500.0 * speed, abs=4.0)


def _band_power(waves: torch.Tensor, low_hz: float, high_hz: float) -> torch.Tensor:
    spectrum = torch.fft.rfft(waves).abs().square()
    hz = torch.fft.rfftfreq(waves.shape[-1], 1 / RATE_HZ)
    return spectrum[..., (hz >= low_hz) & (hz < high_hz)].sum(-1)


def test_the_low_pass_keeps_the_band_below_its_cutoff_and_removes_the_band_above():
    t = torch.arange(CLIP) / RATE_HZ
    tones = torch.stack([torch.sin(2 * torch.pi * hz * t) for hz in (300.0, 3500.0, 4500.0, 7000.0)])
    out = LowPass(4000.0, RATE_HZ)(tones)
    assert out.shape == tones.shape
    middle = slice(1000, -1000)  # away from the clip's edges
    gain = (out[:, middle].square().mean(-1) / tones[:, middle].square().mean(-1)).sqrt()
    assert gain[:2].tolist() == pytest.approx([1.0, 1.0], abs=0.01)
    assert gain[2:].max() < 0.01
    torch.testing.assert_close(out[0, middle], tones[0, middle], atol=0.01, rtol=0)  # no delay
    with pytest.raises(ValueError, match="cutoff"):
        LowPass(9000.0, RATE_HZ)


def test_narrowband_clips_lose_their_upper_band_and_keep_the_rest(speech):
    clean = speech.repeat(8, 1)
    silence = torch.zeros(len(clean), dtype=torch.bool)
    narrow = AugmentConfig(noise=False, shift=False, room=False, gain=False, spec_augment=False, band_limit_prob=0.5)
    out = WaveAugmenter(narrow, [], RATE_HZ)(clean, silence, torch.Generator().manual_seed(0))
    upper = _band_power(out, 4300.0, 8000.0) / _band_power(clean, 4300.0, 8000.0)
    lower = _band_power(out, 100.0, 3700.0) / _band_power(clean, 100.0, 3700.0)
    limited = upper < 1e-3
    assert 4 <= int(limited.sum()) <= 28  # about half of the 32 clips
    torch.testing.assert_close(out[~limited], clean[~limited])  # the others as they were
    assert lower.tolist() == pytest.approx([1.0] * len(clean), abs=0.02)
    assert AugmentConfig(noise=False, shift=False, room=False, gain=False, speed=False,
                         band_limit_prob=0.5).wave_augmentation  # features cannot be cached
    with pytest.raises(ValueError, match="band_limit_prob"):
        AugmentConfig(band_limit_prob=1.5)


def test_without_recordings_generated_noise_is_used():
    augment = WaveAugmenter(AugmentConfig(shift=False), [], RATE_HZ)
    out = augment(torch.zeros(4, CLIP), torch.ones(4, dtype=torch.bool), torch.Generator().manual_seed(0))
    assert (out.std(dim=1) > 0).all()
    assert len(generated_noise(RATE_HZ, 2.0)) == 2


def test_noise_bank_stretches_come_from_the_recordings_and_short_ones_repeat():
    short = torch.arange(1.0, 101.0)  # shorter than a clip: repeated
    bank = NoiseBank([short], length=250)
    stretches, power = bank.sample_with_power(20, torch.Generator().manual_seed(0), torch.device("cpu"))
    for row in stretches:
        first = int(row[0]) - 1
        expected = short.roll(-first).repeat(3)[:250]
        assert torch.equal(row, expected)
    torch.testing.assert_close(power, stretches.square().mean(1))


def test_augmentation_is_deterministic_with_a_seeded_generator(speech, noise):
    augment = WaveAugmenter(AugmentConfig(), noise, RATE_HZ)
    batch = speech.repeat(8, 1).half()  # the cache stores float16
    is_silence = torch.zeros(len(batch), dtype=torch.bool)
    is_silence[::5] = True
    a = augment(batch, is_silence, torch.Generator().manual_seed(42))
    b = augment(batch, is_silence, torch.Generator().manual_seed(42))
    c = augment(batch, is_silence, torch.Generator().manual_seed(43))
    assert a.dtype == torch.float32 and torch.equal(a, b) and not torch.equal(a, c)
    frames = FeatureExtractor(FeatureConfig())(a)
    assert torch.equal(spec_augment(frames, AugmentConfig(), torch.Generator().manual_seed(7)),
                       spec_augment(frames, AugmentConfig(), torch.Generator().manual_seed(7)))


def test_all_switches_off_returns_the_input(speech, noise):
    config = AugmentConfig.off()
    assert not config.wave_augmentation
    out = WaveAugmenter(config, noise, RATE_HZ)(speech, torch.zeros(4, dtype=torch.bool), torch.Generator())
    assert torch.equal(out, speech)
    frames = torch.randn(4, 98, 40)
    assert torch.equal(spec_augment(frames, config, torch.Generator()), frames)


def test_spec_augment_masks_time_and_frequency_bands(speech):
    frames = FeatureExtractor(FeatureConfig())(speech.repeat(16, 1))
    config = AugmentConfig(time_masks=2, time_mask_frames=10, freq_masks=2, freq_mask_bins=5)
    fill = torch.full((frames.shape[-1],), 123.0)
    out = spec_augment(frames, config, torch.Generator().manual_seed(0), fill=fill)
    masked = out == 123.0
    time_masked = masked.all(dim=2)  # whole frames
    freq_masked = masked.all(dim=1)  # whole coefficients
    assert time_masked.sum(1).max() <= 20 and freq_masked.sum(1).max() <= 10
    assert time_masked.any() and freq_masked.any()
    assert torch.equal(masked, time_masked.unsqueeze(2) | freq_masked.unsqueeze(1))
    assert torch.equal(out[~masked], frames[~masked])
    default_fill = spec_augment(frames, config, torch.Generator().manual_seed(0))
    mean = frames.mean(dim=1, keepdim=True).expand_as(frames)
    assert torch.equal(default_fill[masked], mean[masked])


def test_only_time_or_only_frequency_masks():
    frames = torch.randn(8, 98, 40)
    only_time = spec_augment(frames, AugmentConfig(freq_masks=0), torch.Generator().manual_seed(0), fill=torch.zeros(40))
    changed = only_time != frames
    assert changed.any() and torch.equal(changed.any(dim=2).unsqueeze(2).expand_as(changed), changed)
    only_freq = spec_augment(frames, AugmentConfig(time_masks=0), torch.Generator().manual_seed(0), fill=torch.zeros(40))
    changed = only_freq != frames
    assert changed.any() and torch.equal(changed.any(dim=1).unsqueeze(1).expand_as(changed), changed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_batches_match_cpu_batches(speech, noise):
    augment = WaveAugmenter(AugmentConfig(), noise, RATE_HZ)
    is_silence = torch.tensor([False, True, False, False])
    cpu = augment(speech, is_silence, torch.Generator().manual_seed(5))
    gpu = augment(speech.cuda(), is_silence.cuda(), torch.Generator().manual_seed(5))
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=1e-4)
