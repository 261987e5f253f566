"""The benchmark suite's short mode (what CI runs): every section executes and reports, no timing claims."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "assets" / "default_model.pt"


@pytest.mark.slow
def test_quick_bench_runs_every_section_and_writes_json_and_markdown(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["quick"] is True
    assert results["machine"]["versions"]["torch"]
    sections = results["sections"]
    assert set(sections) >= {"features", "training", "recognizer", "default_model", "stream_eval", "gates"}
    assert not [name for name, s in sections.items() if "error" in s]
    model_sections = {"default_model", "stream_eval"}
    for name, section in sections.items():
        if name in model_sections and not DEFAULT_MODEL.is_file():
            assert "skipped" in section
        else:
            assert "skipped" not in section, (name, section.get("skipped"))

    features = sections["features"]
    assert features["frames_per_clip"]["ours"] == 98
    assert features["ours_clips_per_s"] > 0 and features["librosa_clips_per_s"] > 0
    assert {(r["device"], r["cell"].split(",")[0]) for r in sections["training"]["runs"]} >= {("cpu", "rnn"), ("cpu", "lstm"), ("cpu", "gru")}
    modes = {r["mode"] for r in sections["recognizer"]["runs"]}
    assert modes == {"stream", "window"}
    gates = sections["gates"]
    assert [r["cell"] for r in gates["runs"]] == ["rnn", "lstm", "gru"]
    for run in gates["runs"]:
        assert len(run["gradient"]["magnitude"]) == 98 and run["gradient"]["magnitude"][0] > 0
    assert Path(gates["plot"]).read_bytes()[:4] == b"\x89PNG"
    if DEFAULT_MODEL.is_file():
        assert sections["default_model"]["table"]["parameters"] > 0
        assert sections["stream_eval"]["summary"]["targets"] > 0

    table = (tmp_path / "latest.md").read_text()
    for title in ("## Feature extraction", "## Training throughput", "## Streaming recognizer cost",
                  "## Why gates matter"):
        assert title in table
    assert "quick" in table and "| cell |" in table
