"""`speechrnn train` from the command line: a run, and every bad input as one clear line (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechrnn.cli.main import main
from test_train import make_tone_dataset

TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "8", "--threads", "1", "--quiet",
        "--validation-pct", "20", "--testing-pct", "20"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("speechrnn ") and ": error: " in line
    for fragment in fragments:
        assert fragment in line, line


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return make_tone_dataset(tmp_path_factory.mktemp("cli") / "data", speakers=10)


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_train_writes_a_run_and_prints_where_the_model_is(tones, tmp_path, capsys):
    code, out, _ = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", tmp_path / "run",
                       "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0
    assert f"best model: {tmp_path / 'run' / 'best.pt'}" in out and "test accuracy" in out
    settings = json.loads((tmp_path / "run" / "config.json").read_text())
    assert settings["model"]["hidden"] == 16 and settings["data"]["sources"] == [str(tones)]
    assert settings["augment"]["speed"] is False  # speed perturbation is asked for (--speed)


def test_a_spectral_front_end_is_asked_for_kept_by_runs_started_from_it_and_refused_on_log_mel(tones, tmp_path,
                                                                                                 capsys):
    code, _, _ = cli(capsys, "train", "--data", tones, "--epochs", "1", "--spectral-conv", "4", "--n-mfcc", "13",
                     "--out", tmp_path / "conv", "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0
    code, out, _ = cli(capsys, "info", tmp_path / "conv" / "best.pt")
    assert code == 0 and "model: spectral conv 4 > GRU 1x16" in out
    # a run from it keeps the front-end and its weights (no --spectral-conv given)
    code, out, _ = cli(capsys, "train", "--data", tones, "--epochs", "1", "--init-from", tmp_path / "conv" / "best.pt",
                       "--out", tmp_path / "again", "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0, out
    settings = json.loads((tmp_path / "again" / "config.json").read_text())
    assert settings["model"]["spectral_conv_channels"] == 4 and settings["model"]["spectral_bands"] == 40
    # asking for another front-end than the network has says what differs
    code, _, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--init-from", tmp_path / "conv" / "best.pt",
                       "--spectral-conv", "0", "--out", tmp_path / "other", "--cache-dir", tmp_path / "cache", *TINY)
    assert_one_line_error(code, err, "cannot start from this model", "(spectral conv 4 > GRU 1x16 on 13 mfcc",
                          "vs GRU 1x16 on 13 mfcc")
    code, _, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--spectral-conv", "4", "--kind", "logmel",
                       "--out", tmp_path / "logmel", "--cache-dir", tmp_path / "cache", *TINY)
    assert_one_line_error(code, err, "spectral front-end reads MFCC")
    assert not (tmp_path / "logmel" / "best.pt").exists()


def test_a_new_network_gets_the_front_end_by_default_as_in_the_train_panel_but_not_on_log_mel(tones, tmp_path,
                                                                                              capsys):
    code, _, _ = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", tmp_path / "mfcc",
                     "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0
    settings = json.loads((tmp_path / "mfcc" / "config.json").read_text())
    assert settings["model"]["spectral_conv_channels"] == 16 and settings["features"]["kind"] == "mfcc"
    code, out, _ = cli(capsys, "info", tmp_path / "mfcc" / "best.pt")
    assert code == 0 and "model: spectral conv 16 > GRU 1x16" in out
    code, _, _ = cli(capsys, "train", "--data", tones, "--epochs", "1", "--kind", "logmel", "--out", tmp_path / "logmel",
                     "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0  # log-mel features have their bands already: no front-end, and no error
    assert json.loads((tmp_path / "logmel" / "config.json").read_text())["model"]["spectral_conv_channels"] == 0


@pytest.mark.parametrize("name", ["speed", "vtlp"])
def test_a_perturbation_is_asked_for_with_its_range(name, tones, tmp_path, capsys):
    """--speed (played faster or slower) and --vtlp (formants moved, pitch and pace kept)."""
    flag = f"--{name}"
    args = ["train", "--data", tones, "--epochs", "1", "--cache-dir", tmp_path / "cache", *TINY, flag]
    assert cli(capsys, *args, f"{flag}-min", "0.95", "--out", tmp_path / "run")[0] == 0
    augment = json.loads((tmp_path / "run" / "config.json").read_text())["augment"]
    assert (augment[name], augment[f"{name}_min"], augment[f"{name}_max"]) == (True, 0.95, 1.1)  # max: the default
    code, _, err = cli(capsys, *args, f"{flag}-min", "1.2", "--out", tmp_path / "bad")
    assert_one_line_error(code, err, f"{name}_min must be positive and not exceed {name}_max")


def test_an_existing_run_is_refused_unless_resume_or_force(tones, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", tones, "--epochs", "1", "--out", run, "--cache-dir", tmp_path / "cache", *TINY]
    assert cli(capsys, *args)[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = cli(capsys, *args)
    assert_one_line_error(code, err, "already holds a training run", "--resume", "--force")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    code, _, err = cli(capsys, "train", "--resume", "--force", "--out", run)
    assert_one_line_error(code, err, "--resume and --force")
    assert cli(capsys, "train", "--resume", "--out", run, "--quiet")[0] == 0  # finished: nothing to do
    assert cli(capsys, *args, "--force")[0] == 0


@pytest.mark.parametrize("case", ["missing", "empty", "one-label", "unknown-words", "no-data", "no-run",
                                  "bad-epochs", "adversary-on-clips", "teacher-of-other-words"])
def test_bad_input_is_one_clear_line(case, tones, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--epochs", "1", "--out", out, "--cache-dir", tmp_path / "cache", *TINY]
    if case == "missing":
        code, _, err = cli(capsys, "train", "--data", tmp_path / "nowhere", *base)
        fragments = ["nowhere", "does not exist"]
    elif case == "empty":
        (tmp_path / "empty" / "yes").mkdir(parents=True)
        code, _, err = cli(capsys, "train", "--data", tmp_path / "empty", *base)
        fragments = ["empty", "no audio files"]
    elif case == "one-label":
        single = tmp_path / "single"
        (single / "alpha").mkdir(parents=True)
        for wav in sorted((tones / "alpha").glob("*.wav"))[:3]:
            (single / "alpha" / wav.name).write_bytes(wav.read_bytes())
        code, _, err = cli(capsys, "train", "--data", single, "--no-silence", *base)
        fragments = ["only one label"]
    elif case == "unknown-words":
        code, _, err = cli(capsys, "train", "--data", tones, "--words", "alpha,zebra", "--synth-voices", "0", *base)
        fragments = ["zebra"]  # (with synthetic voices they say it: test_cli_negatives)
    elif case == "no-data":
        code, _, err = cli(capsys, "train", *base)
        fragments = ["--data is required"]
    elif case == "no-run":
        code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "never")
        fragments = ["no run to resume"]
    elif case == "teacher-of-other-words":
        code, _, err = cli(capsys, "train", "--data", tones, *base, "--distill-from", "commands")
        fragments = ["commands_model.pt", "cannot teach this run: its labels"]
    elif case == "adversary-on-clips":
        code, _, err = cli(capsys, "train", "--data", tones, *base, "--objective", "clip", "--source-adversary", "0.3")
        fragments = ["source_adversary_weight", "stream objective"]
    else:
        code, _, err = cli(capsys, "train", "--data", tones, *base[2:], "--epochs", "0")
        fragments = ["epochs must be at least 1"]
    assert_one_line_error(code, err, *fragments)
    assert not (out / "best.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_a_missing_gpu_is_an_error(tones, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--data", tones, "--device", "cuda", "--out", tmp_path / "run",
                       "--cache-dir", tmp_path / "cache", *TINY)
    assert_one_line_error(code, err, "CUDA is not available")


def test_the_real_command_exits_2_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "speechrnn", "train", "--data", str(tmp_path / "nowhere"),
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("speechrnn train: error: ")
    assert "Traceback" not in done.stderr


def test_help_lists_the_main_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--data", "--task", "--words", "--cell", "--pooling", "--resume", "--force", "--no-noise",
                   "--label-smoothing", "--n-mfcc", "--precision"):
        assert option in text


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_run_and_resume_finishes_it(tones, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "speechrnn", "train", "--data", str(tones), "--epochs", "12",
               "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert f"speechrnn train --resume --out {out}" in err and "Traceback" not in err
    from speechrnn.checkpoint import load_checkpoint

    stopped = load_checkpoint(out / "last.pt").extra["resume"]["run"]
    assert 1 <= stopped["epoch"] < 12
    done = subprocess.run([sys.executable, "-m", "speechrnn", "train", "--resume", "--out", str(out), "--quiet",
                           "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 13))


@pytest.mark.parametrize("objective, counted", [("stream", "frames"), ("clip", "clips")])
def test_each_epoch_line_says_what_training_counts(tones, tmp_path, capsys, objective, counted):
    """The stream objective scores training on frames (mostly background) and validation on clips: the
    epoch line groups each side's figures under what it counts instead of setting them side by side."""
    args = [arg for arg in TINY if arg != "--quiet"]
    code, out, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--objective", objective,
                         "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache", *args)
    assert code == 0, err
    lines = (out + err).splitlines()
    epoch = next(line for line in lines if line.startswith("epoch 1/1  "))
    if objective == "stream":
        assert "frames: loss " in epoch and "val clips: loss " in epoch and " / val " not in epoch, epoch
    else:
        assert "loss " in epoch and "accuracy " in epoch and " / val " in epoch and "frames" not in epoch, epoch
    assert epoch.endswith(f" {counted}/s"), epoch
    assert any(line.startswith("training speed: ") and line.endswith(f" {counted}/s") for line in lines)
