"""Recipe data: speaker-disjoint splits across folders, split lists, per-(label, source) sampling
weights, and the digits / commands recipes' labels and sources, on generated folders."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data.cache import prepare_data
from speechrnn.data.layout import assign_split
from speechrnn.data.sampling import label_source_weights
from speechrnn.data.spec import SILENCE, TASK_12_WORDS, UNKNOWN
from speechrnn.data.speakers import (
    combined_speaker_splits,
    folder_splits,
    speakers_in_several_splits,
    write_split_view,
)
from speechrnn.data.layout import scan_folder
from speechrnn.events import run_to_end
from speechrnn.features import FeatureConfig
from speechrnn.recipes import (
    DIGITS,
    NOISE_DIR,
    PERTURBED_DIR,
    SPEECH_COMMANDS_DIR,
    SPEECH_COMMANDS_V1_DIR,
    SPEECH_COMMANDS_V2_TEST_HALF_DIR,
    TEST_NOISES,
    CommandsRecipe,
    DigitsRecipe,
    prepare_recipe_data,
)
from test_data_layout import RATE_HZ, write_tone

VALIDATION_PCT, TESTING_PCT = 15.0, 25.0  # the recipes' hash split
FSDD_RATE_HZ = 8000
FSDD_SPEAKERS = ("george", "jackson", "nicolas", "yweweler")


def speakers_hashed_to(split: str, count: int, prefix: str = "") -> list[str]:
    """Speaker ids (8 hex digits, like Speech Commands) that the recipes' hash puts in ``split``."""
    found = []
    for n in range(10_000):
        name = f"{prefix}{n:0{8 - len(prefix)}x}"
        if assign_split(name, VALIDATION_PCT, TESTING_PCT) == split:
            found.append(name)
            if len(found) == count:
                return found
    raise AssertionError("not enough speaker ids")


def write_lists(root: Path, validation: list[str], testing: list[str]) -> None:
    (root / "validation_list.txt").write_text("".join(f"{p}\n" for p in validation))
    (root / "testing_list.txt").write_text("".join(f"{p}\n" for p in testing))


def splits_by_speaker(folders) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for folder in folders:
        for clip, split in folder_splits(folder, VALIDATION_PCT, TESTING_PCT):
            out.setdefault(clip.speaker, set()).add(split)
    return out


# --- speakers across folders -----------------------------------------------------------------------
def test_a_listed_test_speaker_never_trains_from_another_folder(tmp_path):
    shared, other, third = speakers_hashed_to("train", 3)  # 3: the hashed folder splits by speaker
    listed, hashed = tmp_path / "listed", tmp_path / "hashed"
    for speaker in (shared, other):
        write_tone(listed / "yes" / f"{speaker}_nohash_0.wav", 300)
    write_lists(listed, [], [f"yes/{shared}_nohash_0.wav"])
    for word in ("no", "bed"):
        write_tone(hashed / word / f"{shared}_nohash_0.wav", 400)
    write_tone(hashed / "no" / f"{other}_nohash_1.wav", 400)
    write_tone(hashed / "no" / f"{third}_nohash_1.wav", 400)
    # each folder on its own: the shared speaker tests in one and trains in the other
    assert speakers_in_several_splits([listed, hashed], VALIDATION_PCT, TESTING_PCT) == {
        shared: {"testing": {"listed"}, "train": {"hashed"}}}

    splits = combined_speaker_splits({f: scan_folder(f) for f in (listed, hashed)}, VALIDATION_PCT, TESTING_PCT)
    views = [write_split_view(f, tmp_path / "views" / f.name, splits) for f in (listed, hashed)]
    assert speakers_in_several_splits(views, VALIDATION_PCT, TESTING_PCT) == {}
    assert splits_by_speaker(views) == {shared: {"testing"}, other: {"train"}, third: {"train"}}
    # the loader itself honours the views
    data = run_to_end(prepare_data(_spec(views), FeatureConfig(), tmp_path / "cache"))
    tested = {c.path.name for c in data.testing.clips if c is not None}
    assert tested == {f"{shared}_nohash_0.wav"} and len([c for c in data.testing.clips if c]) == 3


