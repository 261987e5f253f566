"""The bundled default model: what it is, what it records, and that it recognizes real digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datapaths import HELD_OUT_DIGITS, NOISE
from speechrnn.audio.io import load_audio, pad_or_crop
from speechrnn.checkpoint import load_model
from speechrnn.features import FeatureExtractor
from speechrnn.recognizer import DetectorConfig, Recognizer, default_model_path

# "small enough to load in well under a second": an ensemble of two networks is 2 MB and loads in ~10 ms
MAX_BYTES = 3_000_000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Clips of speakers the recipe holds out for testing (no build trains on them, a final build
# included): four Speech Commands speakers and FSDD's test speaker yweweler, as <word>/<clip>.
HELD_OUT = sorted(HELD_OUT_DIGITS.glob("*/*.wav"))

pytestmark = pytest.mark.skipif(not default_model_path().is_file(), reason="assets/default_model.pt not built")


@pytest.fixture(scope="module")
def bundled():
    return load_model(default_model_path())


def test_model_is_small_unidirectional_with_the_digit_vocabulary(bundled):
    model, ckpt = bundled
    assert default_model_path().stat().st_size <= MAX_BYTES
    assert not ckpt.model_config.bidirectional and ckpt.model_config.streamable
    assert sorted(ckpt.labels) == sorted(DIGITS + ["_silence_", "_unknown_"])
    assert not ckpt.extra  # no optimizer state shipped


def test_model_records_recipe_sources_licenses_and_metrics(bundled):
    _, ckpt = bundled
    assert ckpt.recipe == "digits"
    licenses = " ".join(ckpt.data["licenses"].values())
    assert "CC BY-SA 4.0" in licenses and "CC BY 4.0" in licenses
    assert {"fsdd", "speech_commands_sample"} <= set(ckpt.data["licenses"])
    test = ckpt.metrics["recipe"]["testing"]
    for condition in ("clean", "snr_10db"):
        assert {"fsdd", "speech_commands_sample"} <= set(test[condition])
        assert 0.0 <= test[condition]["fsdd"]["accuracy"] <= 1.0
    assert ckpt.data["held_out"]["speakers"]["fsdd"]["testing"]


def _clip(path, ckpt) -> np.ndarray:
    fc = ckpt.feature_config
    return pad_or_crop(load_audio(path, fc.sample_rate_hz), fc.clip_samples)


def test_recognizes_digits_of_speakers_it_never_heard(bundled):
    model, ckpt = bundled
    assert len(HELD_OUT) == 5
    truth = [path.parent.name for path in HELD_OUT]
    waves = torch.from_numpy(np.stack([_clip(p, ckpt) for p in HELD_OUT]))
    with torch.no_grad():
        logits, _ = model(FeatureExtractor(ckpt.feature_config)(waves))
    predicted = [ckpt.labels[i] for i in logits.argmax(dim=1).tolist()]
    assert sum(p == t for p, t in zip(predicted, truth)) >= 4, list(zip(truth, predicted))


def test_streaming_recognizer_detects_a_digit_in_noise(bundled):
    _, ckpt = bundled
    rate = ckpt.feature_config.sample_rate_hz
    noise = load_audio(NOISE / "running_tap_3s.wav", rate)
    word = _clip(HELD_OUT_DIGITS / "three" / "0a196374_nohash_0.wav", ckpt)
    stream = np.concatenate([noise[: rate], noise[rate : 2 * rate] * 0.3 + word, noise[2 * rate :]]).astype(np.float32)
    recognizer = Recognizer.from_checkpoint(default_model_path(), DetectorConfig())
    detections = [d for chunk in np.array_split(stream, 30) for d in recognizer.push(chunk)]
    assert [d.label for d in detections] == ["three"]
    assert 1.0 <= detections[0].time_s <= 3.0
