"""Training and scoring on a CUDA GPU: what a user with a GPU gets by default (``--device auto``).

Skipped without CUDA (CI has none); run on a GPU machine with ``python -m bench.cuda_check``, which
also times training there. A model trained on the GPU must learn as on the CPU, record what it
trained in, and run where the app runs it: on a CPU, as the live recognizer does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datapaths import SPEECH_COMMANDS, WORD_MODEL
from test_train import EPOCHS_TO_LEARN, FEATURES, TINY_MODEL, TINY_TRAIN, WORD_TONES_HZ, make_tone_dataset, spec_of

from speechrnn.checkpoint import load_checkpoint, load_model
from speechrnn.data.augment import AugmentConfig
from speechrnn.events import EpochEnd, Finished, Message
from speechrnn.evaluate import evaluate
from speechrnn.model import ModelConfig
from speechrnn.training import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_tone_dataset(tmp_path_factory.mktemp("tones") / "data")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def result_of(events):
    assert isinstance(events[-1], Finished)
    return events[-1].result


def train_on(device: str, objective: str, precision: str, tones, cache, out, epochs: int = EPOCHS_TO_LEARN):
    config = TrainConfig(epochs=epochs, **{**TINY_TRAIN, "objective": objective, "precision": precision,
                                           "device": device})
    model = ModelConfig(num_classes=len(WORD_TONES_HZ), **TINY_MODEL)
    spec = spec_of(tones, include_silence=objective == "stream")  # the stream objective's background class
    events = list(train(spec, FEATURES, model, AugmentConfig(), config, out, cache_dir=cache))
    return events, result_of(events)


@pytest.mark.slow
@pytest.mark.parametrize(("objective", "precision"), [("clip", "float32"), ("stream", "float32"),
                                                      ("stream", "bfloat16")])
def test_a_model_trained_on_the_gpu_learns_and_runs_on_a_cpu(objective, precision, tones, cache, tmp_path):
    events, result = train_on("auto", objective, precision, tones, cache, tmp_path / "run")
    said = [e.text for e in events if isinstance(e, Message)]
    assert any(f" ({torch.cuda.get_device_name(0)}, {precision})" in text and "on cuda" in text for text in said), said
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert epochs[-1].metrics["train_loss"] < epochs[0].metrics["train_loss"]
    assert result.metrics["best_val_acc"] >= 0.6  # chance: 1 in 4 words (1 in 5 with _silence_)
    best = load_checkpoint(result.best_path)
    assert best.train_config["train"]["device"] == "auto" and best.train_config["train"]["precision"] == precision
    assert all(t.device.type == "cpu" for t in best.state_dict.values())  # a checkpoint opens without a GPU

    # the CPU scores its test split as the GPU did at the end of training
    spec = spec_of(tones, include_silence=objective == "stream")
    cpu = result_of(list(evaluate(result.best_path, spec, split="testing", device="cpu", cache_dir=cache)))
    assert cpu.clips == result.metrics["test_clips"]
    assert abs(cpu.accuracy - result.metrics["test_accuracy"]) <= 1.5 / cpu.clips

    model, _ = load_model(result.best_path)  # the network as the recognizer builds it, on the CPU
    assert next(model.parameters()).device.type == "cpu"


def test_the_gpu_scores_real_clips_as_the_cpu_does(cache):
    runs = {device: result_of(list(evaluate(WORD_MODEL, SPEECH_COMMANDS, split="all", device=device,
                                            cache_dir=cache)))
            for device in ("cpu", "cuda")}
    assert runs["cuda"].clips == runs["cpu"].clips > 0
    assert runs["cuda"].confusion == runs["cpu"].confusion
    cpu_scores = np.array([w[3] for w in runs["cpu"].wrong])
    gpu_scores = np.array([w[3] for w in runs["cuda"].wrong])
    np.testing.assert_allclose(gpu_scores, cpu_scores, atol=1e-3)


def test_the_same_seed_on_the_gpu_gives_the_same_first_epoch(tones, cache, tmp_path):
    losses = []
    for run in ("a", "b"):
        events, _ = train_on("cuda", "clip", "float32", tones, cache, tmp_path / run, epochs=1)
        losses.append([e.metrics["train_loss"] for e in events if isinstance(e, EpochEnd)][0])
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