def _spec(views):
    from speechrnn.data.spec import DataSpec

    return DataSpec(sources=tuple(str(v) for v in views), include_silence=False, include_unknown=False,
                    validation_pct=VALIDATION_PCT, testing_pct=TESTING_PCT)


def test_split_lists_decide_over_the_hash_and_the_most_held_out_list_wins(tmp_path):
    hashed_testing = speakers_hashed_to("testing", 2)
    hashed_train = speakers_hashed_to("train", 3)
    unlisted, in_both, alone = hashed_testing[0], hashed_train[0], hashed_testing[1]
    first, second, lonely = tmp_path / "first", tmp_path / "second", tmp_path / "lonely"
    for speaker in (unlisted, in_both, hashed_train[1]):
        write_tone(first / "up" / f"{speaker}_nohash_0.wav", 300)
    write_lists(first, [f"up/{in_both}_nohash_0.wav"], [f"up/{hashed_train[1]}_nohash_0.wav"])
    write_tone(second / "up" / f"{in_both}_nohash_0.wav", 300)
    write_tone(second / "up" / f"{hashed_train[2]}_nohash_0.wav", 300)
    write_lists(second, [], [f"up/{in_both}_nohash_0.wav"])
    write_tone(lonely / "up" / f"{alone}_nohash_0.wav", 300)
    write_tone(lonely / "up" / f"{unlisted}_nohash_3.wav", 300)
    folders = (first, second, lonely)
    splits = combined_speaker_splits({f: scan_folder(f) for f in folders}, VALIDATION_PCT, TESTING_PCT)
    assert splits == {
        unlisted: "train",  # unlisted in a folder with both lists: trains, whatever its hash
        in_both: "testing",  # validation in one list, testing in another: held out the most
        hashed_train[1]: "testing",
        hashed_train[2]: "train",
        alone: "testing",  # in no listed folder: the hash
    }
    views = [write_split_view(f, tmp_path / "views" / f.name, splits) for f in folders]
    assert {s: sp for s, (sp,) in splits_by_speaker(views).items()} == splits


def test_view_leaves_out_excluded_labels_and_keeps_the_license(tmp_path):
    root = tmp_path / "official"
    (speaker,) = speakers_hashed_to("train", 1)
    write_tone(root / "yes" / f"{speaker}_nohash_0.wav", 300)
    write_tone(root / SILENCE / "1037.wav", 300)
    (root / "LICENSE").write_text("CC BY 4.0")
    write_lists(root, [], [f"{SILENCE}/1037.wav"])
    splits = combined_speaker_splits({root: scan_folder(root)}, VALIDATION_PCT, TESTING_PCT)
    view = write_split_view(root, tmp_path / "views" / "official", splits, exclude_labels=(SILENCE,))
    assert [c.label for c in scan_folder(view)] == ["yes"]
    assert (view / "LICENSE").read_text() == "CC BY 4.0"
    assert (view / "testing_list.txt").read_text() == ""


# --- sampling weights ------------------------------------------------------------------------------
def test_label_source_weights_balance_sources_within_each_class():
    targets = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    sources = ["fsdd"] * 5 + ["sc"] + ["sc", "sc", "synth"] + ["", ""]
    weights = label_source_weights(targets, sources)
    assert weights.dtype == torch.float64 and weights.shape == (11,)

    def total(label, source=None):
        return sum(w for w, t, s in zip(weights.tolist(), targets.tolist(), sources)
                   if t == label and (source is None or s == source))

    # every class keeps its share, every source of a class gets an equal part of it
    assert [total(c) for c in (0, 1, 2)] == pytest.approx([6, 3, 2])
    assert total(0, "fsdd") == pytest.approx(total(0, "sc")) == pytest.approx(3)
    assert total(1, "sc") == pytest.approx(total(1, "synth")) == pytest.approx(1.5)
    # drawn as the trainer draws: the one Speech Commands clip of class 0 comes up as often as all FSDD ones
    draws = torch.multinomial(weights, 20_000, replacement=True, generator=torch.Generator().manual_seed(0))
    counts = Counter(draws.tolist())
    assert counts[5] / sum(counts[i] for i in range(5)) == pytest.approx(1.0, rel=0.1)


