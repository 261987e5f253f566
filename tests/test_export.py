"""ONNX and TorchScript exports compute what the PyTorch model computes.

Tolerance: max absolute difference of logits <= 1e-4 (float32 kernels of onnxruntime and
PyTorch round differently; measured differences are ~1e-7 for these models).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechrnn.checkpoint import Checkpoint, load_model, save_checkpoint
from speechrnn.export import export, load_torchscript, onnx_metadata, state_specs
from speechrnn.features import FeatureConfig
from speechrnn.model import ModelConfig, RNNClassifier

TOLERANCE = 1e-4
SHAPES = ((3, 17), (1, 1), (2, 98))  # (batch, frames): dynamic in every graph


def random_checkpoint(path: Path, **config) -> Path:
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(num_classes=4, hidden=16, layers=2, **config)).eval()
    model.set_normalization(torch.randn(40) * 5, torch.rand(40) * 3 + 0.5)
    return save_checkpoint(Checkpoint(model.config, FeatureConfig(), ["a", "b", "c", "d"], model.state_dict()), path)


def onnx_session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def feed(model, frames: torch.Tensor, state) -> dict[str, np.ndarray]:
    return {"frames": frames.numpy(), **{s.name: np.asarray(v) for s, v in zip(state_specs(model), state)}}


def check_graphs(checkpoint: Path, tmp_path: Path) -> None:
    written = export(checkpoint, "all", tmp_path / "export")
    model, _ = load_model(checkpoint)
    stem = checkpoint.stem
    assert sorted(p.name for p in written) == sorted([f"{stem}.clip.onnx", f"{stem}.stream.onnx", f"{stem}.ts"])
    stream, clip = onnx_session(tmp_path / "export" / f"{stem}.stream.onnx"), onnx_session(
        tmp_path / "export" / f"{stem}.clip.onnx")
    scripted, metadata = load_torchscript(tmp_path / "export" / f"{stem}.ts")
    assert metadata["labels"] == ["a", "b", "c", "d"] and metadata["feature_config"]["n_mfcc"] == 40
    onnx_info = onnx_metadata(tmp_path / "export" / f"{stem}.stream.onnx")
    assert onnx_info["graph"] == "stream" and onnx_info["labels"] == metadata["labels"]
    assert [s["name"] for s in onnx_info["state"]] == [s.name for s in state_specs(model)]
    torch.manual_seed(1)
    for batch, steps in SHAPES:
        frames = torch.randn(batch, steps, 40) * 10
        state = model.initial_state(batch)
        with torch.no_grad():
            want_frames, want_state = model.forward_frames(frames, state)
            want_clip = model(frames)[0]
        got = stream.run(None, feed(model, frames, [s.numpy() for s in state]))
        assert np.abs(got[0] - want_frames.numpy()).max() <= TOLERANCE
        for value, expected in zip(got[1:], want_state):
            assert np.abs(value - expected.numpy()).max() <= TOLERANCE
        assert np.abs(clip.run(None, {"frames": frames.numpy()})[0] - want_clip.numpy()).max() <= TOLERANCE
        # the state carried over two calls gives the same per-frame logits as one call
        cut = max(1, steps // 2)
        first = stream.run(None, feed(model, frames[:, :cut], [s.numpy() for s in state]))
        parts = [first[0]]
        if steps > cut:
            parts.append(stream.run(None, feed(model, frames[:, cut:], first[1:]))[0])
        assert np.abs(np.concatenate(parts, axis=1) - want_frames.numpy()).max() <= TOLERANCE
        with torch.no_grad():
            assert (scripted(frames) - want_clip).abs().max() <= TOLERANCE
            assert (scripted.step(frames, *state)[0] - want_frames).abs().max() <= TOLERANCE


@pytest.mark.parametrize("config", [
    dict(cell="gru"),
    dict(cell="gru", running_mean_frames=20),
    dict(cell="gru", spectral_conv_channels=4),
    dict(cell="gru", pcen_frames=20, spectral_conv_channels=4),
    pytest.param(dict(cell="lstm", pooling="attention"), marks=pytest.mark.slow),
    pytest.param(dict(cell="rnn", pooling="mean"), marks=pytest.mark.slow),
], ids=["gru-last", "gru-running-mean", "gru-spectral-conv", "gru-pcen", "lstm-attention", "rnn-mean"])
def test_onnx_and_torchscript_match_pytorch(config, tmp_path):
    check_graphs(random_checkpoint(tmp_path / "model.pt", **config), tmp_path)


def test_a_bidirectional_model_exports_only_the_whole_clip_graph(tmp_path):
    path = random_checkpoint(tmp_path / "bi.pt", bidirectional=True)
    written = export(path, "onnx", tmp_path / "out")
    assert [p.name for p in written] == ["bi.clip.onnx"]
    model, _ = load_model(path)
    frames = torch.randn(2, 9, 40)
    with torch.no_grad():
        want = model(frames)[0].numpy()
    assert np.abs(onnx_session(written[0]).run(None, {"frames": frames.numpy()})[0] - want).max() <= TOLERANCE


def test_info_says_the_model_subtracts_its_input_s_running_mean(tmp_path, capsys):
    from test_cli_train import cli

    code, out, _ = cli(capsys, "info", random_checkpoint(tmp_path / "model.pt", running_mean_frames=20))
    assert code == 0 and "pooling attention, input minus its running mean over 20 frames, " in out
    code, out, _ = cli(capsys, "info", random_checkpoint(tmp_path / "plain.pt"))
    assert code == 0 and "running mean" not in out


def test_info_names_the_pcen_bands_the_network_reads(tmp_path, capsys):
    from test_cli_train import cli

    code, out, _ = cli(capsys, "info", random_checkpoint(tmp_path / "model.pt", pcen_frames=20))
    assert code == 0 and "model: PCEN 20 > GRU 2x16, pooling attention" in out
    code, out, _ = cli(capsys, "info", random_checkpoint(tmp_path / "both.pt", pcen_frames=20, pcen_with_mfcc=True))
    assert code == 0 and "MFCC + PCEN 20 > GRU 2x16" in out
