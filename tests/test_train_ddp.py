"""Data-parallel training: `speechrnn train` runs unchanged under torchrun (2 CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from speechrnn.checkpoint import load_checkpoint
from test_train import make_tone_dataset

EPOCHS = 3
TIMEOUT_S = 120


@pytest.mark.slow
def test_two_processes_train_one_model_and_rank_zero_writes_the_run(tmp_path):
    data = make_tone_dataset(tmp_path / "data", speakers=16)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "speechrnn", "train", "--data", str(data), "--validation-pct", "20", "--testing-pct", "20",
               "--hidden", "16", "--layers", "1", "--epochs", str(EPOCHS), "--batch-size", "8", "--lr", "0.01",
               "--threads", "1", "--device", "cpu", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
               "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best model:") == 1  # only rank 0 reports
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    best = load_checkpoint(out / "best.pt")
    assert best.data["world_size"] == 2
    assert "test_accuracy" in best.metrics
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary files from a second writer
