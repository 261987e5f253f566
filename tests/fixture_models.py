"""Make the fixture models the tests use, once: ``python tests/fixture_models.py`` (about 3 min).

The checkpoints are committed (``tests/data/models/``, tens of KB each) so that no test depends on
how a model happens to train on the CPU at hand: an AMD CPU trains in float32, an Intel CPU with
AMX in bfloat16, and a model trained at test time differed between the two (issue 11). Running a
committed model is the same everywhere to float rounding. Rerun this script when the checkpoint
format or the feature front end changes.

* ``word_model.pt`` -- a clip-trained 2x64 GRU: ``_silence_`` + the six words of
  tests/data/speech_commands, each word placed anywhere in a 1 s clip over test noise;
* ``stream_word_model.pt`` -- a stream-trained 2x64 GRU on the same clips and noise, trained by the
  library's own :func:`speechrnn.training.train` (``objective="stream"``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datapaths import NOISE, SPEECH_COMMANDS, STREAM_WORD_MODEL, WORD_MODEL  # noqa: E402

WORD_MODEL_WORDS = ("yes", "no", "one", "two", "three", "nine")  # the folders of tests/data/speech_commands
WORD_MODEL_STEPS = 400  # enough for a tiny GRU to know 12 clips in noise (seconds of CPU)
WORD_SHARE = 0.7  # of training examples; the rest is noise only ...
PARTIAL_WORD_SHARE = 0.2  # ... or part of a word (its start or its end), labelled _silence_
STREAM_EPOCHS = 300  # one step per epoch with 12 clips: 300 steps of 16 lanes x 3 s
STREAM_LANES = 16


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


def train_stream_word_model(out: Path, seed: int = 0) -> Path:
    """Stream-train a 2x64 GRU on the test clips with :func:`speechrnn.training.train`; copy best.pt to ``out``."""
    import shutil

    from speechrnn.data.augment import AugmentConfig
    from speechrnn.data.spec import DataSpec
    from speechrnn.events import run_to_end
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig
    from speechrnn.training import TrainConfig, train

    data = DataSpec(sources=(str(SPEECH_COMMANDS),), words=WORD_MODEL_WORDS, include_silence=True,
                    include_unknown=False, validation_pct=0.0, testing_pct=0.0, noise_dirs=(str(NOISE),), seed=seed)
    model = ModelConfig(num_classes=2, hidden=64, layers=2, dropout=0.0)
    config = TrainConfig(epochs=STREAM_EPOCHS, batch_size=STREAM_LANES, min_steps=0, seed=seed, objective="stream",
                         precision="float32", warmup_epochs=10)
    with tempfile.TemporaryDirectory() as work:
        result = run_to_end(train(data, FeatureConfig(), model, AugmentConfig(), config, Path(work) / "run"))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.last_path if not result.best_path.is_file() else result.best_path, out)
    return out


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    WORD_MODEL.parent.mkdir(parents=True, exist_ok=True)
    print(train_word_model(WORD_MODEL))
    print(train_stream_word_model(STREAM_WORD_MODEL))
