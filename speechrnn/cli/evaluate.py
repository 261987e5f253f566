"""``speechrnn evaluate MODEL --data SOURCE``: accuracy, per-class metrics, confusion matrix.

Examples:

    speechrnn evaluate runs/gru12/best.pt --data speech-commands:v2-test
    speechrnn evaluate runs/digits/best.pt --data my/recordings --json eval.json --confusion-png eval.png
    speechrnn evaluate runs/digits/best.pt --data my/recordings --noise-dir noises/ --snr-db 10

A folder is scored whole (every clip) and, without --task/--words, every label folder in it is a
class; labels the model does not know count as _unknown_ if the model has that class.
"""

from __future__ import annotations

import argparse

from speechrnn.cli.train import add_feature_arguments, feature_overrides, parse_words

WRONG_SHOWN = 20  # misclassified files listed by default


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[0].split(": ", 1)[1] + "\n\n" + __doc__.split("\n\n", 1)[1])
    parser.add_argument("model",
                        help="checkpoint (.pt) written by speechrnn train, or a bundled model (digits, commands)")
    parser.add_argument("--data", action="append", required=True, metavar="SOURCE",
                        help="folder in Speech Commands layout, or speech-commands:v2-test (v1/v2: their test lists)")
    parser.add_argument("--task", choices=("12", "35", "digits"), help="score as this task (adds _silence_/_unknown_)")
    parser.add_argument("--words", help="comma-separated words to score (others -> _unknown_)")
    parser.add_argument("--split", choices=("all", "testing", "validation", "train"), default=None,
                        help="which clips: all (default for folders) or one split of the sources")
    parser.add_argument("--noise-dir", action="append", default=[], metavar="DIR",
                        help="also score with these noise recordings mixed in (needs --snr-db)")
    parser.add_argument("--snr-db", type=float, default=None, help="signal-to-noise ratio of the noisy scoring")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise mixing and silence examples")
    parser.add_argument("--json", metavar="PATH", help="write every metric as JSON (top-level 'accuracy')")
    parser.add_argument("--confusion-png", metavar="PATH", help="write the confusion matrix as a PNG")
    parser.add_argument("--show-wrong", type=int, default=WRONG_SHOWN, metavar="N",
                        help=f"list up to N misclassified files (default {WRONG_SHOWN}; all are in --json)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", metavar="DIR", help="where speech-commands:* live / are downloaded")
    parser.add_argument("--cache-dir", metavar="DIR", help="decoded-audio cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_feature_arguments(parser, "features (optional: checked against the model's)")
    parser.set_defaults(func=run)


def _print_result(result, show_wrong: int) -> None:
    from speechrnn.evaluate import wilson_interval

    low, high = wilson_interval(result.accuracy, result.clips)
    print(f"accuracy: {100 * result.accuracy:.2f} % on {result.clips} clips "
          f"(95 % CI {100 * low:.1f}-{100 * high:.1f} %), macro F1 {result.macro_f1:.3f}")
    if len(result.per_source) > 1:
        for source, values in result.per_source.items():
            print(f"  {source}: {100 * values['accuracy']:.2f} % ({values['clips']} clips)")
    if result.noisy is not None:
        print(f"with noise at {result.noisy['snr_db']:g} dB SNR: {100 * result.noisy['accuracy']:.2f} %")
        if len(result.noisy["per_source"]) > 1:
            for source, values in result.noisy["per_source"].items():
                print(f"  {source}: {100 * values['accuracy']:.2f} %")
    width = max(len(label) for label in result.labels)
    print(f"\n{'label':{width}}  precision  recall     f1  support")
    for label, values in result.per_class.items():
        if values["support"] or values["precision"]:
            print(f"{label:{width}}  {values['precision']:9.3f}  {values['recall']:6.3f}  {values['f1']:5.3f}  "
                  f"{values['support']:7d}")
    if result.wrong and show_wrong:
        print(f"\nmisclassified ({len(result.wrong)}):")
        for path, true, predicted, score in result.wrong[:show_wrong]:
            print(f"  {path}: {true} -> {predicted} ({score:.2f})")
        if len(result.wrong) > show_wrong:
            print(f"  ... and {len(result.wrong) - show_wrong} more")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from speechrnn.atomic import check_writable_file
    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError
    from speechrnn.evaluate import evaluate, plot_confusion, write_json_atomic

    if args.task and args.words:
        raise SpeechRNNError("give either --task or --words, not both")
    if args.noise_dir and args.snr_db is None:
        raise SpeechRNNError("--noise-dir needs --snr-db (the signal-to-noise ratio to mix the noise at)")
    for path in (args.json, args.confusion_png):
        if path:
            check_writable_file(path)  # before the scoring, not after it
    model = resolve_model(args.model)
    overrides = feature_overrides(args)
    features = None
    if overrides:
        checkpoint = load_checkpoint(model)
        try:
            features = dataclasses.replace(checkpoint.feature_config, **overrides)
        except ValueError as exc:
            raise SpeechRNNError(str(exc)) from None
    result = consume(evaluate(model, args.data, task=args.task, words=parse_words(args.words),
                              split=args.split, feature_config=features, noise_dirs=args.noise_dir,
                              snr_db=args.snr_db, seed=args.seed, device=args.device, cache_dir=args.cache_dir,
                              data_dir=args.data_dir), quiet=args.quiet)
    _print_result(result, args.show_wrong)
    if args.json:
        print(f"metrics: {write_json_atomic(args.json, result.to_dict())}")
    if args.confusion_png:
        print(f"confusion matrix: {plot_confusion(result, args.confusion_png)}")
    return 0