def test_label_source_weights_need_one_source_per_example():
    with pytest.raises(ValueError, match="3 targets but 2 sources"):
        label_source_weights([0, 1, 1], ["a", "b"])


# --- recipes -----------------------------------------------------------------------------------------
def _noise(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        sf.write(folder / name, (0.1 * rng.standard_normal(2 * RATE_HZ)).astype(np.float32), RATE_HZ)


def make_data_root(root: Path) -> Path:
    """A miniature of ../shared/data: FSDD, the three Speech Commands folders (one with split lists
    and the official _silence_ folder), background noise with the held-out recordings."""
    for d in range(10):
        for speaker in FSDD_SPEAKERS:
            path = root / "fsdd" / str(d) / f"{d}_{speaker}_0.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(FSDD_RATE_HZ // 4) / FSDD_RATE_HZ
            sf.write(path, (0.5 * np.sin(2 * np.pi * (200 + 40 * d) * t)).astype(np.float32), FSDD_RATE_HZ)
    words = DIGITS + TASK_12_WORDS + ("bed", "wow")
    sample_speakers = speakers_hashed_to("train", 4) + speakers_hashed_to("validation", 1) + \
        speakers_hashed_to("testing", 1)
    for w, word in enumerate(words):
        for speaker in sample_speakers:
            write_tone(root / SPEECH_COMMANDS_DIR / word / f"{speaker}_nohash_0.wav", 150 + 30 * w)
    # v2 half: its own lists put a speaker the hash would train into testing; that speaker also
    # speaks in the v1 folder (hashed: train there)
    listed_test, listed_validation = speakers_hashed_to("train", 2, prefix="a")
    v2 = root / SPEECH_COMMANDS_V2_TEST_HALF_DIR
    v2_speakers = speakers_hashed_to("testing", 3, prefix="b") + [listed_test, listed_validation]
    for w, word in enumerate(words):
        for speaker in v2_speakers:
            write_tone(v2 / word / f"{speaker}_nohash_0.wav", 150 + 30 * w)
    write_tone(v2 / SILENCE / "1037.wav", 100)
    write_lists(v2, [f"{w}/{listed_validation}_nohash_0.wav" for w in words],
                [f"{w}/{listed_test}_nohash_0.wav" for w in words] + [f"{SILENCE}/1037.wav"])
    for word in ("bed", "cat", "happy"):
        for speaker in [listed_test] + speakers_hashed_to("train", 2, prefix="c"):
            write_tone(root / SPEECH_COMMANDS_V1_DIR / word / f"{speaker}_nohash_1.wav", 700)
    _noise(root / NOISE_DIR, ("white_noise.wav",) + TEST_NOISES)
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_data_root(tmp_path_factory.mktemp("shared") / "data")


def _prepared(recipe, cache: Path):
    recipe_data = run_to_end(prepare_recipe_data(recipe))
    return recipe_data, run_to_end(prepare_data(recipe_data.spec, FeatureConfig(), cache))


def _speaker_splits(data) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for split in ("train", "validation", "testing"):
        for clip in data.split(split).clips:
            if clip is not None:
                out.setdefault(clip.speaker.split("-vs")[0], set()).add(split)
    return out


def test_commands_recipe_has_the_classic_twelve_classes_from_every_speech_commands_folder(data_root, tmp_path):
    recipe = CommandsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), real_voice_scales=())
    recipe_data, data = _prepared(recipe, tmp_path / "cache")
    assert data.labels == [SILENCE, UNKNOWN, *TASK_12_WORDS]
    assert [Path(s).name for s in recipe_data.spec.sources] == [
        SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR, SPEECH_COMMANDS_V1_DIR]
    every_clip = [c for split in ("train", "validation", "testing") for c in data.split(split).clips if c]
    assert SILENCE not in {c.label for c in every_clip}  # the official _silence_ clips hold test noises
    assert {c.source for c in every_clip if c.label in TASK_12_WORDS} == {SPEECH_COMMANDS_DIR,
                                                                         SPEECH_COMMANDS_V2_TEST_HALF_DIR}
    noise_names = {Path(p).name for p in data.description["noise_files"]}
    assert noise_names == {"white_noise.wav"} and not noise_names & set(TEST_NOISES)
    assert {Path(p).name for p in recipe_data.test_noise.iterdir()} == set(TEST_NOISES)
    assert all(len(splits) == 1 for splits in _speaker_splits(data).values())
    counts = recipe_data.counts["words"][SPEECH_COMMANDS_V2_TEST_HALF_DIR]
    # v2's lists decide for its speakers: one listed test speaker; the three that the hash would
    # test are unlisted, so they train
    assert counts["testing"] == {"clips": len(TASK_12_WORDS), "speakers": 1}
    assert counts["train"] == {"clips": 3 * len(TASK_12_WORDS), "speakers": 3}


