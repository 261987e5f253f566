"""Bundled models by name (digits, commands): listing, resolving, `speechrnn info` and `listen --model`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from speechrnn.bundled import (
    BUNDLED_MODELS,
    available_models,
    bundled_model_path,
    bundled_name,
    held_out_figures,
    resolve_model,
)
from speechrnn.errors import CheckpointError
from test_cli_train import assert_one_line_error, cli

COMMAND_LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down"]
DIGIT_LABELS = ["_silence_", "_unknown_", "zero", "one", "two"]


def tiny_checkpoint(path: Path, labels: list[str], metrics: dict | None = None) -> Path:
    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, RNNClassifier

    model = RNNClassifier(ModelConfig(num_classes=len(labels), hidden=8, layers=1))
    return save_checkpoint(Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=labels,
                                      state_dict=model.state_dict(), metrics=metrics or {}), path)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """An assets folder holding both bundled models (tiny, random)."""
    folder = tmp_path_factory.mktemp("assets")
    tiny_checkpoint(folder / BUNDLED_MODELS["digits"], DIGIT_LABELS,
                    {"test_accuracy": 0.9, "test_clips": 40,
                     "test_per_source": {"fsdd": {"accuracy": 0.95, "clips": 20},
                                         "speech_commands": {"accuracy": 0.85, "clips": 20}}})
    tiny_checkpoint(folder / BUNDLED_MODELS["commands"], COMMAND_LABELS, {"test_accuracy": 0.875, "test_clips": 8})
    return folder


def test_available_models_are_the_files_that_exist_in_order(assets, tmp_path):
    assert list(available_models(assets)) == ["digits", "commands"]
    only_digits = tmp_path / "only_digits"
    only_digits.mkdir()
    (only_digits / BUNDLED_MODELS["digits"]).write_bytes((assets / BUNDLED_MODELS["digits"]).read_bytes())
    assert list(available_models(only_digits)) == ["digits"]  # a missing file is simply not offered
    assert available_models(tmp_path / "empty") == {}


def test_a_model_argument_is_a_bundled_name_or_a_path(assets, tmp_path):
    assert resolve_model("commands", assets) == assets / "commands_model.pt"
    assert resolve_model(None, assets) == assets / "default_model.pt"  # the default: digits
    own = tiny_checkpoint(tmp_path / "mine.pt", COMMAND_LABELS)
    assert resolve_model(str(own), assets) == own
    assert bundled_name(assets / "commands_model.pt", assets) == "commands" and bundled_name(own, assets) is None
    with pytest.raises(CheckpointError) as error:
        resolve_model("lights", assets)
    message = str(error.value)
    assert "\n" not in message and message.startswith("lights: no such checkpoint file")
    assert "digits, commands or a checkpoint file" in message


def test_a_bundled_name_whose_file_is_missing_names_what_is_there(assets, tmp_path):
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / BUNDLED_MODELS["digits"]).write_bytes((assets / BUNDLED_MODELS["digits"]).read_bytes())
    with pytest.raises(CheckpointError, match=r"bundled 'commands' model is not installed here; choose digits or"):
        resolve_model("commands", folder)
    assert bundled_model_path("commands", folder) == folder / "commands_model.pt"


def test_held_out_figures_line():
    assert held_out_figures({}) == ""
    assert held_out_figures({"test_accuracy": 0.5}) == "50.0 % on held-out clips"
    line = held_out_figures({"test_accuracy": 0.9, "test_clips": 40, "test_per_source": {
        "_silence_": {"accuracy": 1.0, "clips": 5}, "fsdd": {"accuracy": 0.95, "clips": 20},
        "sc": {"accuracy": 0.85, "clips": 15}}})
    assert line == "90.0 % on 40 held-out clips: fsdd 95.0 %, sc 85.0 %"


@pytest.fixture
def cli_assets(assets, monkeypatch):
    """The CLI (run in-process) sees the temporary assets folder as the bundled models' home."""
    import speechrnn.bundled as bundled

    monkeypatch.setattr(bundled, "asset_dirs", lambda: (assets,))
    return assets


