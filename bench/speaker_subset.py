"""A data root with only part of a recipe's training speakers: how accuracy grows with real voices.

    .venv/bin/python -m bench.speaker_subset --recipe commands --data-root ../shared/data \\
        --train-speakers-pct 25 --out /tmp/speakers25

writes ``OUT/<source>/<label>/<clip>`` links for every clip of the recipe's real sources except
those of the training speakers left out, with each source's license files and split lists (they
name validation and test clips only, all kept), and links the noise folder. A training speaker is
kept when a hash of its name falls in the lowest ``pct`` percent, so a smaller subset is always part
of a larger one. Validation and test speakers are the recipe's own, unchanged (the split of a
speaker depends on its name only), so every subset is scored on the same people:

    .venv/bin/python -m bench.build_default_model --recipe commands --data-root /tmp/speakers25 \\
        --work-dir /tmp/speakers25-work --validation-only ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

MARKER = "SPEAKER_SUBSET.json"  # marks a folder this tool wrote (and may replace)
HASH_BUCKETS = 10_000  # a speaker's place in 0..1 in steps of 1 / HASH_BUCKETS
PERCENT = 100.0


def speaker_fraction(speaker: str) -> float:
    """A stable place in [0, 1) for ``speaker`` (independent of the split's own hash)."""
    digest = hashlib.sha256(f"subset:{speaker}".encode()).hexdigest()
    return int(digest, 16) % HASH_BUCKETS / HASH_BUCKETS


def write_subset(recipe, train_speakers_pct: float, out: Path) -> dict[str, tuple[int, int]]:
    """Build the subset data root (see the module doc); ``{source: (training speakers kept, of)}``."""
    from speechrnn.data.layout import TESTING_LIST, VALIDATION_LIST, scan_folder
    from speechrnn.data.speakers import VIEW_INFO_FILES
    from speechrnn.errors import DataError
    from speechrnn.recipes import NOISE_DIR, speaker_splits

    if not 0 < train_speakers_pct <= PERCENT:
        raise DataError(f"--train-speakers-pct must be within (0, 100], not {train_speakers_pct:g}")
    splits = speaker_splits(recipe)
    if out.exists():
        if not (out / MARKER).is_file():
            raise DataError(f"{out}: exists and is not a speaker subset written by this tool; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    kept: dict[str, tuple[int, int]] = {}
    for name in recipe.SOURCES:
        root = recipe.root / name
        trained: set[str] = set()
        chosen: set[str] = set()
        for clip in scan_folder(root):
            if splits[clip.speaker] == "train":
                trained.add(clip.speaker)
                if speaker_fraction(clip.speaker) * PERCENT >= train_speakers_pct:
                    continue
                chosen.add(clip.speaker)
            link = out / name / clip.path.parent.name / clip.path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(clip.path.resolve())
        for info in VIEW_INFO_FILES + (VALIDATION_LIST, TESTING_LIST):
            if (root / info).is_file():
                shutil.copyfile(root / info, out / name / info)
        kept[name] = (len(chosen), len(trained))
    (out / NOISE_DIR).symlink_to((recipe.root / NOISE_DIR).resolve(), target_is_directory=True)
    (out / MARKER).write_text(json.dumps({"recipe": recipe.NAME, "data_root": str(recipe.root),
                                          "train_speakers_pct": train_speakers_pct, "kept": kept}, indent=1))
    return kept


def main(argv: list[str] | None = None) -> int:
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="python -m bench.speaker_subset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="commands")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--train-speakers-pct", type=float, required=True, metavar="PCT",
                        help="share of the recipe's training speakers kept (validation and test speakers: all)")
    parser.add_argument("--out", type=Path, required=True, help="the subset data root to write (a subset written before is replaced)")
    args = parser.parse_args(argv)
    try:
        # the speakers' splits read the sources only: the recipe's work dir is never touched
        recipe = RECIPES[args.recipe](data_root=str(args.data_root.expanduser()), work_dir=str(args.out))
        kept = write_subset(recipe, args.train_speakers_pct, args.out.expanduser())
    except SpeechRNNError as exc:
        print(f"speaker_subset: error: {exc}", file=sys.stderr)
        return 1
    for name, (chosen, of) in kept.items():
        print(f"{name}: {chosen} of {of} training speakers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