def test_the_commands_first_stage_trains_each_other_word_as_a_class_of_its_own(data_root, tmp_path):
    recipe = CommandsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), real_voice_scales=(),
                            unknown_by_word=True)
    _, data = _prepared(recipe, tmp_path / "cache")
    others = sorted({c.label for split in ("train", "validation", "testing") for c in data.split(split).clips
                     if c and c.label not in TASK_12_WORDS})
    words = len(TASK_12_WORDS) + 1
    assert data.labels[:words] == [SILENCE, *TASK_12_WORDS] and UNKNOWN not in data.labels
    assert data.labels[words:] == sorted(data.labels[words:]) and others and set(others) <= set(data.labels[words:])
    for split in ("train", "validation", "testing"):
        clipset = data.split(split)
        assert all(data.labels[t] == (c.label if c else SILENCE) for c, t in zip(clipset.clips, clipset.targets.tolist()))


def test_digits_recipe_trains_speech_commands_as_digits_and_unknown_with_disjoint_speakers(data_root, tmp_path):
    recipe = DigitsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), synth=False,
                          real_voice_scales=(1.1,), unknown_pct=100.0)
    recipe_data, data = _prepared(recipe, tmp_path / "cache")
    assert data.labels == [SILENCE, UNKNOWN, *DIGITS]
    train = [(data.labels[t], c) for t, c in zip(data.train.targets.tolist(), data.train.clips) if c is not None]
    speech_commands = (SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR)
    for source in speech_commands:  # real Speech Commands speech is both a digit and _unknown_
        labels = {label for label, clip in train if clip.source == source}
        assert UNKNOWN in labels and set(DIGITS) <= labels
    assert {c.source for label, c in train if label == UNKNOWN} >= {SPEECH_COMMANDS_V1_DIR}
    speakers = _speaker_splits(data)
    assert all(len(splits) == 1 for splits in speakers.values()), speakers
    # the speaker listed for testing in v2 also speaks in v1 (where the hash says train): tested only
    v2_tested = {c.speaker for c in data.testing.clips if c and c.source == SPEECH_COMMANDS_V2_TEST_HALF_DIR}
    v1_speakers = {c.speaker for c in scan_folder(data_root / SPEECH_COMMANDS_V1_DIR)}
    assert v2_tested & v1_speakers and all(speakers[s] == {"testing"} for s in v2_tested & v1_speakers)
    # voice-scaled copies: digits of training speakers only
    perturbed = scan_folder(recipe.work / PERTURBED_DIR)
    assert perturbed and {c.label for c in perturbed} <= set(DIGITS) | {str(d) for d in range(10)}
    assert {c.speaker.split("-vs")[0] for c in perturbed} <= {s for s, sp in speakers.items() if sp == {"train"}}