@pytest.mark.parametrize("args", [[], ["--bundled"]])
def test_info_without_a_model_lists_the_bundled_models(cli_assets, capsys, args):
    code, out, err = cli(capsys, "info", *args)
    assert code == 0 and "Traceback" not in err
    assert "digits: " + str(cli_assets / "default_model.pt") in out
    assert "words: 3: zero, one, two" in out and "words: 4: yes, no, up, down" in out
    assert "90.0 % on 40 held-out clips: fsdd 95.0 %, speech_commands 85.0 %" in out
    assert "87.5 % on 8 held-out clips" in out


def test_info_lists_only_what_is_installed(cli_assets, capsys):
    (cli_assets / "commands_model.pt").rename(cli_assets / "away.pt")
    try:
        code, out, _ = cli(capsys, "info")
        assert code == 0 and "commands:" not in out and "not installed here: commands" in out
        code, _, err = cli(capsys, "listen", "--model", "commands", "--file", "x.wav")
        assert_one_line_error(code, err, "bundled 'commands' model is not installed here", "choose digits or")
    finally:
        (cli_assets / "away.pt").rename(cli_assets / "commands_model.pt")


def test_info_takes_a_bundled_name(cli_assets, capsys):
    code, out, _ = cli(capsys, "info", "commands")
    assert code == 0 and "labels: 6: _silence_, _unknown_, yes, no, up, down" in out


def test_every_command_that_takes_a_model_takes_a_bundled_name(cli_assets, capsys, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    for word in ("yes", "no"):
        (folder / word).mkdir(parents=True)
        clip = _tone_file(folder / word / "a_nohash_0.wav")
    code, out, _ = cli(capsys, "predict", "commands", clip, "--json")
    assert code == 0 and "\"path\"" in out
    code, out, _ = cli(capsys, "evaluate", "commands", "--data", folder, "--quiet", "--cache-dir", tmp_path / "c")
    assert code == 0 and "accuracy:" in out
    monkeypatch.chdir(tmp_path)  # a bundled model exports into the current folder, never into assets/
    code, out, _ = cli(capsys, "export", "commands", "--format", "torchscript")
    assert code == 0 and (tmp_path / "commands_model.ts").is_file()
    assert not (cli_assets / "commands_model.ts").exists()
    code, _, err = cli(capsys, "gradients", "nosuch", "--data", folder, "--out", tmp_path / "g.png")
    assert_one_line_error(code, err, "nosuch", "choose digits, commands or a checkpoint file")


def _tone_file(path: Path) -> Path:
    import soundfile

    rate = 16000
    t = np.arange(2 * rate) / rate
    soundfile.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    return path


def test_listen_model_option_picks_the_bundled_model(cli_assets, capsys, tmp_path, monkeypatch):
    import speechrnn.recognizer as recognizer

    used = []
    original = recognizer.Recognizer.from_checkpoint.__func__

    def spy(cls, path, config=None):
        used.append(recognizer.resolve_model_path(path))
        return original(cls, path, config)

    monkeypatch.setattr(recognizer.Recognizer, "from_checkpoint", classmethod(spy))
    clip = _tone_file(tmp_path / "tone.wav")
    for args, expected in ((["--model", "commands"], "commands_model.pt"), (["--model", "digits"], "default_model.pt"),
                           (["commands"], "commands_model.pt"), ([], "default_model.pt")):
        code, _, err = cli(capsys, "listen", *args, "--file", clip, "--engine", "torch")
        assert code == 0, err
        assert used[-1] == cli_assets / expected
        assert "detection(s) in 2.0 s" in err


def test_listen_model_errors_are_one_line(cli_assets, capsys, tmp_path):
    code, _, err = cli(capsys, "listen", "--model", "lights", "--file", tmp_path / "x.wav")
    assert_one_line_error(code, err, "lights: no such checkpoint file", "digits, commands or a checkpoint file")
    code, _, err = cli(capsys, "listen", "digits", "--model", "commands", "--file", tmp_path / "x.wav")
    assert_one_line_error(code, err, "two models given")


def test_listen_model_path_in_a_real_process(tmp_path):
    """The real command line, with a checkpoint path given to --model."""
    model = tiny_checkpoint(tmp_path / "mine.pt", COMMAND_LABELS)
    clip = _tone_file(tmp_path / "tone.wav")
    result = subprocess.run([sys.executable, "-m", "speechrnn", "listen", "--model", str(model), "--file", str(clip),
                             "--engine", "torch"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "detection(s) in 2.0 s" in result.stderr
