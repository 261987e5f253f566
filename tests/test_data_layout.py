"""Dataset layout, speaker-disjoint splits, tasks and bad data folders (generated audio).

``make_dataset`` (also used by the cache and download tests) writes short tones in Speech Commands
layout: ``ROOT/<word>/<speaker>_nohash_<n>.wav``, a different pitch per word.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechrnn.data.cache import prepare_data
from speechrnn.data.layout import (
    assign_split,
    background_noise_files,
    scan_folder,
    speaker_of,
)
from speechrnn.data.spec import SILENCE, TASK_12_WORDS, UNKNOWN, DataSpec
from speechrnn.errors import DataError
from speechrnn.events import Message, run_to_end
from speechrnn.features import FeatureConfig

REPO_DATA = Path(__file__).parent / "data"
RATE_HZ = 16000
TONE_S = 0.25  # short files keep decoding fast; pad_or_crop brings them to one second
FEATURES = FeatureConfig()


def tone(frequency_hz: float, seconds: float = TONE_S, rate_hz: int = RATE_HZ) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return (0.5 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def write_tone(path: Path, frequency_hz: float, rate_hz: int = RATE_HZ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(frequency_hz, rate_hz=rate_hz), rate_hz, subtype="PCM_16")
    return path


def make_dataset(root: Path, words: tuple[str, ...], speakers: int, takes: int = 1,
                 noise: bool = False, speaker_prefix: str = "spk") -> Path:
    """Speech Commands layout with ``speakers`` speakers saying each word ``takes`` times."""
    for w, word in enumerate(words):
        for s in range(speakers):
            for n in range(takes):
                write_tone(root / word / f"{speaker_prefix}{s:03d}_nohash_{n}.wav", 200 + 50 * w)
    if noise:
        folder = root / "_background_noise_"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        sf.write(folder / "white.wav", (0.1 * rng.standard_normal(3 * RATE_HZ)).astype(np.float32), RATE_HZ)
    return root


def prepared(spec: DataSpec, cache_dir: Path):
    return run_to_end(prepare_data(spec, FEATURES, cache_dir))


def split_of_each_clip(data) -> dict[str, str]:
    return {str(c.path): split for split in ("train", "validation", "testing")
            for c in data.split(split).clips if c is not None}


# --- speakers and splits -------------------------------------------------------------------------

def test_speaker_of_follows_nohash_then_fsdd_then_stem():
    assert speaker_of(REPO_DATA / "speech_commands/yes/563aa4e6_nohash_2.wav") == "563aa4e6"
    assert speaker_of(REPO_DATA / "fsdd/0/0_jackson_0.wav") == "jackson"
    assert speaker_of(Path("7/7_yweweler_12.wav")) == "yweweler"
    assert speaker_of(Path("7/7_the_speaker_12.wav")) == "the_speaker"
    assert speaker_of(Path("yes/0_jackson_0.wav")) == "0_jackson_0"  # label part must match the folder
    assert speaker_of(Path("yes/my recording.flac")) == "my recording"


def tf_which_set(speaker: str, validation_pct: float, testing_pct: float) -> str:
    """The TensorFlow speech_commands example's which_set, restated from its source."""
    max_num_wavs_per_class = 2**27 - 1
    hashed = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    percentage = (hashed % (max_num_wavs_per_class + 1)) * (100.0 / max_num_wavs_per_class)
    if percentage < validation_pct:
        return "validation"
    if percentage < testing_pct + validation_pct:
        return "testing"
    return "train"


def test_assign_split_is_tensorflows_stable_hash():
    speakers = [f"{i:08x}" for i in range(0, 2000, 7)] + ["jackson", "nicolas", "563aa4e6"]
    for speaker in speakers:
        assert assign_split(speaker, 10, 10) == tf_which_set(speaker, 10, 10)
    shares = [assign_split(s, 10, 10) for s in speakers]
    assert 0.05 < shares.count("validation") / len(shares) < 0.15
    assert 0.05 < shares.count("testing") / len(shares) < 0.15