def clips_of(folder: Path) -> set[str]:
    return {f"{clip.label}/{clip.path.name}" for clip in scan_folder(folder)}


def test_a_held_out_view_holds_its_own_recipes_clips_whatever_an_earlier_recipe_left(data_root, tmp_path):
    from speechrnn.recipes import held_out_view

    kept = DigitsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), synth=False)
    more = dataclasses.replace(kept, unknown_pct=4 * kept.unknown_pct)  # more other words held out

    out = tmp_path / "words_validation"  # one folder for both, as bench.recipe_streams' cache is
    before = clips_of(held_out_view(kept, out, "validation"))
    after = clips_of(held_out_view(more, out, "validation"))
    digits = {clip for clip in before if clip.split("/")[0] in DIGITS}
    assert digits and {clip for clip in after if clip.split("/")[0] in DIGITS} == digits
    assert len(after) > len(before)  # the same words, and more other words
    assert clips_of(held_out_view(kept, out, "validation")) == before  # never the union with a later recipe's


def test_a_final_build_trains_every_validation_speaker_and_holds_out_only_the_test_speakers(data_root, tmp_path):
    from speechrnn.errors import DataError
    from speechrnn.recipes import held_out_view, speaker_splits

    kept = DigitsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), synth=False)
    final = dataclasses.replace(kept, validation_speakers_train=True)
    before, after = speaker_splits(kept), speaker_splits(final)
    validation = {speaker for speaker, split in before.items() if split == "validation"}
    assert validation & set(FSDD_SPEAKERS) and validation - set(FSDD_SPEAKERS)  # FSDD's and Speech Commands'
    assert all(after[speaker] == "train" for speaker in validation)
    assert {s: split for s, split in after.items() if s not in validation} == \
        {s: split for s, split in before.items() if s not in validation}
    assert clips_of(held_out_view(final, tmp_path / "test", "testing")) == clips_of(held_out_view(kept, tmp_path / "test"))
    with pytest.raises(DataError, match="no validation speakers.*final build"):
        held_out_view(final, tmp_path / "words_validation", "validation")


def test_build_recipe_writes_a_commands_model_with_its_recipe_sources_and_held_out_figures(data_root, tmp_path):
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recipes import build_recipe

    recipe = CommandsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), real_voice_scales=(),
                            epochs=1, hidden=16, layers=1, batch_size=16)
    metrics = run_to_end(build_recipe(recipe, tmp_path / "commands.pt"))
    ckpt = load_checkpoint(tmp_path / "commands.pt")
    assert ckpt.recipe == "commands" and ckpt.labels == [SILENCE, UNKNOWN, *TASK_12_WORDS]
    assert ckpt.data["recipe"]["name"] == "commands" and ckpt.data["recipe"]["objective"] == "stream"
    assert set(ckpt.data["licenses"]) >= {SPEECH_COMMANDS_DIR, SPEECH_COMMANDS_V2_TEST_HALF_DIR,
                                          SPEECH_COMMANDS_V1_DIR, NOISE_DIR}
    assert ckpt.data["held_out"]["test_noises"] == list(TEST_NOISES)
    # the held-out Speech Commands words of every folder together: the listed v2 test speaker's ten
    # words and the sample's hashed test speaker's ten
    for condition in ("clean", "snr_10db"):
        words = metrics["testing"][condition]["speech_commands words"]
        assert words["clips"] == 2 * len(TASK_12_WORDS) and 0.0 <= words["accuracy"] <= 1.0
    assert metrics["data"]["words"][SPEECH_COMMANDS_DIR]["testing"]["clips"] == len(TASK_12_WORDS)

    # the recipe's model as an ensemble of two of its networks: scored and recorded as its own
    from speechrnn.recipes import build_ensemble

    # (the other network with a spectral front-end; the ensemble records the threshold chosen for it)
    from speechrnn.recognizer import recorded_threshold

    other = dataclasses.replace(recipe, seed=1, extra_model={"spectral_conv_channels": 4})
    run_to_end(build_recipe(other, tmp_path / "other.pt", run_name="other"))
    combined = run_to_end(build_ensemble(dataclasses.replace(recipe, detection_threshold=0.62),
                                         [tmp_path / "commands.pt", tmp_path / "other.pt"], tmp_path / "both.pt"))
    both = load_checkpoint(tmp_path / "both.pt")
    assert [(c.spectral_conv_channels, c.spectral_bands) for c in both.network_configs] == [(0, 40), (4, 40)]
    assert recorded_threshold(both.train_config) == 0.62 and recorded_threshold(ckpt.train_config) is None
    assert len(both.members) == 1 and both.recipe == "commands" and both.data["recipe"]["name"] == "commands"
    assert [m["path"] for m in both.data["ensemble"]] == [str(tmp_path / "commands.pt"), str(tmp_path / "other.pt")]
    clean = combined["testing"]["clean"]
    assert both.metrics["test_accuracy"] == clean["all"]["accuracy"]  # its own figure, not its first network's
    assert set(both.metrics["test_per_source"]) == set(clean) - {"all", "speech_commands words"}
    assert combined["ensemble"] == [str(tmp_path / "commands.pt"), str(tmp_path / "other.pt")]


