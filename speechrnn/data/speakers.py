"""Speaker-disjoint splits across several folders.

:func:`speechrnn.data.layout.split_clips` splits each folder on its own: by its split lists, else
by the speaker hash. The same Speech Commands speaker (hash id) can be in several folders, e.g. in
the testing list of ``speech_commands_v2_testset_half`` and, by hash, in the training split of
another folder: trained on in one folder, tested in the other. :func:`combined_speaker_splits`
gives every speaker one split over all folders, and :func:`write_split_view` writes a folder of
links whose split lists place each clip by that split, which the loader honours as it is.

Rule: a speaker found in a folder with split lists takes the split the lists give it (clips not
listed in a folder with both lists train); when lists disagree, the most held-out split wins
(testing, then validation, then train), so a test speaker never trains. Speakers found in no
listed folder take the speaker hash. The lists win over the hash because the hash is what chose
the official test speakers: it would move nearly every speaker of an official test folder who
also appears elsewhere out of training.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from speechrnn.atomic import write_text_atomic
from speechrnn.data.layout import (
    SPLITS,
    TESTING_LIST,
    VALIDATION_LIST,
    Clip,
    assign_split,
    is_label_dir,
    read_split_lists,
    scan_folder,
    split_clips,
)
from speechrnn.errors import DataError

HELD_OUT_RANK = {split: rank for rank, split in enumerate(SPLITS)}  # train < validation < testing
# Files linked into a view beside the label folders: the licenses the trainer records.
VIEW_INFO_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "ATTRIBUTION.txt", "ATTRIBUTION.md", "README.md",
                   "MANIFEST.csv")


def _more_held_out(a: str | None, b: str) -> str:
    return b if a is None or HELD_OUT_RANK[b] > HELD_OUT_RANK[a] else a


def listed_speaker_splits(root: Path, clips: Sequence[Clip]) -> dict[str, str]:
    """The splits that ``root``'s lists give its speakers (``{}`` for a folder without lists).

    With both lists, unlisted clips are training clips; with one list only, unlisted clips do not
    decide (the loader hashes them).
    """
    lists = read_split_lists(root)
    if not lists:
        return {}
    both = len(lists) == len(SPLITS) - 1
    out: dict[str, str] = {}
    for clip in clips:
        relative = f"{clip.path.parent.name}/{clip.path.name}"
        if relative in lists.get("validation", ()):
            split = "validation"
        elif relative in lists.get("testing", ()):
            split = "testing"
        elif both:
            split = "train"
        else:
            continue
        out[clip.speaker] = _more_held_out(out.get(clip.speaker), split)
    return out


def combined_speaker_splits(folders: Mapping[Path, Sequence[Clip]], validation_pct: float,
                            testing_pct: float) -> dict[str, str]:
    """speaker -> split over all ``folders`` (folder -> its clips), by the rule in the module doc."""
    listed: dict[str, str] = {}
    for root, clips in folders.items():
        for speaker, split in listed_speaker_splits(root, clips).items():
            listed[speaker] = _more_held_out(listed.get(speaker), split)
    out = {}
    for clips in folders.values():
        for clip in clips:
            if clip.speaker not in out:
                out[clip.speaker] = listed.get(clip.speaker) or assign_split(clip.speaker, validation_pct, testing_pct)
    return out


def write_split_view(root: Path, view: Path, speaker_split: Mapping[str, str],
                     exclude_labels: Iterable[str] = ()) -> Path:
    """``view``: links to ``root``'s label folders (minus ``exclude_labels``) and its license files,
    with both split lists placing every clip by ``speaker_split`` (unlisted clips train).

    Name ``view`` like ``root`` so that per-source reports keep the folder's name. Rewrites the
    lists on every call; links that are no longer wanted are removed.
    """
    root, view = Path(root).absolute(), Path(view)
    excluded = set(exclude_labels)
    view.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in root.iterdir() if is_label_dir(p) and p.name not in excluded}
    wanted.update({name: root / name for name in VIEW_INFO_FILES if (root / name).is_file()})
    for entry in view.iterdir():
        if entry.name in (VALIDATION_LIST, TESTING_LIST):
            continue
        if entry.name not in wanted or not entry.is_symlink() or Path(os.readlink(entry)) != wanted[entry.name]:
            if entry.is_dir() and not entry.is_symlink():
                raise DataError(f"{entry}: a real folder inside the split view {view}; remove it")
            entry.unlink()
    for name, target in wanted.items():
        if not (view / name).is_symlink():
            (view / name).symlink_to(target, target_is_directory=target.is_dir())
    lines: dict[str, list[str]] = {"validation": [], "testing": []}
    for clip in scan_folder(view):
        split = speaker_split.get(clip.speaker)
        if split is None:
            raise DataError(f"{clip.path}: speaker {clip.speaker!r} has no split")
        if split in lines:
            lines[split].append(f"{clip.path.parent.name}/{clip.path.name}")
    for split, name in (("validation", VALIDATION_LIST), ("testing", TESTING_LIST)):
        write_text_atomic(view / name, "".join(line + "\n" for line in lines[split]))
    return view


def folder_splits(root: Path, validation_pct: float, testing_pct: float) -> list[tuple[Clip, str]]:
    """Each clip of ``root`` with the split the loader gives it (:func:`split_clips`)."""
    clips = scan_folder(root)
    return list(zip(clips, split_clips(clips, root, validation_pct, testing_pct)))


def speakers_in_several_splits(folders: Iterable[Path], validation_pct: float,
                               testing_pct: float) -> dict[str, dict[str, set[str]]]:
    """Speakers that the loader places in more than one split across ``folders``:
    ``{speaker: {split: {folder names}}}`` (empty when the folders are speaker-disjoint)."""
    seen: dict[str, dict[str, set[str]]] = {}
    for root in folders:
        for clip, split in folder_splits(root, validation_pct, testing_pct):
            seen.setdefault(clip.speaker, {}).setdefault(split, set()).add(Path(root).name)
    return {speaker: splits for speaker, splits in seen.items() if len(splits) > 1}


def split_counts(folders: Iterable[Path], validation_pct: float, testing_pct: float,
                 labels: Iterable[str] | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """``{folder name: {split: {"clips": n, "speakers": m}}}`` as the loader splits the folders;
    with ``labels``, only clips of those label folders count."""
    wanted = set(labels) if labels is not None else None
    out: dict[str, dict[str, dict[str, int]]] = {}
    for root in folders:
        clips: dict[str, int] = {split: 0 for split in SPLITS}
        speakers: dict[str, set[str]] = {split: set() for split in SPLITS}
        for clip, split in folder_splits(root, validation_pct, testing_pct):
            if wanted is None or clip.label in wanted:
                clips[split] += 1
                speakers[split].add(clip.speaker)
        out[Path(root).name] = {split: {"clips": clips[split], "speakers": len(speakers[split])} for split in SPLITS}
    return out
