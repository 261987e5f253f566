"""Bundled other words and noise for custom words: readable, attributed, and really in the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from speechrnn import negatives as neg
from speechrnn.data.spec import DIGIT_WORDS, TASK_12_WORDS, UNKNOWN, DataSpec
from speechrnn.errors import DataError
from speechrnn.negatives import NegativesConfig, bundled_negatives_dir, bundled_noise_dir, with_negatives
from test_train import make_tone_dataset

SAMPLE_RATE_HZ = 16000
MAX_NEGATIVES_BYTES = 14 * 2**20
NO_CONFUSABLES = NegativesConfig(confusables_per_word=0)


def test_the_negative_set_is_many_speakers_of_other_words_and_attributed():
    folder = bundled_negatives_dir()
    files = sorted(folder.glob("*/*.flac"))
    assert 600 <= len(files) <= 1000
    assert sum(p.stat().st_size for p in folder.rglob("*")) < MAX_NEGATIVES_BYTES
    words = {p.parent.name for p in files}
    # every word people say, the bundled models' words too: a custom word must not fire on "yes" or "one"
    assert len(words) >= 30 and words >= set(DIGIT_WORDS) | set(TASK_12_WORDS)
    speakers = {p.name.split("_nohash_")[0] for p in files}
    assert all("_nohash_" in p.name for p in files) and len(speakers) >= 250
    for path in files[:: len(files) // 20]:  # a sample: each one a 16 kHz mono clip of up to 1 s
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.format) == (SAMPLE_RATE_HZ, 1, "FLAC")
        assert 0.3 < info.duration <= 1.0
    attribution = (folder / "ATTRIBUTION.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in attribution and "arXiv:1804.03209" in attribution
    assert "testing_list.txt" in attribution and "validation_list.txt" in attribution
    assert "Attribution 4.0 International" in (folder / "LICENSE").read_text(encoding="utf-8")


def test_the_bundled_noise_is_a_few_minutes_without_the_held_out_noises():
    folder = bundled_noise_dir()
    files = sorted(folder.glob("*.flac"))
    names = {p.stem for p in files}
    assert {"babble", "hum", "doing_the_dishes", "running_tap"} <= names
    assert not names & {"dude_miaowing", "exercise_bike"}  # the default model's held-out test noises
    infos = [sf.info(str(p)) for p in files]
    assert all((i.samplerate, i.channels) == (SAMPLE_RATE_HZ, 1) for i in infos)
    assert 3 * 60 <= sum(i.duration for i in infos) <= 5 * 60
    attribution = (folder / "ATTRIBUTION.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in attribution and "babble" in attribution and "hum" in attribution
    assert (folder / "LICENSE").is_file()


def test_with_negatives_adds_the_bundled_words_and_noise_to_custom_words_only(tmp_path):
    spec = DataSpec(("mine",), words=("lights",))
    added = with_negatives(spec, NegativesConfig(), tmp_path)
    assert added.sources[:2] == ("mine", str(bundled_negatives_dir()))
    assert len(added.sources) == 2  # similar words count only once rendered
    assert added.noise_dirs == (str(bundled_noise_dir()),)
    assert added.unknown_pct == NegativesConfig().unknown_pct
    own_noise = with_negatives(DataSpec(("mine",), words=("lights",), noise_dirs=("n",)), NegativesConfig(), tmp_path)
    assert own_noise.noise_dirs == ("n",)  # the user's noise folder wins
    assert with_negatives(DataSpec(("mine",), task="12"), NegativesConfig(), tmp_path) == DataSpec(("mine",), task="12")
    rendered = neg.confusables_dir(("lights",), NegativesConfig(), tmp_path)
    (rendered / "nights").mkdir(parents=True)
    (rendered / neg.DONE_MARKER).write_text("{}")
    assert with_negatives(spec, NegativesConfig(), tmp_path).sources[-1] == str(rendered)


def test_the_prepared_data_holds_bundled_unknown_words_and_noise(tmp_path):
    from speechrnn.data.cache import prepare_data
    from speechrnn.events import run_to_end
    from speechrnn.features import FeatureConfig

    mine = make_tone_dataset(tmp_path / "mine", speakers=6, words={"lights": (300.0, 900.0)})
    spec = with_negatives(DataSpec((str(mine),), words=("lights",), validation_pct=20, testing_pct=20),
                          NO_CONFUSABLES, tmp_path / "cache")
    prepared = run_to_end(prepare_data(spec, FeatureConfig(), tmp_path / "cache"))
    train = prepared.train
    unknown = [clip for clip, target in zip(train.clips, train.targets.tolist())
               if prepared.labels[target] == UNKNOWN]
    assert unknown and all(clip.source == bundled_negatives_dir().name for clip in unknown)
    words = sum(prepared.labels[t] == "lights" for t in train.targets.tolist())
    assert len(unknown) >= 2 * words  # several times as many other words as words
    noise_files = prepared.description["noise_files"]
    assert {Path(p).name for p in noise_files} >= {"babble.flac", "hum.flac"}
    assert sum(len(n) for n in prepared.noise) >= 3 * 60 * SAMPLE_RATE_HZ


def test_a_bundled_folder_of_one_of_your_words_teaches_that_word_not_other_words(tmp_path):
    """A custom set holding "yes" gets the bundled speakers of "yes" as examples of it."""
    from speechrnn.data.cache import prepare_data
    from speechrnn.events import run_to_end
    from speechrnn.features import FeatureConfig

    mine = make_tone_dataset(tmp_path / "mine", speakers=6, words={"yes": (300.0, 900.0)})
    spec = with_negatives(DataSpec((str(mine),), words=("yes",), validation_pct=20, testing_pct=20),
                          NO_CONFUSABLES, tmp_path / "cache")
    prepared = run_to_end(prepare_data(spec, FeatureConfig(), tmp_path / "cache"))
    bundled = bundled_negatives_dir().name
    labelled = [(clip, prepared.labels[target]) for split in (prepared.train, prepared.validation, prepared.testing)
                for clip, target in zip(split.clips, split.targets.tolist()) if clip is not None]
    bundled_yes = [label for clip, label in labelled if clip.source == bundled and clip.path.parent.name == "yes"]
    assert bundled_yes and set(bundled_yes) == {"yes"}
    unknown_folders = {clip.path.parent.name for clip, label in labelled if label == UNKNOWN}
    assert "yes" not in unknown_folders and {"no", "one"} <= unknown_folders


def test_similar_words_are_rendered_once_into_the_cache(tmp_path):
    from speechrnn.events import Message, run_to_end
    from speechrnn.synth import find_engines

    if not find_engines():
        pytest.skip("no espeak-ng / flite here (the project's setup installs them)")
    config = NegativesConfig(confusables_per_word=2, clips_per_confusable=1)
    events = list(neg.render_confusables(("lights",), config, tmp_path))
    folder = neg.confusables_dir(("lights",), config, tmp_path)
    words = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert words == sorted(neg.confusable_words(("lights",), config)) and len(words) == 2
    assert all(len(list((folder / w).glob("*.wav"))) == 1 for w in words)
    assert json.loads((folder / neg.DONE_MARKER).read_text())["words"] == list(neg.confusable_words(("lights",), config))
    again = list(neg.render_confusables(("lights",), config, tmp_path))
    assert len(again) == 1 and isinstance(again[0], Message) and "already rendered" in again[0].text
    (tmp_path / "mine" / "lights").mkdir(parents=True)
    spec = DataSpec((str(tmp_path / "mine"),), words=("lights",))
    assert events and run_to_end(neg.prepare_negatives(spec, config, tmp_path)).sources[-1] == str(folder)


def test_other_words_join_the_similar_words_in_one_rendered_folder(tmp_path):
    from speechrnn.events import run_to_end
    from speechrnn.synth import find_engines

    if not find_engines():
        pytest.skip("no espeak-ng / flite here (the project's setup installs them)")
    config = NegativesConfig(confusables_per_word=1, clips_per_confusable=1, other_words=3, clips_per_other_word=2)
    varied = neg.varied_words(("lights",), config)
    assert len(varied) == 3 and not set(varied) & set(neg.confusable_words(("lights",), config))
    run_to_end(neg.render_confusables(("lights",), config, tmp_path))
    folder = neg.confusables_dir(("lights",), config, tmp_path)
    assert {w: len(list((folder / w).glob("*.wav"))) for w in varied} == {w: 2 for w in varied}
    assert json.loads((folder / neg.DONE_MARKER).read_text())["other_words"] == list(varied)


def test_without_a_voice_similar_words_are_a_warning_not_an_error(tmp_path, monkeypatch):
    import speechrnn.synth as synth

    monkeypatch.setattr(synth, "find_engines", lambda engines=synth.ENGINES: [])
    events = list(neg.render_confusables(("lights",), NegativesConfig(), tmp_path))
    assert [e.level for e in events] == ["warning"] and "espeak-ng" in events[0].text
    assert not neg.confusables_dir(("lights",), NegativesConfig(), tmp_path).exists()


def test_missing_assets_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(neg, "_asset_candidates", lambda name: [tmp_path / "nowhere" / name])
    with pytest.raises(DataError, match="--negatives none") as error:
        with_negatives(DataSpec(("mine",), words=("lights",)), NegativesConfig(), tmp_path)
    assert "reinstall" in str(error.value)
    with pytest.raises(DataError, match="noise"):
        bundled_noise_dir()
