"""Ensembles (``speechrnn ensemble``): several stream-trained networks heard as one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from datapaths import SPEECH_COMMANDS
from speechrnn.checkpoint import Checkpoint, combine_checkpoints, load_checkpoint, save_checkpoint
from speechrnn.cli.main import main as cli
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.model import ModelConfig, RNNClassifier
from speechrnn.recognizer import DetectorConfig, Recognizer, softmax
from test_export import check_graphs

PUSH_SIZES = (160, 1600, 4000)  # samples per push: 10 ms, 100 ms, 250 ms at 16 kHz


def stream_checkpoint(path: Path, seed: int, hidden: int, labels=("_silence_", "a", "b", "c")) -> Path:
    """A random stream-trained network (background class 0) with input normalisation."""
    torch.manual_seed(seed)
    config = ModelConfig(num_classes=len(labels), hidden=hidden, layers=2, pooling="last", objective="stream",
                         background_class=0)
    model = RNNClassifier(config).eval()
    model.set_normalization(torch.randn(40) * 5, torch.rand(40) * 3 + 0.5)
    return save_checkpoint(Checkpoint(model.config, FeatureConfig(), list(labels), model.state_dict()), path)


def perturbed_copy(path: Path, out: Path, seed: int = 1, scale: float = 0.05) -> Path:
    """The network of ``path`` with seeded noise on every weight: another network of the same words."""
    checkpoint = load_checkpoint(path)
    generator = torch.Generator().manual_seed(seed)
    weights = {name: (value + scale * torch.randn(value.shape, generator=generator) * value.std()
                      if value.is_floating_point() and not name.startswith("feature_") and value.numel() > 1
                      else value)
               for name, value in checkpoint.state_dict.items()}
    return save_checkpoint(dataclasses.replace(checkpoint, state_dict=weights, path=None), out)


def words_stream() -> np.ndarray:
    """Real clips of the test folders, one after another with silence between: 16 kHz samples."""
    from speechrnn.audio.io import load_audio

    clips = [load_audio(sorted((SPEECH_COMMANDS / word).glob("*.wav"))[0], 16000) for word in ("yes", "no", "nine")]
    gap = np.zeros(8000, dtype=np.float32)
    return np.concatenate([part for clip in clips for part in (gap, clip.astype(np.float32))] + [gap])


def raw_posteriors(path: Path, audio: np.ndarray, push: int, engine: str = "torch") -> tuple[np.ndarray, list]:
    recognizer = Recognizer.from_checkpoint(path, DetectorConfig(engine=engine))
    detections = []
    for start in range(0, len(audio), push):
        detections += recognizer.push(audio[start : start + push])
    detections += recognizer.flush()
    return recognizer.raw_history(recognizer.frames_seen), [(d.label, round(d.time_s, 2)) for d in detections]


def test_an_ensemble_hears_the_normalised_geometric_mean_of_its_networks(stream_word_model, tmp_path):
    other = perturbed_copy(stream_word_model, tmp_path / "other.pt")
    assert cli(["ensemble", str(stream_word_model), str(other), "--out", str(tmp_path / "both.pt")]) == 0
    audio = words_stream()
    first, _ = raw_posteriors(stream_word_model, audio, 1600)
    second, _ = raw_posteriors(other, audio, 1600)
    assert np.abs(first - second).max() > 0.01  # two networks that differ
    want = softmax((np.log(first) + np.log(second)) / 2)
    got, detections = raw_posteriors(tmp_path / "both.pt", audio, 1600)
    assert np.abs(got - want).max() < 1e-4
    assert [label for label, _ in detections] == ["yes", "no", "nine"]
    for push in PUSH_SIZES:  # the same posteriors and detections whatever the chunk size and engine
        for engine in ("torch", "onnx"):
            posteriors, found = raw_posteriors(tmp_path / "both.pt", audio, push, engine)
            assert np.abs(posteriors - got).max() < 1e-4 and found == detections


def test_a_saved_ensemble_says_what_it_is_and_starts_custom_words_from_its_first_network(
        stream_word_model, tmp_path, capsys):
    other = perturbed_copy(stream_word_model, tmp_path / "other.pt")
    path = save_checkpoint(combine_checkpoints([stream_word_model, other]), tmp_path / "both.pt")
    loaded = load_checkpoint(path)
    assert len(loaded.members) == 1 and loaded.members[0]["about"]["path"] == str(other)
    first = load_checkpoint(stream_word_model)
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in first.state_dict.items())
    assert loaded.summary()["parameters"] == 2 * first.summary()["parameters"]
    capsys.readouterr()
    assert cli(["info", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "ensemble of 2 networks" in shown and f"network 2: {other}" in shown
    # an ensemble of an ensemble is the flat list of networks
    three = combine_checkpoints([path, perturbed_copy(stream_word_model, tmp_path / "third.pt", seed=2)])
    assert len(three.members) == 2
    # its gradient curve (the Models panel, speechrnn gradients) runs through both networks, named so
    from speechrnn.gradients import checkpoint_curve

    both = checkpoint_curve(path, SPEECH_COMMANDS, max_clips=4)
    alone = checkpoint_curve(stream_word_model, SPEECH_COMMANDS, max_clips=4)
    assert both.name.startswith(f"{loaded.architecture()} (") and " + " in both.name and " + " not in alone.name
    assert not np.allclose(both.relative, alone.relative)


def test_one_network_of_an_ensemble_comes_out_as_the_model_it_was(stream_word_model, tmp_path, capsys):
    """``speechrnn ensemble MODEL --network N``: what a final build retrains, network by network."""
    other = perturbed_copy(stream_word_model, tmp_path / "other.pt")
    both = save_checkpoint(combine_checkpoints([stream_word_model, other]), tmp_path / "both.pt")
    audio = words_stream()
    for number, original in ((1, stream_word_model), (2, other)):
        out = tmp_path / f"network{number}.pt"
        assert cli(["ensemble", str(both), "--network", str(number), "--out", str(out)]) == 0
        alone, was = load_checkpoint(out), load_checkpoint(original)
        assert not alone.members and alone.labels == was.labels and alone.model_config == was.model_config
        assert alone.state_dict.keys() == was.state_dict.keys()
        assert all(torch.equal(alone.state_dict[k], v) for k, v in was.state_dict.items())
        assert alone.train_config == was.train_config and "ensemble" not in alone.data
        posteriors, detections = raw_posteriors(out, audio, 1600)
        expected, expected_detections = raw_posteriors(original, audio, 1600)
        np.testing.assert_array_equal(posteriors, expected)
        assert detections == expected_detections
    capsys.readouterr()
    assert cli(["ensemble", str(both), "--network", "3", "--out", str(tmp_path / "x.pt")]) == 2
    assert capsys.readouterr().err.strip() == f"speechrnn ensemble: error: {both}: has 2 networks, not a network 3"
    assert cli(["ensemble", str(both), str(other), "--network", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--network takes one ensemble" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_networks_that_cannot_be_averaged_are_refused_in_one_line(stream_word_model, word_model, tmp_path, capsys):
    other_words = stream_checkpoint(tmp_path / "other_words.pt", 0, 16, labels=("_silence_", "up", "down", "go"))
    cases = [
        ([stream_word_model], "at least two models"),
        ([stream_word_model, word_model], "not stream-trained"),  # the same words, clip-trained
        ([stream_word_model, other_words], "labels"),
    ]
    for paths, reason in cases:
        with pytest.raises(CheckpointError, match=reason):
            combine_checkpoints(paths)
    capsys.readouterr()
    assert cli(["ensemble", str(stream_word_model), str(word_model), "--out", str(tmp_path / "x.pt")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "not stream-trained" in error
    assert not (tmp_path / "x.pt").exists()


def test_an_ensemble_exports_as_one_graph_that_matches_pytorch(tmp_path):
    ensemble = combine_checkpoints([stream_checkpoint(tmp_path / "a.pt", 0, 16, labels=("a", "b", "c", "d")),
                                    stream_checkpoint(tmp_path / "b.pt", 1, 24, labels=("a", "b", "c", "d"))])
    path = save_checkpoint(ensemble, tmp_path / "both.pt")
    check_graphs(path, tmp_path)
    from speechrnn.export import onnx_metadata

    state = [s["name"] for s in onnx_metadata(tmp_path / "export" / "both.stream.onnx")["state"]]
    assert state == ["net1_h", "net2_h"]