def test_splits_are_speaker_disjoint_and_stable_when_files_are_added(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no", "up"), speakers=30, takes=2)
    data = prepared(DataSpec((str(root),)), tmp_path / "cache")
    speaker_splits: dict[str, set[str]] = {}
    for split in ("train", "validation", "testing"):
        for clip in data.split(split).clips:
            speaker_splits.setdefault(clip.speaker, set()).add(split)
    assert len(speaker_splits) == 30
    assert all(len(splits) == 1 for splits in speaker_splits.values())
    assert len(data.train) > len(data.validation) > 0 and len(data.testing) > 0
    before = split_of_each_clip(data)

    make_dataset(root, ("yes", "no", "up", "down"), speakers=40, takes=3)  # new word, speakers, takes
    after = split_of_each_clip(prepared(DataSpec((str(root),)), tmp_path / "cache"))
    assert all(after[path] == split for path, split in before.items())


@pytest.mark.parametrize("speakers", [1, 2])
def test_one_or_two_speakers_recordings_are_split_by_take(tmp_path, speakers):
    """`speechrnn record` names every take `me_nohash_<n>`: a speaker split would put them all in one split."""
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=speakers, takes=30)
    data = prepared(DataSpec((str(root),)), tmp_path / "cache")
    sizes = {split: len(data.split(split)) for split in ("train", "validation", "testing")}
    assert sizes["train"] > 40 * speakers and sizes["validation"] > 0 and sum(sizes.values()) == 60 * speakers
    assert {clip.speaker for clip in data.train.clips} == {clip.speaker for clip in data.validation.clips}


def test_split_lists_are_honoured(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=10)
    (root / "validation_list.txt").write_text("yes/spk000_nohash_0.wav\nno/spk001_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk002_nohash_0.wav\n")
    data = prepared(DataSpec((str(root),)), tmp_path / "cache")
    names = {split: sorted(f"{c.label}/{c.path.name}" for c in data.split(split).clips)
             for split in ("train", "validation", "testing")}
    assert names["validation"] == ["no/spk001_nohash_0.wav", "yes/spk000_nohash_0.wav"]
    assert names["testing"] == ["yes/spk002_nohash_0.wav"]
    assert len(names["train"]) == 17


# --- scanning ------------------------------------------------------------------------------------

def test_scan_folder_reads_labels_and_skips_special_folders(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=2, noise=True)
    (root / ".hidden").mkdir()
    write_tone(root / ".hidden" / "x_nohash_0.wav", 300)
    write_tone(root / "_other" / "x_nohash_0.wav", 300)
    (root / "yes" / "notes.txt").write_text("not audio")
    write_tone(root / "loose.wav", 300)  # not in a label folder
    clips = scan_folder(root)
    assert sorted({c.label for c in clips}) == ["no", "yes"]
    assert len(clips) == 4 and all(c.source == "data" for c in clips)
    assert [p.name for p in background_noise_files(root)] == ["white.wav"]


def test_scan_folder_keeps_official_test_set_silence_and_unknown_folders(tmp_path):
    root = make_dataset(tmp_path / "test_set", ("yes", "no", SILENCE, UNKNOWN), speakers=2)
    assert sorted({c.label for c in scan_folder(root)}) == [SILENCE, UNKNOWN, "no", "yes"]