def test_recipe_passes_its_objective_and_balancing_to_training(tmp_path):
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recipes import recipe_configs
    from speechrnn.training import TrainConfig

    plain = DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path / "work"))
    *_, train_config = recipe_configs(plain)
    assert train_config == TrainConfig(epochs=plain.epochs, batch_size=plain.batch_size, seed=plain.seed,
                                       objective="stream")
    *_, clip = recipe_configs(DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path), objective="clip"))
    assert clip.objective == "clip" and not clip.balance_sources
    *_, balanced = recipe_configs(CommandsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path), balance_sources=True))
    assert balanced.balance_sources
    with pytest.raises(SpeechRNNError, match="TrainConfig has no field no_such_setting"):
        recipe_configs(DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path), extra_train={"no_such_setting": 1}))
    # another training seed on the same data (the recipe's seed keeps choosing the speakers and clips)
    *_, reseeded = recipe_configs(DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path), extra_train={"seed": 1}))
    assert reseeded.seed == 1 and plain.seed == 0
    _, model_config, *_ = recipe_configs(DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path),
                                                      extra_model={"running_mean_frames": 300}))
    assert model_config.running_mean_frames == 300 and recipe_configs(plain)[1].running_mean_frames == 0
    with pytest.raises(SpeechRNNError, match="ModelConfig has no field mean_ms"):
        recipe_configs(DigitsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path), extra_model={"mean_ms": 1}))


def test_synthetic_negatives_alone_leave_out_the_synthetic_voices_of_the_recipes_own_words(tmp_path):
    from speechrnn.recipes import SYNTH_UNKNOWN_DIR, data_spec

    views, noise = [tmp_path / "views" / SPEECH_COMMANDS_DIR], tmp_path / "noise"
    both = CommandsRecipe(data_root=str(tmp_path), work_dir=str(tmp_path / "work"), synth=True)
    negatives = dataclasses.replace(both, synth_own_words=False)
    named = lambda recipe: [Path(source).name for source in data_spec(recipe, views, noise).sources]  # noqa: E731
    assert named(both) == [SPEECH_COMMANDS_DIR, both.synth_words_dir, SYNTH_UNKNOWN_DIR, PERTURBED_DIR]
    assert named(negatives) == [SPEECH_COMMANDS_DIR, SYNTH_UNKNOWN_DIR, PERTURBED_DIR]
    assert named(dataclasses.replace(negatives, synth=False)) == [SPEECH_COMMANDS_DIR, PERTURBED_DIR]


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_validation_noises_leave_training_and_are_the_only_noise_of_the_validation_folder(tmp_path):
    import dataclasses

    from speechrnn.errors import DataError
    from speechrnn.recipes import noise_folders, validation_noise_folder

    root = tmp_path / "data"
    _noise(root / NOISE_DIR, ("white_noise.wav", "doing_the_dishes.wav") + TEST_NOISES)
    recipe = CommandsRecipe(data_root=str(root), work_dir=str(tmp_path / "work"),
                            validation_noises=("doing_the_dishes.wav",))
    train, test = noise_folders(recipe)
    assert _names(train) == {"white_noise.wav"}
    assert _names(test) == set(TEST_NOISES)
    assert _names(validation_noise_folder(recipe)) == {"doing_the_dishes.wav"}
    train, _ = noise_folders(dataclasses.replace(recipe, validation_noises=()))  # the same work folder
    assert _names(train) == {"white_noise.wav", "doing_the_dishes.wav"}
    with pytest.raises(DataError, match="held-out test noise"):
        noise_folders(dataclasses.replace(recipe, validation_noises=(TEST_NOISES[0],)))
    with pytest.raises(DataError, match="fridge.wav: validation noise not found"):
        validation_noise_folder(dataclasses.replace(recipe, validation_noises=("fridge.wav",)))


