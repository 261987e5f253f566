"""Self-describing checkpoints: round trip, atomic save, clear errors."""

import dataclasses
import os
import stat
from pathlib import Path

import pytest
import torch

from speechrnn.checkpoint import Checkpoint, load_checkpoint, load_model, require_feature_config, save_checkpoint
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.model import ModelConfig, RNNClassifier


def _checkpoint(labels=("yes", "no", "_silence_")) -> Checkpoint:
    torch.manual_seed(1)
    model_config = ModelConfig(num_classes=len(labels), cell="lstm", hidden=16, layers=1)
    model = RNNClassifier(model_config)
    model.set_normalization(torch.arange(40.0), torch.full((40,), 2.0))
    return Checkpoint(
        model_config=model_config, feature_config=FeatureConfig(), labels=list(labels),
        state_dict=model.state_dict(), metrics={"validation_accuracy": 0.5},
        data={"sources": ["x"], "licenses": ["CC BY 4.0"]}, recipe="test",
    )


def test_round_trip_restores_everything(tmp_path):
    original = _checkpoint()
    path = save_checkpoint(original, tmp_path / "model.pt")
    model, loaded = load_model(path)
    assert loaded.labels == original.labels
    assert loaded.model_config == original.model_config
    assert loaded.feature_config == original.feature_config
    assert loaded.metrics == {"validation_accuracy": 0.5}
    assert loaded.data["licenses"] == ["CC BY 4.0"]
    assert loaded.recipe == "test" and loaded.package_version and loaded.created
    torch.testing.assert_close(model.feature_mean, torch.arange(40.0))
    frames = torch.randn(1, 5, 40)
    reference = RNNClassifier(original.model_config)
    reference.load_state_dict(original.state_dict)
    with torch.no_grad():
        torch.testing.assert_close(model(frames)[0], reference.eval()(frames)[0])
    summary = loaded.summary()
    assert summary["parameters"] == sum(p.numel() for p in model.parameters())
    assert "state_dict" not in summary


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = save_checkpoint(_checkpoint(), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_save(obj, target):
        Path(target).write_bytes(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(_checkpoint(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_saved_files_get_the_usual_permissions_not_private_temp_ones(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        import speechrnn.atomic

        importlib.reload(speechrnn.atomic)  # reads the umask at import
        from speechrnn.atomic import write_text_atomic

        path = save_checkpoint(_checkpoint(), tmp_path / "model.pt")
        text = write_text_atomic(tmp_path / "notes.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # others may read a shared model; mkstemp gives 0600
    assert stat.S_IMODE(text.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"this is not a checkpoint", "not a readable"), (None, "no such")],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = save_checkpoint(_checkpoint(), tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)


def test_foreign_torch_file_and_mismatches_are_rejected(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        load_checkpoint(foreign)

    raw = _checkpoint().to_dict()
    raw["labels"] = ["a", "b"]
    torch.save(raw, tmp_path / "labels.pt")
    with pytest.raises(CheckpointError, match="2 labels"):
        load_checkpoint(tmp_path / "labels.pt")

    raw = _checkpoint().to_dict()
    raw["format_version"] = 99
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "future.pt")

    raw = _checkpoint().to_dict()
    raw["state_dict"].pop("head.weight")
    torch.save(raw, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_checkpoint(tmp_path / "weights.pt").build_model()


def test_feature_config_mismatch_is_named(tmp_path):
    loaded = load_checkpoint(save_checkpoint(_checkpoint(), tmp_path / "m.pt"))
    require_feature_config(loaded, FeatureConfig(), "the data")
    other = dataclasses.replace(FeatureConfig(), n_mfcc=13)
    with pytest.raises(CheckpointError, match="n_mfcc=40 vs 13"):
        require_feature_config(loaded, other, "the data")
