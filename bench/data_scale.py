"""Scale check of the data path: decode and cache every clip of the shared data from a cold cache.

    .venv/bin/python -m bench.data_scale --data-root ../shared/data [--json out.json]

Runs ``speechrnn.data.cache.prepare_data`` (what training and evaluation use) on all dataset
folders under the data root (FSDD, the Speech Commands folders; noise folders too), in a fresh
subprocess each time so that peak resident memory (``ru_maxrss``) is this work's alone: once with
an empty cache folder (every clip decoded, resampled and written once), once more with the filled
cache (what every later run pays). Reports clips/s per source and overall, peak RSS, and the
extrapolation to full Speech Commands v2 (105,829 clips). The operating system's file cache is not
dropped (that needs root): "cold" means an empty speechrnn cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import REPO, TEST_DATA, BenchContext, Skipped

KIB = 1024  # ru_maxrss is in KiB on Linux
MIB = 2**20


def data_spec(data_root: Path):
    """Every dataset folder under ``data_root`` (sub-folders with label folders: FSDD, the Speech
    Commands folders) with each label folder a class, nothing sampled away (no task), split by the
    folders' lists or the speaker hash; folders of loose audio files are noise."""
    from speechrnn.data.layout import audio_files_in, is_audio_file, is_label_dir
    from speechrnn.data.spec import DataSpec

    sources, noise = [], []
    for folder in sorted(p for p in data_root.iterdir() if p.is_dir()):
        if any(is_label_dir(p) for p in folder.iterdir()):
            sources.append(folder)
        elif any(is_audio_file(p) for p in folder.iterdir()):
            audio_files_in(folder)
            noise.append(folder)
    if not sources:
        raise Skipped(f"{data_root}: no dataset folders (ROOT/<dataset>/<label>/*.wav)")
    return DataSpec(sources=tuple(str(s) for s in sources), include_silence=False, include_unknown=False,
                    noise_dirs=tuple(str(n) for n in noise))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(data_root: Path, cache_dir: Path) -> dict:
    """One ``prepare_data`` pass in this process: seconds per decode stage and in all, clips, peak RSS."""
    import torch  # noqa: F401 - imported before the baseline, as a training run has it

    from speechrnn.data.cache import prepare_data
    from speechrnn.events import Finished, Progress, Stage
    from speechrnn.features import FeatureConfig

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB
    spec = data_spec(data_root)
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    stages: list[dict] = []
    prepared = None
    for event in prepare_data(spec, FeatureConfig(), cache_dir):
        now = time.perf_counter()
        if stages and "end" not in stages[-1] and not (isinstance(event, Progress) and event.stage == "decode"):
            stages[-1]["end"] = now
        if isinstance(event, Stage) and event.name == "decode":
            stages.append({"source": event.description.split(" of ", 1)[1].split(" once", 1)[0], "start": now})
        elif isinstance(event, Progress) and event.stage == "decode":
            stages[-1]["clips"] = event.total
            stages[-1]["end"] = now
        elif isinstance(event, Finished):
            prepared = event.result
    seconds = time.perf_counter() - start
    cpu_seconds = _cpu_seconds() - cpu_start
    clips = sum(len(prepared.split(s)) for s in ("train", "validation", "testing"))
    decode = [{"source": s["source"], "clips": s.get("clips", 0), "seconds": s["end"] - s["start"]} for s in stages]
    return {
        "clips": clips,
        "seconds": seconds,
        "clips_per_s": clips / seconds,
        "cpu_seconds": cpu_seconds,  # all threads: what the work costs when the machine is shared
        "decode": decode,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB,
        "baseline_rss_bytes": baseline,
        "skipped": len(prepared.skipped),
        "threads": os.cpu_count(),
    }


def _in_fresh_process(data_root: Path, cache_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "bench.data_scale", "--data-root", str(data_root),
                           "--cache-dir", str(cache_dir), "--one-pass"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"data_scale pass failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scale_check(data_root: Path, cache_dir: Path) -> dict:
    """Cold and warm passes (fresh processes) and the extrapolation to full Speech Commands v2."""
    from speechrnn.data.cache import SPEECH_COMMANDS_V2_CLIPS, estimate_peak_ram_bytes
    from speechrnn.features import FeatureConfig

    cold = _in_fresh_process(data_root, cache_dir)
    warm = _in_fresh_process(data_root, cache_dir)
    per_clip = (cold["peak_rss_bytes"] - cold["baseline_rss_bytes"]) / cold["clips"]
    v2 = SPEECH_COMMANDS_V2_CLIPS
    return {
        "note": f"All clips under the data root through prepare_data (decode, resample to 16 kHz, cache, split), "
                f"each pass in a fresh process, {cold['threads']} decode threads; cold = empty speechrnn cache (the "
                "OS file cache is not dropped). CPU s: user + system time of all threads (the cost on a shared "
                "machine). Full Speech Commands v2 extrapolated linearly from these rates.",
        "cold": cold,
        "warm": warm,
        "full_v2": {
            "clips": v2,
            "cold_minutes": v2 / cold["clips_per_s"] / 60,
            # the same work on otherwise idle cores: CPU time per clip spread over the decode threads
            "cold_minutes_idle_cpus": v2 * cold["cpu_seconds"] / cold["clips"] / cold["threads"] / 60,
            "warm_seconds": v2 / warm["clips_per_s"],
            "peak_rss_bytes": cold["baseline_rss_bytes"] + per_clip * v2,
            "estimate_peak_ram_bytes": estimate_peak_ram_bytes(v2, FeatureConfig().clip_samples),
        },
    }


def run(ctx: BenchContext) -> dict:
    """bench.run section: the scale check on ``--data-root`` (quick mode: the clips in tests/data)."""
    return scale_check(TEST_DATA if ctx.quick else ctx.require_data(), ctx.work_dir / "data_scale_cache")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True, help="folder holding fsdd/, speech_commands_*/")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: a new temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    parser.add_argument("--one-pass", action="store_true", help=argparse.SUPPRESS)  # the measuring child
    args = parser.parse_args(argv)
    if args.one_pass:
        print(json.dumps(measure(args.data_root, args.cache_dir)))
        return 0
    with tempfile.TemporaryDirectory(prefix="speechrnn-data-scale-") as tmp:
        result = scale_check(args.data_root, args.cache_dir or Path(tmp))
    from bench.report import _data_scale

    print("\n".join(_data_scale(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
