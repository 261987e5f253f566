"""The one dataset layout, Speech Commands' own, and its speaker-disjoint splits.

``ROOT/<label>/*.{wav,flac,ogg,mp3}``, optional ``ROOT/validation_list.txt`` and
``ROOT/testing_list.txt`` (paths ``<label>/<file>`` relative to ROOT), optional
``ROOT/_background_noise_/`` with long noise recordings. Folders starting with ``_`` or ``.`` are
not labels, except ``_silence_`` and ``_unknown_`` (the official test archive ships those).

Without lists, clips are split by speaker with the stable hash of TensorFlow's
``speech_commands/input_data.py`` (``which_set``), so a speaker is never in two splits and adding
files never moves existing ones between splits.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from speechrnn.audio.io import AUDIO_EXTENSIONS
from speechrnn.data.spec import SILENCE, UNKNOWN
from speechrnn.errors import DataError

BACKGROUND_NOISE_DIR = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
NOHASH_MARKER = "_nohash_"
# TF's input_data.py: hash modulo this (about 134M, more clips than any class will hold) keeps a
# file's split stable when files are added.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
SPLITS = ("train", "validation", "testing")
# Special folders kept as labels although they start with "_" (official v2 test archive).
SPECIAL_LABEL_DIRS = (SILENCE, UNKNOWN)
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>.+)_(?P<take>\d+)$")


@dataclass(frozen=True)
class Clip:
    """One labelled audio file. ``source`` names the dataset it came from (per-source reports)."""

    path: Path
    label: str
    speaker: str
    source: str


def speaker_of(path: Path) -> str:
    """Speaker id: the part before ``_nohash_``, else FSDD's ``<label>_<speaker>_<n>``, else the stem."""
    stem = Path(path).stem
    if NOHASH_MARKER in stem:
        return stem.split(NOHASH_MARKER, 1)[0]
    match = FSDD_NAME.match(stem)
    if match and match["label"] == Path(path).parent.name:
        return match["speaker"]
    return stem


def split_percentage(speaker: str) -> float:
    """TF's ``which_set`` hash of a speaker id, as a number in [0, 100]."""
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    return (digest % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)


def assign_split(speaker: str, validation_pct: float, testing_pct: float) -> str:
    """``"train"``, ``"validation"`` or ``"testing"`` for a speaker, stable across runs and machines."""
    percentage = split_percentage(speaker)
    if percentage < validation_pct:
        return "validation"
    if percentage < validation_pct + testing_pct:
        return "testing"
    return "train"


def is_label_dir(path: Path) -> bool:
    name = path.name
    if name in SPECIAL_LABEL_DIRS:
        return path.is_dir()
    return path.is_dir() and not name.startswith(("_", "."))


def _is_audio_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def is_audio_file(path: Path) -> bool:
    return path.is_file() and _is_audio_name(path.name)


def scan_folder(root: Path, source: str | None = None) -> list[Clip]:
    """All clips under ``root/<label>/``, sorted by label and path; DataError if there are none."""
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise DataError(f"{root}: data folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: is a file, not a data folder (expected ROOT/<label>/*.wav)")
    source = source or root.name
    clips = []
    try:
        label_dirs = sorted(p for p in root.iterdir() if is_label_dir(p))
        for label_dir in label_dirs:
            with os.scandir(label_dir) as entries:  # scandir: file types without a stat per file
                names = sorted(e.name for e in entries if e.is_file() and _is_audio_name(e.name))
            for name in names:
                path = label_dir / name
                clips.append(Clip(path, label_dir.name, speaker_of(path), source))
    except PermissionError as exc:
        raise DataError(f"{exc.filename}: permission denied while scanning the data folder") from None
    if not clips:
        raise DataError(f"{root}: no audio files in ROOT/<label>/ folders (expected e.g. {root}/yes/clip.wav)")
    return clips


def clips_by_word(folder: Path) -> dict[str, list[Path]]:
    """A dataset folder's clips per word, sorted, as :func:`scan_folder` finds them ({} when none)."""
    try:
        clips = scan_folder(folder)
    except DataError:
        return {}
    by_word: dict[str, list[Path]] = {}
    for clip in clips:
        by_word.setdefault(clip.label, []).append(clip.path)
    return {word: sorted(paths) for word, paths in sorted(by_word.items())}


def background_noise_files(root: Path) -> list[Path]:
    """Audio files in ``root/_background_noise_/`` (empty if there is no such folder)."""
    folder = Path(root) / BACKGROUND_NOISE_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_audio_file(p))


def audio_files_in(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` (a noise folder given by the user); DataError if none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: noise folder does not exist")
    files = sorted(p for p in folder.iterdir() if is_audio_file(p))
    if not files:
        raise DataError(f"{folder}: no audio files in the noise folder")
    return files


def read_split_lists(root: Path) -> dict[str, set[str]]:
    """``{"validation": {...}, "testing": {...}}`` of ``label/file`` entries for lists that exist."""
    lists = {}
    for split, name in (("validation", VALIDATION_LIST), ("testing", TESTING_LIST)):
        path = Path(root) / name
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: cannot read the split list ({exc})") from None
            lists[split] = {line.strip().replace("\\", "/") for line in lines if line.strip()}
    return lists


MIN_SPEAKERS_FOR_SPEAKER_SPLIT = 3  # FSDD's 4 speakers still split by speaker


def split_clips(
    clips: list[Clip], root: Path, validation_pct: float, testing_pct: float, test_only: bool = False
) -> list[str]:
    """Split name for each clip: the lists in ``root`` where present, else the speaker hash.

    Listed files take their listed split; unlisted files go to train when both lists exist, and
    are hashed by speaker into train and the split whose list is missing otherwise. A folder of
    fewer than ``MIN_SPEAKERS_FOR_SPEAKER_SPLIT`` speakers (your own recordings) cannot be split by
    speaker - one speaker lands wholly in one split - so its takes are hashed instead: it trains
    and validates on the same people's other takes.
    """
    if test_only:
        return ["testing"] * len(clips)
    lists = read_split_lists(root)
    hashed_validation = 0.0 if "validation" in lists else validation_pct
    hashed_testing = 0.0 if "testing" in lists else testing_pct
    by_take = len({clip.speaker for clip in clips}) < MIN_SPEAKERS_FOR_SPEAKER_SPLIT
    splits = []
    for clip in clips:
        relative = f"{clip.path.parent.name}/{clip.path.name}"
        if relative in lists.get("validation", ()):
            splits.append("validation")
        elif relative in lists.get("testing", ()):
            splits.append("testing")
        else:
            key = relative if by_take else clip.speaker
            splits.append(assign_split(key, hashed_validation, hashed_testing))
    return splits


def training_overlap(data: dict, folder: str | Path) -> list[str]:
    """The training sources of a checkpoint (its ``data`` description) that share clips with ``folder``:
    the same folder, one inside the other. One line per source ("NAME (PATH)")."""
    try:
        target = Path(folder).expanduser().resolve()
    except OSError:
        return []
    found = []
    for source in data.get("sources", []) or []:
        path = source.get("path") if isinstance(source, dict) else None
        if not path:
            continue
        root = Path(path).expanduser().resolve()
        if root == target or root in target.parents or target in root.parents:
            found.append(f"{source.get('name') or root.name} ({root})")
    return found


def overlap_warning(sources: list[str]) -> str:
    """What to tell a user whose test folder holds clips the model trained on (:func:`training_overlap`)."""
    return ("The model was trained on clips of this folder: " + "; ".join(sources) + ". Its accuracy here "
            "overstates how it does on new voices; evaluate on a folder it has not learned from.")
