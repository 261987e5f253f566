"""Shared fixtures: the virtual microphone and a tiny model that knows the test clips' words.

Virtual-microphone tests skip with a visible reason where PulseAudio cannot start; in CI
(``CI=true``) they fail instead, so the real audio path is always exercised there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from datapaths import NOISE, SPEECH_COMMANDS
from virtual_mic import VirtualMic, VirtualMicUnavailable

WORD_MODEL_WORDS = ("yes", "no", "one", "two", "three", "nine")  # the folders of tests/data/speech_commands
WORD_MODEL_STEPS = 400  # enough for a tiny GRU to know 12 clips in noise (seconds of CPU)
WORD_SHARE = 0.7  # of training examples; the rest is noise only ...
PARTIAL_WORD_SHARE = 0.2  # ... or part of a word (its start or its end), labelled _silence_


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def audio_unavailable(reason: str) -> None:
    """Skip (visible reason), or fail in CI where the audio path must be tested."""
    if in_ci():
        pytest.fail(f"virtual microphone needed in CI but unavailable: {reason}")
    pytest.skip(f"virtual microphone unavailable: {reason}")


@pytest.fixture(scope="session")
def virtual_mic():
    """A running private PulseAudio microphone; pass ``virtual_mic.env()`` to subprocesses."""
    mic = VirtualMic()
    try:
        mic.start()
    except VirtualMicUnavailable as exc:
        audio_unavailable(str(exc))
    try:
        yield mic
    finally:
        mic.stop()


def _word_clips(sample_rate_hz: int, clip_samples: int):
    from speechrnn.audio.io import load_audio
    from speechrnn.record import trim_to_speech

    words = []
    for index, word in enumerate(WORD_MODEL_WORDS, start=1):
        for path in sorted((SPEECH_COMMANDS / word).glob("*.wav")):
            speech, _, _ = trim_to_speech(load_audio(path, sample_rate_hz), sample_rate_hz)
            words.append((index, speech[:clip_samples]))
    return words


def train_word_model(out: Path, seed: int = 0) -> Path:
    """Train a small GRU on the test clips (with random placement and noise); save a checkpoint.

    Labels: ``_silence_`` + the six words. Each example puts a word's speech at a random place in
    a 1 s clip - its end anywhere from 50 ms to 600 ms before the clip's end, as a live stream
    shows it - over test noise at a random level. Parts of words count as ``_silence_``: while a
    word is being spoken the recognizer sees its start, and a lane restarted in the middle of a
    word sees its end; neither must fire.
    """
    import torch

    from speechrnn.audio.io import load_audio
    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig, FeatureExtractor
    from speechrnn.model import ModelConfig, RNNClassifier

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    features = FeatureConfig()
    rate, clip = features.sample_rate_hz, features.clip_samples
    words = _word_clips(rate, clip)
    noise = np.concatenate([load_audio(p, rate) for p in sorted(NOISE.glob("*.wav"))])
    labels = ["_silence_", *WORD_MODEL_WORDS]
    extractor = FeatureExtractor(features)
    model = RNNClassifier(ModelConfig(num_classes=len(labels), hidden=64, layers=2, dropout=0.0))

    def batch(size: int = 64):
        waves = np.zeros((size, clip), dtype=np.float32)
        targets = np.zeros(size, dtype=np.int64)
        for row in range(size):
            start = rng.integers(noise.size - clip)
            waves[row] = noise[start : start + clip] * rng.uniform(0.0, 0.3)
            kind = rng.random()
            if kind < PARTIAL_WORD_SHARE:
                # a word cut off: its start (the clip ends while it is spoken) or its end (a lane
                # restarted while it was spoken) - no word yet, or no longer
                _, speech = words[rng.integers(len(words))]
                cut = round(speech.size * rng.uniform(0.3, 0.7))
                speech = speech[:cut] if rng.random() < 0.5 else speech[cut:]
                end = clip - rng.integers(0, round(0.6 * rate))
                waves[row, end - speech.size : end] += speech * rng.uniform(0.5, 1.5)
            elif kind < PARTIAL_WORD_SHARE + WORD_SHARE:
                target, speech = words[rng.integers(len(words))]
                end = clip - rng.integers(round(0.05 * rate), round(0.6 * rate))
                begin = max(0, end - speech.size)
                waves[row, begin:end] += speech[speech.size - (end - begin) :] * rng.uniform(0.5, 1.5)
                targets[row] = target
        return torch.from_numpy(waves), torch.from_numpy(targets)

    with torch.no_grad():
        frames = extractor(batch(128)[0])
        model.set_normalization(frames.mean((0, 1)), frames.std((0, 1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(WORD_MODEL_STEPS):
        waves, targets = batch()
        with torch.no_grad():
            frames = extractor(waves)
        logits, _ = model(frames)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    checkpoint = Checkpoint(model_config=model.config, feature_config=features, labels=labels,
                            state_dict=model.state_dict(), recipe="tests/conftest.py train_word_model")
    return save_checkpoint(checkpoint, out)


@pytest.fixture(scope="session")
def word_model(tmp_path_factory) -> Path:
    """Checkpoint of a tiny GRU that recognizes the words of tests/data/speech_commands."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_word_model(tmp_path_factory.mktemp("word_model") / "word_model.pt")
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """Checkpoint of an untrained GRU (for tests that need any valid model, not a good one)."""
    import torch

    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, RNNClassifier

    torch.manual_seed(0)
    labels = ["_silence_", "_unknown_", "yes", "no"]
    model = RNNClassifier(ModelConfig(num_classes=len(labels), hidden=32)).eval()
    checkpoint = Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=labels,
                            state_dict=model.state_dict())
    return save_checkpoint(checkpoint, tmp_path_factory.mktemp("random_model") / "random.pt")


@pytest.fixture(scope="session", autouse=True)
def _kernel_choices_in_tmp(tmp_path_factory):
    """Training's GRU kernel verdicts go to a file of this test session, not the user's cache folder."""
    from speechrnn.training import rnn_kernel

    path = tmp_path_factory.mktemp("kernel_choices") / rnn_kernel.CHOICES_FILE_NAME
    original = rnn_kernel.default_choices
    rnn_kernel.default_choices = lambda: rnn_kernel.KernelChoices(path)
    try:
        yield path
    finally:
        rnn_kernel.default_choices = original
