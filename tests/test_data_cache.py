"""Waveform and feature caches: decode once, reuse, never leave a half-written cache behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import speechrnn.data.cache as cache
from speechrnn.data.cache import cached_features, estimate_peak_ram_bytes, prepare_data
from speechrnn.data.spec import DataSpec
from speechrnn.errors import DataError
from speechrnn.events import CancelToken, Cancelled, Progress, Stage, run_to_end
from speechrnn.features import FeatureConfig, FeatureExtractor
from test_data_layout import FEATURES, make_dataset, prepared, tone, write_tone


def no_decoding(*_args, **_kwargs):
    raise AssertionError("audio was decoded although the cache should have been used")


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "data", ("yes", "no", "up"), speakers=12, noise=True)


def cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_second_prepare_decodes_nothing_and_returns_identical_arrays(dataset, tmp_path, monkeypatch):
    spec = DataSpec((str(dataset),), task=None, include_silence=True)
    first_events = list(prepare_data(spec, FEATURES, tmp_path / "cache"))
    assert any(isinstance(e, Stage) and e.name == "decode" for e in first_events)
    assert any(isinstance(e, Progress) and e.stage == "decode" for e in first_events)
    first = first_events[-1].result

    monkeypatch.setattr(cache, "load_audio", no_decoding)
    second_events = list(prepare_data(spec, FEATURES, tmp_path / "cache"))
    assert not any(isinstance(e, Stage) and e.name == "decode" for e in second_events)
    second = second_events[-1].result
    assert first.labels == second.labels
    for split in ("train", "validation", "testing"):
        a, b = first.split(split), second.split(split)
        assert torch.equal(a.waves, b.waves) and torch.equal(a.targets, b.targets)
        assert a.clips == b.clips and a.fingerprint == b.fingerprint
    assert len(first.noise) == len(second.noise) == 1
    assert torch.equal(first.noise[0], second.noise[0])


def test_cached_waves_are_the_decoded_padded_clips(dataset, tmp_path):
    data = prepared(DataSpec((str(dataset),)), tmp_path / "cache")
    clip = data.train.clips[0]
    expected = np.zeros(FEATURES.clip_samples, dtype=np.float32)
    samples = tone(200 + 50 * ("yes", "no", "up").index(clip.label))
    start = (FEATURES.clip_samples - samples.size) // 2
    expected[start : start + samples.size] = samples
    assert data.train.waves.dtype == torch.float16
    np.testing.assert_allclose(data.train.waves[0].float().numpy(), expected, atol=2e-3)


def test_a_changed_file_invalidates_only_its_source(dataset, tmp_path, monkeypatch):
    other = make_dataset(tmp_path / "other", ("yes", "no"), speakers=4, speaker_prefix="oth")
    spec = DataSpec((str(dataset), str(other)))
    prepared(spec, tmp_path / "cache")
    write_tone(other / "yes" / "oth000_nohash_0.wav", 900)  # new content, new size/mtime
    decoded = []
    original = cache.load_audio
    monkeypatch.setattr(cache, "load_audio", lambda path, rate: decoded.append(Path(path)) or original(path, rate))
    prepared(spec, tmp_path / "cache")
    assert decoded and all(p.is_relative_to(other) for p in decoded)


def test_skipped_files_are_remembered_without_decoding_again(dataset, tmp_path, monkeypatch):
    (dataset / "yes" / "broken_nohash_0.wav").write_bytes(b"not a wav at all")
    first = prepared(DataSpec((str(dataset),)), tmp_path / "cache")
    monkeypatch.setattr(cache, "load_audio", no_decoding)
    second = prepared(DataSpec((str(dataset),)), tmp_path / "cache")
    assert [Path(p).name for p, _ in first.skipped] == ["broken_nohash_0.wav"]
    assert first.skipped == second.skipped


def test_evaluation_silence_is_repeatable(dataset, tmp_path):
    spec = DataSpec((str(dataset),), words=("yes", "no"), validation_pct=30, testing_pct=30)
    a = prepared(spec, tmp_path / "cache_a")
    b = prepared(spec, tmp_path / "cache_b")
    assert int(a.validation.is_silence.sum()) > 0
    assert torch.equal(a.validation.waves, b.validation.waves)
    assert torch.equal(a.testing.waves, b.testing.waves)


def test_cancelling_while_decoding_leaves_no_cache(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "DECODE_CHUNK_CLIPS", 4)
    token = CancelToken()
    events = prepare_data(DataSpec((str(dataset),)), FEATURES, tmp_path / "cache", cancel=token)
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, Progress) and event.stage == "decode":
                assert event.done < event.total
                token.cancel()
    assert not [n for n in cache_files(tmp_path / "cache") if n.startswith("waves")]


def test_disk_full_while_caching_is_a_one_line_error_and_leaves_nothing(dataset, tmp_path, monkeypatch):
    def full_disk(self, rows):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache._ArrayWriter, "write", full_disk)
    with pytest.raises(DataError) as error:
        prepared(DataSpec((str(dataset),)), tmp_path / "cache")
    message = str(error.value)
    assert "No space left on device" in message and "\n" not in message
    assert cache_files(tmp_path / "cache") == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_cache_folder_is_a_one_line_error(dataset, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(DataError, match="cannot write the cache"):
            prepared(DataSpec((str(dataset),)), locked / "cache")
    finally:
        locked.chmod(0o700)


def test_cache_folder_that_cannot_be_created_is_a_one_line_error(dataset, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should go")
    with pytest.raises(DataError) as error:
        prepared(DataSpec((str(dataset),)), blocker / "cache")
    assert "cannot write the cache" in str(error.value) and "\n" not in str(error.value)
    assert blocker.read_text() == "a file where the cache folder should go"


def test_a_truncated_cache_file_is_rebuilt(dataset, tmp_path):
    spec = DataSpec((str(dataset),))
    first = prepared(spec, tmp_path / "cache")
    wave_file = next((tmp_path / "cache").glob("waves-*.npy"))
    wave_file.write_bytes(wave_file.read_bytes()[:1000])
    second = prepared(spec, tmp_path / "cache")
    assert torch.equal(first.train.waves, second.train.waves)


def test_feature_cache_computes_once_per_clips_and_config(dataset, tmp_path, monkeypatch):
    data = prepared(DataSpec((str(dataset),)), tmp_path / "cache")
    extractor = FeatureExtractor(FEATURES)
    features = cached_features(data.train, extractor, tmp_path / "cache")
    expected = extractor(data.train.waves.float())
    assert features.dtype == torch.float16 and features.shape == expected.shape
    torch.testing.assert_close(features.float(), expected, atol=0.05, rtol=2e-3)

    monkeypatch.setattr(extractor, "forward", no_decoding)
    again = cached_features(data.train, extractor, tmp_path / "cache")
    assert torch.equal(features, again)

    logmel = FeatureExtractor(FeatureConfig(kind="logmel", n_mels=32))
    other = cached_features(data.train, logmel, tmp_path / "cache")
    assert other.shape[-1] == 32
    assert len(list((tmp_path / "cache").glob("features-*.npy"))) == 2


def test_feature_cache_without_fingerprint_hashes_the_waves(tmp_path):
    waves = torch.from_numpy(np.stack([tone(300, 1.0), tone(500, 1.0)])).half()
    clips = cache.ClipSet(waves, torch.tensor([0, 1]), [None, None])
    extractor = FeatureExtractor(FEATURES)
    first = cached_features(clips, extractor, tmp_path)
    clips.waves = waves.flip(0)
    second = cached_features(clips, extractor, tmp_path)
    assert torch.equal(first.flip(0), second)


def test_peak_ram_estimate_for_speech_commands_v2_fits_24_gb():
    peak = estimate_peak_ram_bytes(cache.SPEECH_COMMANDS_V2_CLIPS, FEATURES.clip_samples)
    assert 3.9e9 < peak < 4.5e9  # one float16 copy of 105,829 one-second clips + interpreter