def test_two_runs_of_one_work_dir_linking_the_noise_at_the_same_moment_both_go_on(tmp_path, monkeypatch):
    from speechrnn.recipes import validation_noise_folder

    root = tmp_path / "data"
    _noise(root / NOISE_DIR, ("white_noise.wav", "doing_the_dishes.wav") + TEST_NOISES)
    recipe = CommandsRecipe(data_root=str(root), work_dir=str(tmp_path / "work"),
                            validation_noises=("doing_the_dishes.wav",))
    link = Path.symlink_to

    def the_other_run_first(self, target, *args, **kwargs):
        link(self, target, *args, **kwargs)  # the other run, a moment earlier
        link(self, target, *args, **kwargs)

    monkeypatch.setattr(Path, "symlink_to", the_other_run_first)
    folder = validation_noise_folder(recipe)
    assert _names(folder) == {"doing_the_dishes.wav"}
    assert (folder / "doing_the_dishes.wav").resolve() == (root / NOISE_DIR / "doing_the_dishes.wav").resolve()


def test_a_recipe_read_back_from_its_record_is_the_same_recipe(tmp_path):
    import dataclasses
    import json

    from speechrnn.errors import DataError
    from speechrnn.recipes import Recipe

    recipe = CommandsRecipe(data_root="/elsewhere", work_dir="/elsewhere/work", hidden=192, unknown_pct=25.0,
                            real_voice_scales=(0.85, 1.15), validation_noises=("running_tap.wav",),
                            extra_train={"lr": 0.001})
    recorded = json.loads(json.dumps(recipe.to_dict()))  # as a checkpoint keeps it
    here = Recipe.from_dict(recorded, data_root=str(tmp_path), work_dir=str(tmp_path / "w"))
    assert here == dataclasses.replace(recipe, data_root=str(tmp_path), work_dir=str(tmp_path / "w"))
    assert here.real_voice_scales == (0.85, 1.15) and here.validation_noises == ("running_tap.wav",)
    del recorded["validation_noises"]  # a model recorded before the field existed
    assert Recipe.from_dict(recorded).validation_noises == ()
    with pytest.raises(DataError, match="unknown recipe 'nope'"):
        Recipe.from_dict({**recorded, "name": "nope"})


def test_recipe_streams_choose_on_the_noise_training_left_out_and_never_on_a_test_noise(tmp_path):
    import dataclasses

    from bench.recipe_streams import split_noises
    from speechrnn.errors import DataError

    root = tmp_path / "data"
    _noise(root / NOISE_DIR, ("white_noise.wav", "running_tap.wav") + TEST_NOISES)
    recipe = CommandsRecipe(data_root=str(root), work_dir=str(tmp_path / "work"), validation_noises=("running_tap.wav",))
    assert _names(split_noises(recipe, "validation")) == {"running_tap.wav"}
    assert _names(split_noises(recipe, "testing")) == set(TEST_NOISES)
    assert _names(split_noises(recipe, "validation", ("white_noise.wav",))) == {"white_noise.wav"}
    with pytest.raises(DataError, match="would tune on the test"):
        split_noises(recipe, "validation", (TEST_NOISES[1],))
    with pytest.raises(DataError, match="fridge.wav: validation noise not found"):
        split_noises(recipe, "validation", ("fridge.wav",))
    with pytest.raises(DataError, match="left no noise out of training"):
        split_noises(dataclasses.replace(recipe, validation_noises=()), "validation")
    with pytest.raises(DataError, match="the test streams take the held-out test noises"):
        split_noises(recipe, "testing", ("white_noise.wav",))


