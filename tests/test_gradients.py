"""The vanishing-gradient measurement: curve shape, a property that truly holds, and the command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from datapaths import SPEECH_COMMANDS
from speechrnn.checkpoint import Checkpoint, save_checkpoint
from speechrnn.features import FeatureConfig
from speechrnn.gradients import GradientCurve, gradient_by_distance, gradient_curve, load_clips
from speechrnn.model import ModelConfig, RNNClassifier

FRAMES = 60
FEATURES = 8


def _model(cell: str, hidden: int = 16, num_classes: int = 3, input_dim: int = FEATURES) -> RNNClassifier:
    torch.manual_seed(0)
    return RNNClassifier(ModelConfig(num_classes=num_classes, input_dim=input_dim, cell=cell, hidden=hidden, layers=1, pooling="last"))


def _frames(batch: int = 4) -> torch.Tensor:
    return torch.randn(batch, FRAMES, FEATURES, generator=torch.Generator().manual_seed(1))


def test_one_value_per_frame_nonzero_at_the_output_and_model_untouched():
    model = _model("gru").train()
    curve = gradient_by_distance(model, _frames(), torch.tensor([0, 1, 2, 0]))
    assert curve.shape == (FRAMES,)
    assert np.all(np.isfinite(curve)) and np.all(curve >= 0)
    assert curve[0] > 0
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the weights


@pytest.fixture
def denormals_kept():
    """Training flushes denormal floats for the whole process (speechrnn.training.runtime); exact
    gradient ratios far down the vanishing tail need them, whatever ran before in this process."""
    torch.set_flush_denormal(False)
    yield


def test_gradient_scales_linearly_with_the_output_layer(denormals_kept):
    """The logit is linear in the head's weights, so scaling them scales every frame's gradient."""
    model = _model("rnn")
    frames = _frames()
    a = gradient_by_distance(model, frames, torch.zeros(4, dtype=torch.long))
    # scale the weights of the output class: every gradient scales exactly by the same factor
    with torch.no_grad():
        model.head.weight.mul_(3.0)
        model.head.bias.mul_(3.0)
    b = gradient_by_distance(model, frames, torch.zeros(4, dtype=torch.long))
    np.testing.assert_allclose(b, 3.0 * a, rtol=1e-3)


def test_a_stream_trained_model_has_a_gradient_curve_too():
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(num_classes=3, input_dim=FEATURES, hidden=16, layers=1, pooling="last",
                                      objective="stream", background_class=0))
    curve = gradient_by_distance(model, _frames(), torch.ones(4, dtype=torch.long))
    assert curve.shape == (_frames().shape[1],) and np.isfinite(curve).all() and curve.max() > 0


def test_vanilla_rnn_with_small_weights_forgets_faster_than_lstm_with_forget_bias():
    rnn = _model("rnn")
    lstm = _model("lstm")
    with torch.no_grad():
        for name, p in rnn.rnn.named_parameters():
            if name.startswith("weight_hh"):
                p.uniform_(-0.1, 0.1)  # spectral norm well below 1: the gradient must shrink geometrically
        hidden = lstm.config.hidden
        lstm.rnn.bias_hh_l0[hidden : 2 * hidden].fill_(5.0)  # forget gate ~ sigmoid(5) = 0.993
    frames = _frames()
    rel_rnn = gradient_by_distance(rnn, frames)
    rel_lstm = gradient_by_distance(lstm, frames)
    rel_rnn, rel_lstm = rel_rnn / rel_rnn[0], rel_lstm / rel_lstm[0]
    distance = 40
    assert rel_rnn[distance] < 1e-6
    assert rel_lstm[distance] > 1e3 * rel_rnn[distance]
    curve_rnn = GradientCurve("rnn", rel_rnn, 10.0, 4)
    curve_lstm = GradientCurve("lstm", rel_lstm, 10.0, 4)
    assert curve_rnn.reach_frames() is not None
    assert curve_lstm.reach_frames() is None or curve_lstm.reach_frames() > curve_rnn.reach_frames()


def test_curve_from_real_clips_uses_the_folder_labels():
    config = FeatureConfig()
    labels = ["yes", "no", "nine"]
    model = _model("gru", num_classes=3, input_dim=config.feature_dim)
    waves, targets, skipped = load_clips(SPEECH_COMMANDS, labels, config, max_clips=100)
    assert skipped == []
    assert waves.shape[1] == config.clip_samples
    known = {0, 1, 2}
    assert set(targets.tolist()) == known | {-1}  # one, two, three are not model labels
    curve = gradient_curve(model, config, waves, targets)
    assert curve.magnitude.shape == (config.clip_frames,)
    assert curve.clips == waves.shape[0] and curve.info["cell"] == "gru"


@pytest.mark.parametrize("cells", [("rnn", "lstm", "gru")])
def test_command_plots_and_writes_json_for_several_models(tmp_path, cells):
    config = FeatureConfig()
    paths = []
    for cell in cells:
        model = _model(cell, num_classes=2, input_dim=config.feature_dim)
        ckpt = Checkpoint(model_config=model.config, feature_config=config, labels=["yes", "no"],
                          state_dict=model.state_dict())
        paths.append(str(save_checkpoint(ckpt, tmp_path / cell / "best.pt")))
    out, js = tmp_path / "g.png", tmp_path / "g.json"
    done = subprocess.run(
        [sys.executable, "-m", "speechrnn", "gradients", *paths, "--data", str(SPEECH_COMMANDS),
         "--out", str(out), "--json", str(js), "--max-clips", "6"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    curves = json.loads(js.read_text())["curves"]
    assert [c["cell"] for c in curves] == list(cells)
    for c in curves:
        assert len(c["magnitude"]) == config.clip_frames and c["clips"] == 6
        assert c["relative"][0] == pytest.approx(1.0)


def test_command_missing_data_folder_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "speechrnn", "gradients", str(tmp_path / "none.pt"), "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "none.pt" in done.stderr


def test_an_unreadable_file_is_skipped_and_said(tmp_path):
    import shutil

    folder = tmp_path / "clips"
    shutil.copytree(SPEECH_COMMANDS, folder)
    (folder / "two" / "corrupt.wav").write_text("not audio")
    config = FeatureConfig()
    labels = ["yes", "no", "nine"]
    waves, targets, skipped = load_clips(folder, labels, config, max_clips=100)
    assert len(skipped) == 1 and "corrupt.wav" in skipped[0]
    assert waves.shape[0] == len(targets) == sum(1 for p in folder.rglob("*.wav")) - 1
    model = _model("gru", num_classes=3, input_dim=config.feature_dim)
    path = save_checkpoint(Checkpoint(model_config=model.config, feature_config=config, labels=labels,
                                      state_dict=model.state_dict()), tmp_path / "m" / "best.pt")
    done = subprocess.run([sys.executable, "-m", "speechrnn", "gradients", str(path), "--data", str(folder),
                           "--out", str(tmp_path / "g.png")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning: skipped 1 unreadable audio file (e.g. ") and "corrupt.wav" in done.stderr
