"""Training on a CUDA GPU, checked and timed: ``python -m bench.cuda_check [--out DIR]``.

Three parts, for a machine with a GPU (CI and the team's machines have none):
1. the CUDA tests (``tests/test_cuda.py`` and the augmentation's GPU-against-CPU test);
2. training throughput of the real per-batch path (``measure_training_throughput``, as the
   ``training`` section of ``bench.run``) for each cell, float32 and bfloat16, GPU and CPU;
3. end to end: a 2 x 128 GRU trained by :func:`speechrnn.training.train` with the default (stream)
   objective on generated two-tone "words" of many speakers, on the GPU and on the CPU: seconds
   per epoch, samples/s and the held-out accuracy reached.

Prints a Markdown table (what BENCHMARKS.md's GPU section quotes) and writes ``cuda_check.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import REPO

CUDA_TESTS = ("tests/test_cuda.py", "tests/test_augment.py::test_gpu_batches_match_cpu_batches")
CELLS = ("rnn", "lstm", "gru")
HIDDEN, LAYERS, BATCH = 128, 2, 256
THROUGHPUT_SECONDS = 8.0
END_TO_END_SPEAKERS = 1000  # x 4 words: 4,000 clips, 2,400 of them training
END_TO_END_EPOCHS = 3  # the first holds start-up costs; the rate is the mean of the others
PYTEST_TIMEOUT_S = 900


def run_tests() -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *CUDA_TESTS],
                          cwd=REPO, capture_output=True, text=True, timeout=PYTEST_TIMEOUT_S)
    print(done.stdout[-4000:], done.stderr[-2000:], flush=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
    return {"exit_status": done.returncode, "summary": summary, "seconds": time.perf_counter() - started}


def throughput_rows(devices: list[str]) -> list[dict]:
    from speechrnn.training import measure_training_throughput

    rows = []
    for device in devices:
        for cell in CELLS:
            for precision in ("float32", "bfloat16"):
                try:
                    rate = measure_training_throughput(cell=cell, hidden=HIDDEN, layers=LAYERS, batch_size=BATCH,
                                                       seconds=THROUGHPUT_SECONDS, device=device,
                                                       precision=precision, measure_kernel=True)
                    rows.append({"device": device, "cell": cell, "precision": precision, "samples_per_s": rate})
                except RuntimeError as exc:  # e.g. a bfloat16 LSTM on a CPU without oneDNN's kernels
                    rows.append({"device": device, "cell": cell, "precision": precision, "error": str(exc)[:200]})
                print(rows[-1], flush=True)
    return rows


def end_to_end(device: str, precision: str, data: Path, cache: Path, out: Path) -> dict:
    from test_train import FEATURES, WORD_TONES_HZ, spec_of

    from speechrnn.data.augment import AugmentConfig
    from speechrnn.events import EpochEnd, Finished
    from speechrnn.model import ModelConfig
    from speechrnn.training import TrainConfig, train

    config = TrainConfig(epochs=END_TO_END_EPOCHS, device=device, precision=precision, objective="stream")
    model = ModelConfig(num_classes=len(WORD_TONES_HZ) + 1, hidden=HIDDEN, layers=LAYERS)
    epoch_seconds, rates, result = [], [], None
    last = time.perf_counter()
    for event in train(spec_of(data, include_silence=True), FEATURES, model, AugmentConfig(), config, out,
                       cache_dir=cache):
        if isinstance(event, EpochEnd):
            now = time.perf_counter()
            epoch_seconds.append(now - last)
            rates.append(event.metrics.get("samples_per_s", 0.0))
            last = now
        elif isinstance(event, Finished):
            result = event.result
    later = slice(1, None) if len(rates) > 1 else slice(None)
    return {"device": device, "precision": precision, "epochs": len(rates),
            "seconds_per_epoch": sum(epoch_seconds[later]) / len(epoch_seconds[later]),
            "samples_per_s": sum(rates[later]) / len(rates[later]),
            "best_val_acc": result.metrics.get("best_val_acc"), "test_accuracy": result.metrics.get("test_accuracy")}


def table(report: dict) -> str:
    lines = [f"GPU: {report['gpu']}; torch {report['torch']}; CPU threads {report['cpu_threads']}", "",
             f"CUDA tests: {report['tests']['summary']} (exit status {report['tests']['exit_status']})", "",
             f"| device | cell | precision | training samples/s (batch {BATCH}, {HIDDEN}x{LAYERS}) |", "|---|---|---|---|"]
    for row in report["throughput"]:
        value = f"{row['samples_per_s']:,.0f}" if "samples_per_s" in row else f"fails: {row['error']}"
        lines.append(f"| {row['device']} | {row['cell']} | {row['precision']} | {value} |")
    lines += ["", "| end to end (stream objective, 2x128 GRU) | s per epoch | samples/s | best val. acc. | test acc. |",
              "|---|---|---|---|---|"]
    for row in report["end_to_end"]:
        lines.append(f"| {row['device']}, {row['precision']} | {row['seconds_per_epoch']:.1f} | "
                     f"{row['samples_per_s']:,.0f} | {row['best_val_acc']:.3f} | {row['test_accuracy']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cuda_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="folder for cuda_check.json")
    parser.add_argument("--skip-tests", action="store_true", help="time only")
    parser.add_argument("--cpu-only", action="store_true", help="the CPU rows alone (a reference on a machine "
                        "without a GPU)")
    args = parser.parse_args(argv)
    import torch

    if not args.cpu_only and not torch.cuda.is_available():
        print("bench.cuda_check: no CUDA GPU here (use --cpu-only for the CPU rows)", file=sys.stderr)
        return 2
    devices = ["cpu"] if args.cpu_only else ["cuda", "cpu"]
    report = {"gpu": None if args.cpu_only else torch.cuda.get_device_name(0), "torch": torch.__version__,
              "cpu_threads": torch.get_num_threads()}
    report["tests"] = ({"exit_status": None, "summary": "not run", "seconds": 0.0} if args.skip_tests or args.cpu_only
                       else run_tests())
    report["throughput"] = throughput_rows(devices)
    sys.path.insert(0, str(REPO / "tests"))  # the tone "words" of the training tests
    from test_train import make_tone_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = make_tone_dataset(Path(tmp) / "data", speakers=END_TO_END_SPEAKERS)
        runs = [(d, p) for d in devices for p in ("float32", "bfloat16")]
        report["end_to_end"] = []
        for device, precision in runs:
            report["end_to_end"].append(end_to_end(device, precision, data, Path(tmp) / "cache",
                                                   Path(tmp) / f"run-{device}-{precision}"))
            print(report["end_to_end"][-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cuda_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(report))
    return 0 if report["tests"]["exit_status"] in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
