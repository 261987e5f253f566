"""``speechrnn gradients``: the vanishing-gradient plot of one or more trained models."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="For each model, the size of the gradient of the clip's class logit (after the last "
        "frame) with respect to each input frame, against the frame's distance from the output, "
        "averaged over clips of a folder. Compare rnn / lstm / gru: the gated cells carry the "
        "gradient much further back.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="checkpoint files (.pt) or bundled model names (digits, commands)")
    parser.add_argument("--data", required=True, help="folder in dataset layout (<label>/*.wav)")
    parser.add_argument("--out", default="gradients.png", help="PNG plot to write (default gradients.png)")
    parser.add_argument("--json", metavar="PATH", help="also write the curves as JSON")
    parser.add_argument("--max-clips", type=int, default=None, help="clips averaged per model (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed for choosing the clips (default 0)")
    parser.add_argument("--absolute", action="store_true",
                        help="plot absolute gradient norms instead of relative to the last frame")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.atomic import check_writable_file
    from speechrnn.bundled import resolve_model
    from speechrnn.gradients import DEFAULT_MAX_CLIPS, checkpoint_curve, plot_curves, save_curves_json

    for path in (args.out, args.json):
        if path:
            check_writable_file(path)  # before the measuring, not after it
    max_clips = args.max_clips or DEFAULT_MAX_CLIPS
    curves = [checkpoint_curve(resolve_model(model), args.data, max_clips, args.seed)
              for model in args.models]
    skipped = curves[0].info["skipped"] if curves else []  # every model reads the same clips
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable audio file{'s' if len(skipped) > 1 else ''} "
              f"(e.g. {skipped[0]})", file=sys.stderr)
    plot_curves(curves, args.out, relative=not args.absolute)
    print(f"{'model':40s} {'clips':>5s} {'reach (<1%)':>12s} {'rel@100ms':>10s} {'rel@500ms':>10s}")
    for curve in curves:
        reach = curve.reach_frames()
        reach_text = "beyond clip" if reach is None else f"{reach * curve.hop_ms:.0f} ms"
        rel = curve.relative
        at = [rel[min(rel.size - 1, round(ms / curve.hop_ms))] for ms in (100, 500)]
        print(f"{curve.name:40s} {curve.clips:5d} {reach_text:>12s} {at[0]:10.2e} {at[1]:10.2e}")
    print(f"plot: {args.out}")
    if args.json:
        save_curves_json(curves, args.json)
        print(f"json: {args.json}")
    return 0
