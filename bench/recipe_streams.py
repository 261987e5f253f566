"""Live recognition of a recipe-built model on its recipe's held-out speakers: validation streams to
choose settings on, test streams for the record.

    .venv/bin/python -m bench.recipe_streams MODEL --data-root ../shared/data [--split validation]
        [--noise NAME ...] [--minutes 10] [--hours 1] [--json OUT.json]

The model's own recipe (recorded in it by ``bench.build_default_model``) decides the speakers: the
words of the split's speakers in every source, with other words of theirs as distractors
(``speechrnn.recipes.held_out_view``). Over each noise, plus babble and a steady hum made from those
speakers' other words, one stream of ``--minutes`` at 10 dB SNR, then ``--hours`` of each noise alone
(every detection there is a false accept): ``speechrnn stream-eval``'s figures and table.

The noise of the validation streams is the recipe's ``validation_noises``: recordings that the
model never trained on (leave-one-noise-out; ``--set validation_noises=(...)`` at training), so a
network that merely fits the training noises better is not chosen. The test streams take the
recipe's held-out test noises (``speechrnn.recipes.TEST_NOISES``). ``--noise`` names other
recordings of the noise folder for the validation streams (never a test noise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_WORK = Path("~/.cache/speechrnn/bench/recipe_streams")
SPLITS = ("validation", "testing")
MINUTES = 10.0  # per noise
NOISE_ONLY_HOURS = 1.0  # per noise
SNR_DB = 10.0


def split_noises(recipe, split: str, names: tuple[str, ...] = ()) -> Path:
    """The noise folder of ``split``'s streams: the held-out test noises, or the recipe's
    ``validation_noises`` (``names`` instead, when given)."""
    import dataclasses

    from speechrnn.errors import DataError
    from speechrnn.recipes import noise_folders, validation_noise_folder

    if split == "testing":
        if names:
            raise DataError("--noise chooses the validation streams' noise; the test streams take the held-out "
                            "test noises")
        return noise_folders(recipe)[1]
    chosen = dataclasses.replace(recipe, validation_noises=tuple(names)) if names else recipe
    if not chosen.validation_noises:
        raise DataError(f"the {recipe.NAME} recipe of this model left no noise out of training "
                        "(validation_noises): name one with --noise (one it did not train on, if any)")
    return validation_noise_folder(chosen)


def recipe_streams(model: Path, data_root: Path, work: Path, split: str, noises: tuple[str, ...] = (),
                   minutes: float = MINUTES, hours: float = NOISE_ONLY_HOURS, seed: int = 0, detector=None):
    """Events of building and running the streams; ``Finished(StreamEvalResult)``. ``detector``: a
    ``DetectorConfig`` (None = the defaults)."""
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.data.background import with_room_noises
    from speechrnn.errors import DataError
    from speechrnn.recipes import Recipe, held_out_view
    from speechrnn.stream_eval import StreamConfig, stream_eval

    ckpt = load_checkpoint(model)
    recorded = ckpt.data.get("recipe")
    if not recorded:
        raise DataError(f"{model}: no recipe recorded (built by bench.build_default_model?): its speakers are unknown")
    recipe = Recipe.from_dict(recorded, data_root=str(data_root), work_dir=str(work / recorded["name"]))
    words = held_out_view(recipe, recipe.work / f"words_{split}", split)
    noise = with_room_noises(split_noises(recipe, split, noises), words, recipe.work / f"room_{split}", seed,
                             set(ckpt.labels))
    config = StreamConfig(minutes=minutes, snr_db=SNR_DB, seed=seed, noise_only_hours=hours)
    return (yield from stream_eval(model, words, noise, config, detector=detector))


def main(argv: list[str] | None = None) -> int:
    from speechrnn.cli.listen import add_detector_arguments, detector_config_from_args
    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError

    parser = argparse.ArgumentParser(prog="python -m bench.recipe_streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model built by bench.build_default_model")
    parser.add_argument("--data-root", type=Path, required=True, help="the recipe's data folder (../shared/data)")
    parser.add_argument("--split", choices=SPLITS, default="validation", help="whose speakers (default validation)")
    parser.add_argument("--noise", action="append", default=[], metavar="NAME",
                        help="validation streams: this recording of the noise folder instead of the recipe's "
                             "validation_noises (repeatable; never a test noise)")
    parser.add_argument("--minutes", type=float, default=MINUTES, help=f"per noise (default {MINUTES:g})")
    parser.add_argument("--hours", type=float, default=NOISE_ONLY_HOURS,
                        help=f"of each noise alone (default {NOISE_ONLY_HOURS:g})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK, help=f"derived folders (default {DEFAULT_WORK})")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    add_detector_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = consume(recipe_streams(args.model, args.data_root.expanduser(), args.work_dir.expanduser(),
                                        args.split, tuple(args.noise), args.minutes, args.hours, args.seed,
                                        detector_config_from_args(args)))
    except SpeechRNNError as exc:
        print(f"recipe_streams: error: {exc}", file=sys.stderr)
        return 2
    print(result.table())
    if args.json:
        from speechrnn.evaluate import write_json_atomic

        write_json_atomic(args.json, result.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
