"""Where the numbers were measured: machine, CPU, threads, GPU, library versions, date, commit."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def describe_machine() -> dict:
    import numpy
    import torch
    import torchaudio

    import speechrnn

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": {
            "speechrnn": speechrnn.__version__,
            "torch": torch.__version__,
            "torchaudio": torchaudio.__version__,
            "numpy": numpy.__version__,
        },
        "commit": git_commit(),
    }
    try:
        from importlib.metadata import version

        info["versions"]["librosa"] = version("librosa")
    except Exception:  # librosa metadata missing: the feature section says so itself
        pass
    return info
