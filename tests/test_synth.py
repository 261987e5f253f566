"""Synthetic voices: real espeak-ng renderings in the dataset layout, and the no-engine message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechrnn.errors import SpeechRNNError
from speechrnn.events import run_to_end
from speechrnn.synth import (
    ESPEAK,
    FLITE,
    SynthConfig,
    label_folder,
    list_voices,
    parse_words,
    plan,
    synthesize,
)

needs_espeak = pytest.mark.skipif(shutil.which(ESPEAK) is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def espeak_voices():
    if shutil.which(ESPEAK) is None:
        pytest.skip("espeak-ng is not installed")
    return list_voices("en", engines=(ESPEAK,))


def _speaker(path: Path) -> str:
    from speechrnn.data.layout import speaker_of

    return speaker_of(path)


@needs_espeak
def test_renders_words_as_one_second_16khz_clips_per_voice(tmp_path, espeak_voices):
    config = SynthConfig(words=("lights on", "seven"), per_word=6, seed=3)
    result = run_to_end(synthesize(config, tmp_path, voices=espeak_voices))
    assert not result.failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lights_on", "seven"]
    for word in ("lights_on", "seven"):
        files = sorted((tmp_path / word).glob("*.wav"))
        assert len(files) == 6
        speakers = {_speaker(f) for f in files}
        assert len(speakers) == 6  # six different voices = six speakers for the split
        for path in files:
            samples, rate = sf.read(path, dtype="float32")
            assert rate == 16000 and samples.ndim == 1 and samples.size == 16000
            loud = np.flatnonzero(np.abs(samples) > 0.01)
            assert loud.size > 0
            spoken_s = (loud[-1] - loud[0]) / rate
            assert 0.15 < spoken_s < 1.0  # a word, trimmed of the engine's leading/trailing silence
            assert np.abs(samples[:160]).max() < 0.01  # padded: starts in silence
    # the same voice says every word (a speaker records all words, as in real datasets)
    assert {_speaker(f) for f in (tmp_path / "seven").glob("*.wav")} == {
        _speaker(f) for f in (tmp_path / "lights_on").glob("*.wav")
    }
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files


@needs_espeak
def test_rendering_is_deterministic_per_seed(tmp_path, espeak_voices):
    voices = espeak_voices[:3]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run_to_end(synthesize(SynthConfig(words=("go",), per_word=3, seed=1), a, voices=voices))
    run_to_end(synthesize(SynthConfig(words=("go",), per_word=3, seed=1), b, voices=voices))
    run_to_end(synthesize(SynthConfig(words=("go",), per_word=3, seed=2), c, voices=voices))
    names = sorted(p.name for p in (a / "go").iterdir())
    for name in names:
        assert (a / "go" / name).read_bytes() == (b / "go" / name).read_bytes()
    same_voice = sorted(set(names) & {p.name for p in (c / "go").iterdir()})
    assert same_voice, "seeds only reorder voices; some voice must be in both runs"
    assert any((a / "go" / n).read_bytes() != (c / "go" / n).read_bytes() for n in same_voice)


@needs_espeak
def test_finds_espeak_variants_and_skips_voices_that_cannot_speak(espeak_voices):
    ids = [v.voice_id for v in espeak_voices]
    assert len(ids) == len(set(ids))
    assert any("+" in v.name for v in espeak_voices)  # variants such as en-us+f2
    assert all("_" not in i for i in ids)  # "_" would break the "<speaker>_nohash_<n>" file name
    assert not any(v.name.startswith("mb/") for v in espeak_voices) or shutil.which("mbrola")


@pytest.mark.skipif(shutil.which(FLITE) is None, reason="flite is not installed")
def test_flite_voices_skip_limited_domain_and_duplicates():
    voices = list_voices(engines=(FLITE,))
    names = {v.name for v in voices}
    assert names and "awb_time" not in names
    assert not ("kal" in names and "kal16" in names)


def test_more_clips_than_voices_repeat_voices_with_new_takes():
    from speechrnn.synth import Voice

    voices = [Voice(ESPEAK, f"v{i}", f"espeak-v{i}") for i in range(3)] + [Voice(FLITE, "slt", "flite-slt")]
    takes = plan(SynthConfig(words=("x",), per_word=10), voices)
    assert len(takes) == 10 and len(set(takes)) == 10
    assert {t for _, t in takes} == {0, 1, 2}
    two = plan(SynthConfig(words=("x",), per_word=2), voices)
    assert {v.engine for v, _ in two} == {ESPEAK, FLITE}  # a small count still uses both engines
    assert len(plan(SynthConfig(words=("x",)), voices)) == 4  # default: every voice once


def test_words_parsing():
    assert parse_words(" lights on , lights  off,") == ("lights on", "lights off")
    assert label_folder("lights on") == "lights_on"
    for bad in ("", " , ", "a/b", "_x", "yes,yes"):
        with pytest.raises(SpeechRNNError):
            parse_words(bad)


def test_no_engine_gives_one_line_with_install_command(tmp_path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = dict(os.environ, PATH=str(empty_path))
    done = subprocess.run(
        [sys.executable, "-m", "speechrnn", "synth", "--words", "yes", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no text-to-speech engine" in lines[0] and "apt-get install espeak-ng" in lines[0]
    assert not (tmp_path / "out").exists()


@needs_espeak
def test_a_recipe_renders_its_voices_anew_when_their_number_changes(tmp_path):
    """A recipe's derived folder holds what its settings ask for: 3 clips a word, then 2, never 3 + 2."""
    from speechrnn.events import run_to_end
    from speechrnn.recipes import synthesize_words

    out = tmp_path / "synth_digits"
    for per_word in (3, 2, 2):
        run_to_end(synthesize_words(("one", "two"), per_word, 0, out))
        assert sorted(len(list((out / word).glob("*.wav"))) for word in ("one", "two")) == [per_word, per_word]
