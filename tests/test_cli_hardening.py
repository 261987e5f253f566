"""Issue 9: every command on bad input, in pipes and logs - one clear line, the right exit status,
nothing lost, no traceback."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from speechrnn.cli.main import main
from speechrnn.cli.progress import consume
from speechrnn.events import EpochEnd, Finished, Message, Progress, Stage
from test_cli_train import TINY, assert_one_line_error, cli
from test_train import make_tone_dataset, trained_tone_model

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return make_tone_dataset(tmp_path_factory.mktemp("hardening") / "data", speakers=10)


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    return trained_tone_model(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def a_file(tmp_path) -> Path:
    """A plain file: any path below it cannot be written."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def speechrnn(*args, **options) -> subprocess.CompletedProcess:
    options = {"capture_output": True, "env": ENV, **options}
    return subprocess.run([sys.executable, "-m", "speechrnn", *map(str, args)], text=True, timeout=300, cwd=ROOT,
                          **options)


# ---------------------------------------------------------------- 1. output that cannot be written
def test_train_refuses_an_unwritable_run_folder_before_preparing_data(tones, a_file, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", a_file / "run",
                       "--cache-dir", tmp_path / "cache", *TINY)
    assert_one_line_error(code, err, str(a_file / "run"), "cannot write here", "is a file, not a folder")
    assert not (tmp_path / "cache").exists()  # refused before the data was decoded


def test_evaluate_refuses_unwritable_outputs_before_scoring(tone_model, a_file, tmp_path, capsys):
    data, model = tone_model
    for option in ("--json", "--confusion-png"):
        code, out, err = cli(capsys, "evaluate", model, "--data", data, option, a_file / "e.out", "--quiet",
                             "--cache-dir", tmp_path / "cache")
        assert_one_line_error(code, err, str(a_file / "e.out"), "cannot write here")
        assert out == "" and not (tmp_path / "cache").exists()
    code, _, err = cli(capsys, "evaluate", model, "--data", data, "--json", tmp_path, "--quiet")
    assert_one_line_error(code, err, "is a folder, not a file name")


def test_gradients_and_synth_refuse_unwritable_outputs_first(tone_model, a_file, capsys):
    data, model = tone_model
    code, out, err = cli(capsys, "gradients", model, "--data", data, "--out", a_file / "g.png")
    assert_one_line_error(code, err, str(a_file / "g.png"), "cannot write here")
    assert out == ""
    code, _, err = cli(capsys, "synth", "--words", "hello", "--out", a_file / "clips")
    assert_one_line_error(code, err, str(a_file / "clips"), "cannot write here")
    code, _, err = cli(capsys, "synth", "--words", "hello", "--out", a_file)
    assert_one_line_error(code, err, "is a file, not a folder")