def _model_that_hears(word: str, labels: list[str], path: Path) -> Path:
    """A checkpoint that takes every clip for ``word``: its head ignores the network, and its bias picks ``word``."""
    from speechrnn.checkpoint import Checkpoint, save_checkpoint
    from speechrnn.model import ModelConfig, RNNClassifier

    model = RNNClassifier(ModelConfig(num_classes=len(labels), hidden=8, layers=1))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-5.0)
        model.head.bias[labels.index(word)] = 5.0
    return save_checkpoint(Checkpoint(model_config=model.config, feature_config=FeatureConfig(), labels=labels,
                                      state_dict=model.state_dict()), path)


def test_hard_negatives_are_the_training_speakers_other_words_the_model_took_for_a_word(data_root, tmp_path):
    from speechrnn.recipes import HARD_NEGATIVES_DIR, _licenses

    labels = [SILENCE, UNKNOWN, *TASK_12_WORDS]
    model = _model_that_hears("yes", labels, tmp_path / "hears_yes.pt")
    recipe = CommandsRecipe(data_root=str(data_root), work_dir=str(tmp_path / "work"), real_voice_scales=(),
                            hard_negatives_from=str(model), unknown_pct=100.0)
    recipe_data, data = _prepared(recipe, tmp_path / "cache")
    mined = recipe.work / HARD_NEGATIVES_DIR
    assert str(mined) in recipe_data.spec.sources and str(mined) not in recipe_data.eval_spec.sources
    expected = {(clip.label, clip.path.name) for view in recipe_data.views
                for clip, split in folder_splits(view, VALIDATION_PCT, TESTING_PCT)
                if split == "train" and clip.label not in TASK_12_WORDS and clip.label != SILENCE}
    assert expected and {(c.label, c.path.name) for c in scan_folder(mined)} == expected
    # a training-only source: its clips train as _unknown_, never validate or test
    mined_targets = {data.labels[t] for c, t in zip(data.train.clips, data.train.targets.tolist())
                     if c and c.source == HARD_NEGATIVES_DIR}
    assert mined_targets == {UNKNOWN}
    for split in ("validation", "testing"):
        assert HARD_NEGATIVES_DIR not in {c.source for c in data.split(split).clips if c}
    assert _licenses(recipe, recipe_data.spec)[HARD_NEGATIVES_DIR].startswith(f"clips of {SPEECH_COMMANDS_DIR} (CC BY")


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks: nothing is held on Windows")
def test_two_builds_cannot_write_one_run_folder_at_once_and_a_dead_one_holds_nothing(tmp_path):
    """Two ensembles built side by side into one run folder once read back each other's
    ensemble.pt; now the second gets a one-line error that says what to change. A build that dies
    (killed, not cleaned up) leaves the folder free."""
    from speechrnn.atomic import hold_folder
    from speechrnn.errors import SpeechRNNError
    from speechrnn.recipes import RUN_NAME_HINT

    run_dir = tmp_path / "work" / "ensemble"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom speechrnn.atomic import hold_folder\n"
         f"with hold_folder({str(run_dir)!r}, 'x'):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SpeechRNNError, match="another build is writing there") as caught:
            with hold_folder(run_dir, RUN_NAME_HINT):
                pass
        assert str(run_dir) in str(caught.value) and "--run-name" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    with hold_folder(run_dir, RUN_NAME_HINT) as held:  # the killed holder's lock went with it
        assert held == run_dir
