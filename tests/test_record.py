"""Recording: energy trimming (pure DSP), take files, and `speechrnn record` on the virtual mic."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from datapaths import NOISE, SPEECH_COMMANDS

from speechrnn.audio.capture import RingBuffer
from speechrnn.audio.io import load_audio
from speechrnn.errors import SpeechRNNError
from speechrnn.record import (
    RecordingSession,
    TrimConfig,
    frame_levels_db,
    next_take_path,
    process_take,
    save_take,
    speech_bounds,
    trim_to_speech,
)

RATE = 16000
YES = SPEECH_COMMANDS / "yes" / "b87bdb22_nohash_1.wav"


def noise(seconds: float, level: float = 0.003, seed: int = 0) -> np.ndarray:
    recording = load_audio(sorted(NOISE.glob("*.wav"))[0], RATE)
    reps = int(np.ceil(seconds * RATE / recording.size))
    out = np.tile(recording, reps)[: round(seconds * RATE)]
    return (out / np.sqrt(np.mean(out**2)) * level).astype(np.float32)


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Max normalised cross-correlation of two signals over all lags."""
    a = a - a.mean()
    b = b - b.mean()
    size = a.size + b.size
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    return float(np.max(np.abs(corr)) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_frame_levels_of_a_sine():
    t = np.arange(RATE) / RATE
    levels = frame_levels_db(0.5 * np.sin(2 * np.pi * 500 * t), 160)
    assert levels.shape == (100,)
    assert np.allclose(levels, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.05)
    assert frame_levels_db(np.zeros(1000), 160).max() == pytest.approx(-100.0)


def test_trim_finds_a_real_word_placed_in_noise():
    word = load_audio(YES, RATE)
    _, word_start, word_end = trim_to_speech(word, RATE, TrimConfig(pad_ms=0))
    assert word_end - word_start > 0.2 * RATE  # "yes" is a few hundred ms long
    offset = round(0.7 * RATE)
    take = noise(2.5)
    take[offset : offset + word.size] += word
    trimmed, start, end = trim_to_speech(take, RATE, TrimConfig(pad_ms=50))
    pad, frame = 0.05 * RATE, 160
    assert abs(start - (offset + word_start - pad)) <= 3 * frame
    assert abs(end - (offset + word_end + pad)) <= 3 * frame
    assert np.array_equal(trimmed, take[start:end])
    assert best_correlation(trimmed, word[word_start:word_end]) > 0.9


def test_no_speech_gives_an_empty_trim():
    for take in (noise(2.0), np.zeros(2 * RATE, dtype=np.float32)):
        trimmed, start, end = trim_to_speech(take, RATE)
        assert trimmed.size == 0 and start == end == 0


def test_a_click_is_not_speech_and_pauses_inside_a_word_are_bridged():
    frame_ms = 10.0
    levels = np.full(200, -60.0)
    levels[50:52] = -10.0  # a 20 ms click
    assert speech_bounds(levels, frame_ms) is None
    levels = np.full(200, -60.0)
    levels[40:70] = -20.0
    levels[85:110] = -18.0  # 150 ms pause: one word ("six")
    assert speech_bounds(levels, frame_ms) == (40, 110)
    levels[150:170] = -5.0  # a louder word 400 ms later: that one is picked
    assert speech_bounds(levels, frame_ms) == (150, 170)


def test_process_take_pads_to_one_second_and_reports_problems():
    word = load_audio(YES, RATE)
    take = noise(2.0)
    take[RATE // 2 : RATE // 2 + word.size] += word
    result = process_take(take, RATE, RATE)
    assert result.ok and result.clip.shape == (RATE,)
    assert 200 < result.speech_ms < 1000
    assert best_correlation(result.clip, word) > 0.9
    silent = process_take(np.zeros(2 * RATE, dtype=np.float32), RATE, RATE)
    assert not silent.ok and "no speech" in silent.problems[0] and not silent.clip.any()
    loud = take.copy()
    loud[RATE:RATE + 100] = 1.0
    assert any("clipped" in p for p in process_take(loud, RATE, RATE).problems)


def test_take_numbering_and_atomic_save(tmp_path):
    assert next_take_path(tmp_path, "yes", "ana") == tmp_path / "yes" / "ana_nohash_0.wav"
    (tmp_path / "yes").mkdir()
    for name in ("ana_nohash_0.wav", "ana_nohash_3.wav", "bob_nohash_7.wav", "ana-x_nohash_9.wav"):
        (tmp_path / "yes" / name).write_bytes(b"")
    assert next_take_path(tmp_path, "yes", "ana").name == "ana_nohash_4.wav"
    assert next_take_path(tmp_path, "yes", "Jo Doe_1").name == "Jo-Doe-1_nohash_0.wav"
    clip = 0.1 * np.sin(np.arange(RATE) / 10.0).astype(np.float32)
    path = save_take(tmp_path, "no", "ana", clip, RATE)
    assert path == tmp_path / "no" / "ana_nohash_0.wav"
    data, rate = sf.read(path, dtype="float32")
    assert rate == RATE and data.shape == (RATE,) and np.allclose(data, clip, atol=1e-4)
    assert save_take(tmp_path, "no", "ana", clip, RATE).name == "ana_nohash_1.wav"
    assert sorted(p.name for p in (tmp_path / "no").iterdir()) == ["ana_nohash_0.wav", "ana_nohash_1.wav"]
    for bad in ("_silence_", "a/b", ""):
        with pytest.raises(SpeechRNNError):
            save_take(tmp_path, bad, "ana", clip, RATE)
    with pytest.raises(SpeechRNNError):
        save_take(tmp_path, "yes", "___", clip, RATE)


class FakeMic:
    """Just enough of a Microphone for RecordingSession: a ring and a reader."""

    sample_rate_hz = RATE
    stall_s = 3.0

    def __init__(self):
        self.ring = RingBuffer(RATE * 5)

    def reader(self, from_now=True):
        from speechrnn.audio.capture import MicReader

        self.capture_rate_hz = RATE
        return MicReader(self, from_now)

    def check(self):
        pass


def test_recording_session_collects_exactly_the_duration():
    mic = FakeMic()
    mic.ring.write(np.full(500, 9.0, dtype=np.float32))  # before the session: not part of the take
    session = RecordingSession(mic, duration_s=0.5)
    assert session.poll() == 0.0 and not session.done
    mic.ring.write(np.arange(3000, dtype=np.float32) / 1e4)
    assert session.poll() == pytest.approx(3000 / 8000)
    mic.ring.write(np.ones(6000, dtype=np.float32) * 0.1)
    session.poll()
    assert session.done
    audio = session.audio()
    assert audio.shape == (8000,) and audio[0] == 0.0 and audio[-1] == pytest.approx(0.1)
    assert session.level_db == pytest.approx(-20.0, abs=0.1)


@pytest.mark.audio
def test_record_command_saves_a_trimmed_take_of_what_was_played(virtual_mic, tmp_path):
    from virtual_mic import Watched

    out = tmp_path / "dataset"
    watched = Watched(
        [sys.executable, "-m", "speechrnn", "record", "--words", "yes", "--takes", "1", "--out", str(out),
         "--speaker", "tester", "--seconds", "3", "--yes"],
        env={**os.environ, **virtual_mic.env()},
    )
    assert watched.wait_for("recording now", 120), watched.output()
    virtual_mic.play(YES)
    assert watched.finish(60) == 0, watched.output()
    saved = out / "yes" / "tester_nohash_0.wav"
    assert saved.exists(), watched.output()
    clip, rate = sf.read(saved, dtype="float32")
    assert rate == RATE and clip.shape == (RATE,)
    played = load_audio(YES, RATE)
    _, start, end = trim_to_speech(played, RATE, TrimConfig(pad_ms=0))
    assert best_correlation(clip, played[start:end]) > 0.9  # the word itself, not noise or silence
    _, clip_start, clip_end = trim_to_speech(clip, RATE, TrimConfig(pad_ms=0))
    assert abs((clip_end - clip_start) - (end - start)) < 0.1 * RATE  # trimmed to the same speech
    assert "1 take(s) saved" in watched.output()


@pytest.mark.audio
def test_interrupted_record_keeps_saved_takes(virtual_mic, tmp_path):
    from virtual_mic import Watched

    out = tmp_path / "dataset"
    watched = Watched(
        [sys.executable, "-m", "speechrnn", "record", "--words", "yes,no", "--takes", "5", "--out", str(out),
         "--speaker", "tester", "--seconds", "2", "--yes", "--retries", "0"],
        env={**os.environ, **virtual_mic.env()},
    )
    assert watched.wait_for("recording now", 120), watched.output()
    virtual_mic.play(YES)
    assert watched.wait_for(f"saved {out}", 30), watched.output()
    watched.interrupt()
    assert watched.finish(30) == 130
    assert (out / "yes" / "tester_nohash_0.wav").exists()
    assert not list(out.rglob("*.tmp")), "no half-written files"
    assert "Traceback" not in watched.output()