# ------------------------------------------------------------------------------- 2. bad values
@pytest.mark.parametrize("option, value, fragment", [
    ("--dropout", "1.5", "--dropout must be within [0, 1)"),
    ("--clip-ms", "0", "clip_ms (0) must be at least the analysis window"),
    ("--hop-ms", "0", "hop_ms must be positive"),
])
def test_bad_values_are_one_line_and_leave_no_run_behind(option, value, fragment, tones, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", tones, "--epochs", "1", "--out", out, "--cache-dir", tmp_path / "cache", *TINY]
    code, _, err = cli(capsys, *args, option, value)
    assert_one_line_error(code, err, fragment)
    assert not out.exists() or not any(out.iterdir())
    assert cli(capsys, *args)[0] == 0  # the corrected command runs, no "already holds a training run"


def test_a_run_stopped_before_its_first_epoch_ended_does_not_block_the_folder(tones, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # all that a run leaves before its first checkpoint
    code, _, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", out,
                       "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["model"]["hidden"] == 16


# --------------------------------------------------------------------- 5. one bad file in predict
def test_predict_prints_every_readable_file_and_reports_the_bad_one(tone_model, tmp_path, capsys):
    data, model = tone_model
    good = [data / "alpha" / "spk000_nohash_0.wav", data / "delta" / "spk001_nohash_0.wav"]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    code, out, err = cli(capsys, "predict", model, good[0], empty, good[1])
    assert code == 2 and "Traceback" not in err
    assert [line.split("\t")[0] for line in out.strip().splitlines()] == [str(good[0]), str(good[1])]
    assert err.strip() == f"speechrnn predict: error: {empty}: file is empty (0 bytes)"
    code, out, _ = cli(capsys, "predict", model, good[0], empty, "--json")
    assert code == 2 and [p["path"] for p in json.loads(out)] == [str(good[0])]


# ------------------------------------------------------------ 6. no validation clips, no val claims
def test_without_validation_clips_the_best_model_is_not_called_validated(tones, tmp_path, capsys):
    out = tmp_path / "run"
    tiny = [a for a in TINY if a != "--quiet"]
    code, stdout, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", out, "--cache-dir",
                            tmp_path / "cache", *tiny, "--validation-pct", "0", "--quiet")
    assert code == 0
    assert "warning: no validation clips" in err  # shown despite --quiet (7.)
    best = [line for line in stdout.splitlines() if line.startswith("best model:")][0]
    assert "training accuracy" in best and "no validation clips" in best and "validation accuracy" not in best
    results = json.loads((out / "results.json").read_text())
    assert "best_val_acc" not in results and 0 <= results["best_train_acc"] <= 1
    code, info, _ = cli(capsys, "info", out / "best.pt")
    assert code == 0 and "best_val_acc" not in info and "best_train_acc" in info


# ------------------------------------------------------------------- 7. what --quiet hides / shows
def test_quiet_keeps_warnings_and_drops_progress():
    events = [Stage("data", "Preparing"), Progress("decode", 1, 2, unit="clips"), Message("an info line"),
              Message("3 files skipped", level="warning"), EpochEnd(1, 1, {"loss": 1.0}), Finished("done")]
    stream = io.StringIO()
    assert consume(events, quiet=True, stream=stream) == "done"
    assert stream.getvalue() == "warning: 3 files skipped\n"


def test_library_warnings_stay_out_of_predict_and_export(tone_model, tmp_path):
    data, model = tone_model
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(bytes(range(256)) * 20)
    done = speechrnn("predict", model, corrupt)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Warning" not in done.stderr and "warn(" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"speechrnn predict: error: {corrupt}: cannot decode audio (not a supported audio format, or the file "
        "is damaged)")
    done = speechrnn("export", model, "--format", "onnx", "--out", tmp_path / "export")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "" and len(done.stdout.split()) == 2


# -------------------------------------------------------------------------- 8. pipes and log files
def test_a_closed_pipe_ends_quietly_with_141(tone_model):
    _, model = tone_model
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: `| head -0`
    try:
        done = speechrnn("info", model, stdout=write_end, stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_progress_into_a_log_is_one_line_per_stage():
    events = [Stage("data", "Preparing data")]
    events += [Progress("decode", done, 1000, unit="clips", metrics={"clips/s": 900.0}) for done in range(1, 1001)]
    events += [Stage("train", "Training")] + [Progress("train", b, 4, unit="batch") for b in range(1, 5)]
    events += [EpochEnd(1, 1, {"train_loss": 0.5}), Finished(None)]
    stream = io.StringIO()  # not a terminal
    consume(events, stream=stream)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "Preparing data"
    assert lines[1].startswith("decode: 1,000/1,000 clips in ") and lines[1].endswith("clips/s=900")
    assert lines[2:] == ["Training", "epoch 1/1  loss 0.500"]


# ------------------------------------------------------------------------------------ 9. SIGTERM
@pytest.mark.slow
def test_sigterm_saves_cleans_up_and_says_how_to_resume(tones, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "speechrnn", "train", "--data", str(tones), "--epochs", "30", "--out", str(out),
               "--cache-dir", str(tmp_path / "cache"), *TINY]
    env = {**ENV, "SPEECHRNN_DATA_DIR": str(tmp_path / "user-cache")}  # the kernel verdicts too
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"speechrnn train: terminated (SIGTERM); continue with: speechrnn train --resume --out {out}")
    assert (out / "last.pt").is_file() and not list(out.glob(".*.tmp"))
    done = speechrnn("train", "--resume", "--out", out, "--threads", "1", "--cache-dir", tmp_path / "cache",
                     "--epochs", "2", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ignored: --epochs 2" in done.stderr
    assert f"resuming from {out / 'last.pt'}: " in done.stderr and " of 30 epochs done" in done.stderr


# ----------------------------------------------------------------------------------- 10. the rest
def test_resume_says_which_new_options_it_ignores(tones, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--out", out, "--cache-dir", tmp_path / "cache"]
    assert cli(capsys, "train", "--data", tones, "--epochs", "1", *base, *TINY)[0] == 0
    code, _, err = cli(capsys, "train", "--resume", *base, "--epochs", "5", "--lr", "0.01", "--quiet")
    assert code == 0
    note = err.strip().splitlines()[0]
    assert note.startswith("note: --resume continues the run with its saved data and settings")
    assert "ignored: --epochs 5, --lr 0.01" in note and "start a new run" in note
    code, _, err = cli(capsys, "train", "--resume", *base, "--quiet")
    assert code == 0 and "note:" not in err


def test_words_naming_every_folder_warn_of_an_empty_unknown_class(tones, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--data", tones, "--words", "alpha,bravo,charlie,delta", "--epochs", "1",
                       "--negatives", "none", "--synth-voices", "0", "--out", out, "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0
    assert "warning: the _unknown_ class gets no clips: every word folder is in the vocabulary" in err
    assert "--no-unknown" in err
    code, _, err = cli(capsys, "train", "--data", tones, "--words", "alpha,bravo", "--epochs", "1", "--out", out,
                       "--negatives", "none", "--synth-voices", "0", "--force", "--cache-dir", tmp_path / "cache",
                       *TINY)
    assert code == 0 and "_unknown_ class gets no clips" not in err  # charlie and delta fill it


def test_evaluate_noise_dir_needs_snr(tone_model, tmp_path, capsys):
    data, model = tone_model
    code, _, err = cli(capsys, "evaluate", model, "--data", data, "--noise-dir", tmp_path, "--quiet")
    assert_one_line_error(code, err, "--noise-dir needs --snr-db")


def test_a_foreign_pytorch_file_is_described_not_quoted(tmp_path, capsys):
    path = tmp_path / "module.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)  # Python objects, not plain tensors
    code, _, err = cli(capsys, "info", path)
    assert_one_line_error(code, err, str(path), "a PyTorch file that holds Python objects", "never runs code")
    assert "weights_only" not in err and "Weights only" not in err
    path = tmp_path / "text.pt"
    path.write_text("hello")
    code, _, err = cli(capsys, "info", path)
    assert_one_line_error(code, err, "not a PyTorch file at all")
    path = tmp_path / "noise.pt"  # bytes torch.load tries as a legacy pickle: no Python objects in there
    path.write_bytes(bytes(range(7, 107)))
    code, _, err = cli(capsys, "info", path)
    assert_one_line_error(code, err, "not a PyTorch file at all")


def test_synth_refuses_an_empty_clip_length_and_unknown_languages(tmp_path, capsys):
    code, _, err = cli(capsys, "synth", "--words", "hello", "--out", tmp_path / "clips", "--clip-ms", "0")
    assert_one_line_error(code, err, "clip_ms must be at least 100")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    code, _, err = cli(capsys, "synth", "--words", "hello", "--out", tmp_path / "clips", "--language", "xx")
    assert_one_line_error(code, err, "espeak-ng has no voice for language 'xx'")
    assert not list((tmp_path / "clips").rglob("*.wav"))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synth_into_the_same_folder_keeps_the_earlier_clips(tmp_path, capsys):
    from speechrnn.synth import ESPEAK, SynthConfig, Voice, synthesize
    from speechrnn.events import run_to_end

    voice = Voice(ESPEAK, "en", "espeak-en")
    config = SynthConfig(words=("hello",), per_word=2)
    first = run_to_end(synthesize(config, tmp_path, voices=[voice]))
    before = {p: p.read_bytes() for p in first.files}
    events = list(synthesize(config, tmp_path, voices=[voice]))
    second = events[-1].result
    assert any(isinstance(e, Message) and "keeping the clips already there" in e.text for e in events)
    assert sorted(p.name for p in second.files) == ["espeak-en_nohash_2.wav", "espeak-en_nohash_3.wav"]
    assert {p: p.read_bytes() for p in first.files} == before


def test_help_shows_the_defaults(capsys):
    for command, expected in (("train", ("passes over the training clips (default 30;", "(default 0.1)",
                                         "(default 0)", "(default auto)")),
                              ("listen", ("(default 1)",))):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for fragment in expected:
            assert fragment in text, (command, fragment)


def test_devices_without_any_input_is_one_error_line(monkeypatch, capsys):
    import speechrnn.audio.capture as capture

    monkeypatch.setattr(capture, "list_input_devices", lambda: [])
    code, out, err = cli(capsys, "devices")
    assert_one_line_error(code, err, "no audio input device found")
    assert out == ""


def test_info_names_folders_and_files_of_another_machine_without_their_paths(tmp_path, capsys):
    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, RNNClassifier

    model = RNNClassifier(ModelConfig(num_classes=2, hidden=8, layers=1))
    here = tmp_path / "mine"
    here.mkdir()
    data = {"sources": [{"name": "fsdd", "path": "/build/machine/views/fsdd", "clips": 5, "speakers": 2},
                        {"name": "mine", "path": str(here), "clips": 3, "speakers": 1}],
            "started_from": {"path": "/build/machine/base.pt", "sources": ["fsdd"], "licenses": {}}}
    path = save_checkpoint(Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=["a", "b"],
                                      state_dict=model.state_dict(), data=data), tmp_path / "m.pt")
    code, info, _ = cli(capsys, "info", path)
    assert code == 0 and "/build/machine" not in info
    lines = [line.strip() for line in info.splitlines()]
    assert "data: fsdd (5 clips, 2 speakers)" in lines and f"data: {here} (3 clips, 1 speaker)" in lines
    assert "started from: base.pt (a file of the machine that trained it), trained on fsdd" in lines
    code, as_json, _ = cli(capsys, "info", path, "--json")
    assert "/build/machine/views/fsdd" in as_json  # all of it, for whoever needs it


def test_info_shows_the_batch_used_and_each_source_once(tones, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", out, "--cache-dir", tmp_path / "cache",
               *[a for a in TINY if a not in ("--batch-size", "8")])[0] == 0
    code, info, _ = cli(capsys, "info", out / "best.pt")
    assert code == 0
    used = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["batch_size"]
    assert used < 256 and f"batch_size={used} (asked 256, shrunk by min_steps)" in info
    data_line = [line for line in info.splitlines() if line.strip().startswith("data:")][0]
    assert data_line.split("data:", 1)[1].count(tones.name) == 1 and str(tones) in data_line