@pytest.mark.parametrize("make", ["missing", "empty", "file", "no_audio"])
def test_bad_data_folders_give_one_line_errors(tmp_path, make):
    root = tmp_path / "data"
    if make == "empty":
        root.mkdir()
    elif make == "file":
        root.write_text("x")
    elif make == "no_audio":
        (root / "yes").mkdir(parents=True)
        (root / "yes" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as error:
        scan_folder(root)
    assert str(root) in str(error.value) and "\n" not in str(error.value)


# --- tasks ---------------------------------------------------------------------------------------

def test_task_12_has_silence_unknown_and_the_standard_ten_percent(tmp_path):
    others = ("cat", "dog", "bed", "bird")
    root = make_dataset(tmp_path / "data", TASK_12_WORDS + others, speakers=30, noise=True)
    data = prepared(DataSpec((str(root),), task="12"), tmp_path / "cache")
    assert data.labels == [SILENCE, UNKNOWN, *TASK_12_WORDS]
    for split in ("train", "validation", "testing"):
        clipset = data.split(split)
        targets = clipset.targets.tolist()
        words = sum(t >= 2 for t in targets)
        assert targets.count(0) == math.ceil(words * 0.1) == int(clipset.is_silence.sum())
        assert targets.count(1) == math.ceil(words * 0.1)
        unknown = [c.label for c, t in zip(clipset.clips, targets) if t == 1]
        assert set(unknown) <= set(others)
    for split in ("train", "validation"):  # noise at a random volume, filled at preparation
        silence = data.split(split).waves[data.split(split).is_silence].float()
        assert float(silence.std()) > 0 and silence.std(dim=1).unique().numel() > 1


def test_unknown_by_word_gives_the_same_other_words_classes_of_their_own(tmp_path):
    others = ("cat", "dog", "bed", "bird")
    root = make_dataset(tmp_path / "data", TASK_12_WORDS + others, speakers=30, noise=True)
    lumped = prepared(DataSpec((str(root),), task="12"), tmp_path / "cache")
    by_word = prepared(DataSpec((str(root),), task="12", unknown_by_word=True), tmp_path / "cache")
    assert by_word.labels == [SILENCE, *TASK_12_WORDS, *sorted(others)]
    for split in ("train", "validation", "testing"):
        before, after = lumped.split(split), by_word.split(split)
        assert [c.path if c else None for c in after.clips] == [c.path if c else None for c in before.clips]
        for clip, target in zip(after.clips, after.targets.tolist()):
            assert by_word.labels[target] == (clip.label if clip else SILENCE)
    with pytest.raises(ValueError, match="unknown_by_word"):
        DataSpec((str(root),), task="35", unknown_by_word=True)


def test_task_35_and_no_task_make_every_folder_a_class(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no", "marvin"), speakers=12)
    for spec in (DataSpec((str(root),), task="35"), DataSpec((str(root),))):
        data = prepared(spec, tmp_path / "cache")
        assert data.labels == ["marvin", "no", "yes"]
        assert sum(len(data.split(s)) for s in ("train", "validation", "testing")) == 36


def test_explicit_words_and_switching_off_silence_and_unknown(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no", "up", "down"), speakers=12)
    data = prepared(DataSpec((str(root),), words=("up", "yes")), tmp_path / "cache")
    assert data.labels == [SILENCE, UNKNOWN, "up", "yes"]
    plain = prepared(DataSpec((str(root),), words=("up", "yes"), include_silence=False,
                              include_unknown=False), tmp_path / "cache")
    assert plain.labels == ["up", "yes"]
    assert {c.label for s in ("train", "validation", "testing") for c in plain.split(s).clips} == {"up", "yes"}


def test_unknown_words_are_named_in_the_error(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=3)
    with pytest.raises(DataError, match=r"unknown words mauve, teal.*available: no, yes"):
        prepared(DataSpec((str(root),), words=("yes", "mauve", "teal")), tmp_path / "cache")


def test_a_folder_with_one_label_is_refused(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes",), speakers=5)
    with pytest.raises(DataError, match="only one label"):
        prepared(DataSpec((str(root),)), tmp_path / "cache")


def test_missing_noise_is_a_warning_only_where_noise_is_used(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=4)

    def warnings(spec: DataSpec) -> list[str]:
        return [e.text for e in prepare_data(spec, FEATURES, tmp_path / "cache")
                if isinstance(e, Message) and e.level == "warning"]

    trains = DataSpec((str(root),), words=("yes", "no"))
    assert any("no background noise found" in text for text in warnings(trains))
    scores = DataSpec((str(root),), test_sources=(str(root),), include_silence=False, include_unknown=False)
    assert warnings(scores) == []  # clips scored as they are: no noise needed, nothing to warn about
    with_silence = DataSpec((str(root),), test_sources=(str(root),), words=("yes", "no"))
    assert any("no background noise found" in text for text in warnings(with_silence))


def test_corrupt_empty_and_zero_length_files_are_skipped_with_a_warning(tmp_path):
    root = make_dataset(tmp_path / "data", ("yes", "no"), speakers=6)
    (root / "yes" / "empty_nohash_0.wav").write_bytes(b"")
    (root / "yes" / "garbage_nohash_0.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    sf.write(root / "no" / "zero_nohash_0.wav", np.zeros(0, dtype=np.float32), RATE_HZ)
    events = list(prepare_data(DataSpec((str(root),)), FEATURES, tmp_path / "cache"))
    data = events[-1].result
    assert sorted(Path(p).name for p, _ in data.skipped) == [
        "empty_nohash_0.wav", "garbage_nohash_0.wav", "zero_nohash_0.wav"]
    warnings = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert any("skipped 3 unreadable audio files" in w for w in warnings)
    assert sum(len(data.split(s)) for s in ("train", "validation", "testing")) == 12
    assert data.description["skipped"] == 3
    # audio_problem (what the GUI's clip lists mark) names exactly the files that training skipped
    from speechrnn.audio.io import audio_problem

    problems = {path.name: audio_problem(path) for path in sorted(root.rglob("*.wav"))}
    assert {name for name, problem in problems.items() if problem} == {
        "empty_nohash_0.wav", "garbage_nohash_0.wav", "zero_nohash_0.wav"}
    assert problems["empty_nohash_0.wav"] == "file is empty (0 bytes)"
    assert problems["zero_nohash_0.wav"] == "contains no samples"


def test_combined_sources_keep_per_source_info_and_digit_aliases(tmp_path):
    digits = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    commands = make_dataset(tmp_path / "commands", digits + ("yes",), speakers=10)
    fsdd = tmp_path / "fsdd"
    for digit in range(10):
        for speaker in ("jackson", "nicolas", "theo", "george", "lucas", "yweweler"):
            write_tone(fsdd / str(digit) / f"{digit}_{speaker}_0.wav", 300 + 40 * digit, rate_hz=8000)
    data = prepared(DataSpec((str(commands), str(fsdd)), task="digits", include_unknown=False,
                             include_silence=False), tmp_path / "cache")
    assert data.labels == list(digits)
    all_clips = [c for s in ("train", "validation", "testing") for c in data.split(s).clips]
    assert {c.source for c in all_clips} == {"commands", "fsdd"}
    assert sum(c.source == "fsdd" for c in all_clips) == 60
    assert {c.speaker for c in all_clips if c.source == "fsdd"} == {"jackson", "nicolas", "theo", "george",
                                                                   "lucas", "yweweler"}
    per_source = data.description["per_source"]
    assert sum(counts.get("fsdd", 0) for counts in per_source.values()) == 60


def test_test_only_source_goes_wholly_to_testing(tmp_path):
    root = make_dataset(tmp_path / "held_out", ("yes", "no"), speakers=8)
    data = prepared(DataSpec((str(root),), test_sources=(str(root),)), tmp_path / "cache")
    assert len(data.train) == len(data.validation) == 0
    assert len(data.testing) == 16


def test_official_test_set_layout_with_task_12_keeps_its_own_silence_and_unknown(tmp_path):
    root = make_dataset(tmp_path / "test_set", TASK_12_WORDS + (SILENCE, UNKNOWN), speakers=3)
    data = prepared(DataSpec((str(root),), task="12", test_sources=(str(root),)), tmp_path / "cache")
    assert data.labels == [SILENCE, UNKNOWN, *TASK_12_WORDS]
    assert len(data.train) == len(data.validation) == 0
    targets = data.testing.targets.tolist()
    assert len(targets) == 36 and all(targets.count(k) == 3 for k in range(12))
    assert not data.testing.is_silence.any()  # real _silence_ clips, none generated


def test_repository_clips_prepare(tmp_path):
    data = prepared(DataSpec((str(REPO_DATA / "speech_commands"), str(REPO_DATA / "fsdd")),
                             validation_pct=30, testing_pct=30), tmp_path / "cache")
    assert set(data.labels) == {"0", "1", "2", "3", "nine", "no", "one", "three", "two", "yes"}
    assert data.train.waves.dtype.is_floating_point and data.train.waves.shape[1] == FEATURES.clip_samples
    assert float(data.train.waves.float().abs().max()) > 0.05
