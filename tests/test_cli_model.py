"""`speechrnn evaluate | predict | export | info` on a trained checkpoint, and their bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_cli_train import assert_one_line_error, cli
from test_train import trained_tone_model


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    return trained_tone_model(tmp_path_factory.getbasetemp())


@pytest.fixture
def corrupt(tmp_path) -> Path:
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    return path


def test_evaluate_prints_metrics_and_writes_json_and_png(tone_model, tmp_path, capsys):
    data, model = tone_model
    code, out, _ = cli(capsys, "evaluate", model, "--data", data, "--json", tmp_path / "m.json",
                       "--confusion-png", tmp_path / "c.png", "--cache-dir", tmp_path / "cache", "--quiet")
    assert code == 0
    payload = json.loads((tmp_path / "m.json").read_text())
    assert f"accuracy: {100 * payload['accuracy']:.2f} %" in out
    assert set(payload) >= {"accuracy", "per_class", "confusion", "wrong", "per_source", "labels"}
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_warns_when_the_folder_trained_the_model(tone_model, tmp_path, capsys):
    data, model = tone_model
    code, _, err = cli(capsys, "evaluate", model, "--data", data, "--quiet", "--cache-dir", tmp_path / "cache")
    assert code == 0 and f"warning: {data}: The model was trained on clips of this folder" in err
    assert "overstates how it does on new voices" in err
    other = tmp_path / "copy"
    shutil.copytree(data, other)  # the same clips in a folder it never read: nothing to warn about
    code, _, err = cli(capsys, "evaluate", model, "--data", other, "--quiet", "--cache-dir", tmp_path / "cache")
    assert code == 0 and "warning" not in err


def test_evaluate_with_another_feature_setting_is_refused(tone_model, tmp_path, capsys):
    data, model = tone_model
    code, _, err = cli(capsys, "evaluate", model, "--data", data, "--n-mfcc", "13", "--json", tmp_path / "m.json",
                       "--quiet")
    assert_one_line_error(code, err, "feature config differs", "n_mfcc=40 vs 13")
    assert not (tmp_path / "m.json").exists()
    assert cli(capsys, "evaluate", model, "--data", data, "--n-mfcc", "40", "--quiet",
               "--cache-dir", tmp_path / "cache")[0] == 0  # the same value is fine


@pytest.mark.parametrize("command", ["evaluate", "predict", "export", "info"])
def test_a_corrupt_or_missing_checkpoint_is_one_line(command, corrupt, tone_model, tmp_path, capsys):
    data, _ = tone_model
    extra = {"evaluate": ["--data", data, "--quiet"], "predict": [data / "alpha" / "spk000_nohash_0.wav"],
             "export": ["--out", tmp_path / "out"], "info": []}[command]
    code, _, err = cli(capsys, command, corrupt, *extra)
    assert_one_line_error(code, err, "corrupt.pt", "not a readable speechrnn checkpoint")
    code, _, err = cli(capsys, command, tmp_path / "none.pt", *extra)
    assert_one_line_error(code, err, "no such checkpoint file")


def test_predict_prints_top_k_and_refuses_an_unreadable_file(tone_model, tmp_path, capsys):
    data, model = tone_model
    clip = data / "charlie" / "spk002_nohash_0.wav"
    code, out, _ = cli(capsys, "predict", model, clip, "--top-k", "2")
    assert code == 0
    path, ranked = out.strip().split("\t")
    assert path == str(clip) and ranked.split()[0] == "charlie" and len(ranked.split()) == 4
    code, out, _ = cli(capsys, "predict", model, clip, "--json")
    assert json.loads(out)[0]["top"][0]["label"] == "charlie"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    code, out, err = cli(capsys, "predict", model, clip, empty)
    assert_one_line_error(code, err, "empty.wav", "empty")
    assert out.split("\t")[0] == str(clip)  # the readable file is still answered


def test_export_writes_files_and_info_describes_the_model(tone_model, tmp_path, capsys):
    _, model = tone_model
    code, out, _ = cli(capsys, "export", model, "--format", "torchscript", "--out", tmp_path / "out")
    assert code == 0 and out.strip() == str(tmp_path / "out" / "best.ts")
    code, out, _ = cli(capsys, "info", model)
    assert code == 0
    assert "alpha, bravo, charlie, delta" in out and "GRU 1x32" in out and "test_accuracy" in out
    assert "license" in out
    code, out, _ = cli(capsys, "info", model, "--json")
    info = json.loads(out)
    assert info["labels"] == ["alpha", "bravo", "charlie", "delta"] and info["parameters"] > 0
    assert "state_dict" not in info and "extra" not in info
