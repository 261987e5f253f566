"""Run the benchmark suite on this machine: ``python -m bench.run [--quick] [--out bench/results]``.

Writes ``OUT/bench-<date>.json`` and ``.md`` plus ``OUT/latest.json`` / ``latest.md``;
``--update-benchmarks`` also replaces BENCHMARKS.md with the table (full runs only).
Sections: features, training, recognizer, default_model, stream_eval, gates, synthetic, data_scale (``--only``
picks some).
A section that cannot run here (no data, no GPU, ...) is recorded as skipped with the reason; one
that fails is recorded with its error and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.context import REPO, BenchContext, Skipped
from bench.machine import describe_machine
from bench.report import render

SECTIONS = ("features", "training", "recognizer", "default_model", "stream_eval", "stream_drift", "gates", "synthetic",
            "data_scale")
DEFAULT_OUT = REPO / "bench" / "results"
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"  # the team's data folder next to the checkout
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
TRACKED_PLOT = REPO / "docs" / "gradients.png"  # the gradient plot BENCHMARKS.md shows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="correctness-only short mode (CI): toy sizes, seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder (default {DEFAULT_OUT})")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with fsdd/, speech_commands_sample/, speech_commands_background_noise/ "
                             f"(default {DEFAULT_DATA_ROOT}; quick mode uses tests/data)")
    parser.add_argument("--model", type=Path, default=None, help="model for the default-model sections "
                        "(default assets/default_model.pt)")
    parser.add_argument("--only", default=None, help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--update-benchmarks", action="store_true", help="also write the table to BENCHMARKS.md")
    return parser.parse_args(argv)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_sections(ctx: BenchContext, names: tuple[str, ...]) -> tuple[dict, bool]:
    """Each section's result (or skip reason / error); True when none failed."""
    sections, ok = {}, True
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = importlib.import_module(f"bench.{name}").run(ctx)
        except Skipped as exc:
            result = {"skipped": str(exc)}
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            ok = False
        result["seconds"] = time.perf_counter() - start
        sections[name] = result
        status = result.get("skipped") or result.get("error") or "done"
        print(f"[bench] {name}: {status} ({result['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return sections, ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = tuple(args.only.split(",")) if args.only else SECTIONS
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"bench: unknown sections {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    data_root = args.data_root or (None if args.quick else DEFAULT_DATA_ROOT)
    with tempfile.TemporaryDirectory(prefix="speechrnn-bench-") as work:
        ctx = BenchContext(quick=args.quick, out_dir=args.out, work_dir=Path(work), data_root=data_root,
                           seed=args.seed)
        if args.model:
            ctx.default_model = args.model
        results = {
            "quick": args.quick,
            "command": "python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "machine": describe_machine(),
        }
        results["sections"], ok = run_sections(ctx, names)
    stamp = results["machine"]["date"].replace(":", "").replace("+0000", "Z")
    text = json.dumps(results, indent=1, default=str)
    table = render(results, args.out)
    for stem in (f"bench-{stamp}", "latest"):
        _write_atomic(args.out / f"{stem}.json", text)
        _write_atomic(args.out / f"{stem}.md", table)
    if args.update_benchmarks and not args.quick:
        plot = results["sections"].get("gates", {}).get("plot")
        if plot:  # bench/results/ is not in git: BENCHMARKS.md links a tracked copy
            TRACKED_PLOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plot, TRACKED_PLOT)
            results["sections"]["gates"]["plot"] = str(TRACKED_PLOT)
        _write_atomic(BENCHMARKS_MD, render(results, BENCHMARKS_MD.parent))
    print(table)
    print(f"[bench] results in {args.out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
