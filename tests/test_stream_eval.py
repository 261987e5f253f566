"""Streaming evaluation: scoring rules, a tiny real stream, the CLI, and the speed probe."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import soundfile as sf
import torch
from datapaths import NOISE, SPEECH_COMMANDS

from speechrnn.events import Finished, Progress, Stage, run_to_end
from speechrnn.model import ModelConfig, RNNClassifier
from speechrnn.recognizer import DetectorConfig
from speechrnn.stream_eval import PlacedWord, StreamConfig, measure_recognizer_speed, score_detections, stream_eval


def word(label, start, end, target=True):
    return PlacedWord(label, f"{label}.wav", start, end, target)


def detection(label, time_s):
    return SimpleNamespace(label=label, time_s=time_s)


def test_scoring_counts_hits_misses_wrong_and_false_accepts():
    words = [word("yes", 1.0, 1.5), word("no", 4.0, 4.4), word("two", 8.0, 8.5), word("cat", 12.0, 12.3, False),
             word("yes", 16.0, 16.6)]
    found = [
        detection("yes", 1.6),  # hit, 100 ms after the end
        detection("yes", 1.9),  # duplicate
        detection("yes", 4.2),  # wrong label for "no"
        detection("no", 6.0),  # nothing there: false accept
        detection("two", 12.1),  # during a distractor: false accept
        detection("no", 16.5), detection("yes", 16.9),  # hit (300 ms) with a wrong label first: false accept
    ]
    result = score_detections(words, found, tolerance_s=1.0, hours=0.5, labels=["_silence_", "yes", "no", "two"])
    assert (result.hits, result.misses, result.wrong) == (2, 1, 1)
    assert result.false_accepts == 3 and result.duplicates == 1
    assert result.targets == 4 and result.distractors == 1
    assert result.hit_rate == 0.5 and result.false_accepts_per_hour == 6.0
    assert result.latencies_ms == pytest.approx([100.0, 300.0])
    assert result.per_label["two"] == {"hits": 0, "misses": 1, "wrong": 0}
    assert result.per_label["no"]["wrong"] == 1
    summary = result.to_dict()
    assert summary["latency_median_ms"] == pytest.approx(200.0)
    assert "hit rate" in result.table() and "50.0 %" in result.table()
    # 2 of 4 words tell little: the 95 % interval of the hit rate is wide (Wilson: 15-85 %)
    assert summary["hit_rate_ci95"] == pytest.approx([0.150, 0.850], abs=1e-3)
    assert "95 % interval 15.0-85.0 %" in result.table()
    assert summary["false_accepts_per_100_distractors_ci95"] == pytest.approx([20.65, 100.0], abs=0.01)


def test_detection_after_the_tolerance_is_a_miss_and_a_false_accept():
    result = score_detections([word("yes", 1.0, 1.5)], [detection("yes", 2.7)], tolerance_s=1.0, hours=1.0)
    assert (result.hits, result.misses, result.false_accepts) == (0, 1, 1)


def test_stream_eval_on_a_tiny_stream(word_model):
    config = StreamConfig(minutes=1.0, snr_db=20.0, seed=3)
    events = list(stream_eval(word_model, SPEECH_COMMANDS, NOISE, config))
    assert any(isinstance(e, Stage) and e.name == "recognize" for e in events)
    assert any(isinstance(e, Progress) for e in events)
    result = events[-1].result
    assert isinstance(events[-1], Finished)
    assert 10 <= result.targets <= 40 and result.distractors == 0  # the model knows every folder's word
    assert result.hits + result.misses + result.wrong == result.targets
    assert result.hit_rate >= 0.7  # the tiny model was trained on these very clips
    assert result.false_accepts <= 3
    assert all(-300 < latency < 1000 for latency in result.latencies_ms)
    assert {w.label for w in result.words} <= {"yes", "no", "one", "two", "three", "nine"}
    again = run_to_end(stream_eval(word_model, SPEECH_COMMANDS, NOISE, config))
    assert again.to_dict() | {"settings": None} == result.to_dict() | {"settings": None}  # seeded
    other = run_to_end(stream_eval(word_model, SPEECH_COMMANDS, NOISE, StreamConfig(minutes=1.0, seed=4)))
    assert [w.start_s for w in other.words] != [w.start_s for w in result.words]


def test_detections_and_words_are_reported_on_one_clock(word_model):
    """One stream per noise, reported end to end: the detections move with their stream's words, so
    scoring the reported detections against the reported words gives the same counts (not so when
    the second stream's detections kept its own clock)."""
    config = StreamConfig(minutes=1.0, snr_db=20.0, seed=3)
    result = run_to_end(stream_eval(word_model, SPEECH_COMMANDS, NOISE, config))
    assert len(result.per_noise) == 2 and result.hits >= 10
    found = [SimpleNamespace(**d) for d in result.detections]
    rescored = score_detections(result.words, found, config.tolerance_s, result.hours)
    assert (rescored.hits, rescored.wrong, rescored.false_accepts) == (result.hits, result.wrong, result.false_accepts)
    second = [d for d in result.detections if d["noise"] == list(result.per_noise)[1]]
    assert second and min(d["time_s"] for d in second) >= 60.0 * config.minutes - config.tolerance_s


def test_stream_eval_command_writes_json(word_model, tmp_path):
    out = tmp_path / "report" / "stream.json"
    command = [sys.executable, "-m", "speechrnn", "stream-eval", str(word_model), "--data", str(SPEECH_COMMANDS),
               "--noise", str(NOISE), "--minutes", "0.5", "--snr-db", "15", "--seed", "1", "--json", str(out),
               "--events", "--threshold", "0.7", "--min-prominence-db", "4.5", "--draw", "clip", "--no-replay"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "hit rate" in result.stdout and "false accepts" in result.stdout
    data = json.loads(out.read_text())
    for key in ("hit_rate", "false_accepts_per_hour", "latency_median_ms", "latency_p95_ms", "hits", "misses",
                "wrong", "false_accepts"):
        assert key in data
    assert data["settings"]["detector"]["threshold"] == 0.7
    assert data["settings"]["detector"]["min_prominence_db"] == 4.5
    assert data["settings"]["stream"]["distractor_draw"] == "clip"
    assert data["settings"]["stream"]["replay_first_span"] is False
    assert len(data["words"]) == data["targets"] + data["distractors"]
    assert data["detections"] and all(d["prominence_db"] >= 4.5 for d in data["detections"])


def test_a_bad_detector_value_is_a_one_line_error(word_model):
    command = [sys.executable, "-m", "speechrnn", "stream-eval", str(word_model), "--data", str(SPEECH_COMMANDS),
               "--noise", str(NOISE), "--minutes", "0.5", "--min-prominence-db", "-1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "min_prominence_db must not be negative" in result.stderr and "Traceback" not in result.stderr


def test_stream_eval_bad_folders_are_one_line_errors(word_model, tmp_path):
    command = [sys.executable, "-m", "speechrnn", "stream-eval", str(word_model), "--data", str(tmp_path / "nope"),
               "--noise", str(NOISE), "--minutes", "0.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "nope: data folder does not exist" in result.stderr and "Traceback" not in result.stderr


def test_speed_probe_reports_frames_and_real_time_factor():
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(num_classes=12)).eval()
    result = measure_recognizer_speed(model, audio_s=2.0, chunk_ms=100.0)
    assert result.frames == 200 and result.mode == "stream" and result.lanes == 4
    assert result.us_per_frame > 0 and result.real_time_factor == pytest.approx(result.us_per_frame * 100 / 1e6)
    window = measure_recognizer_speed(model, config=DetectorConfig(mode="window", window_stride_ms=100), audio_s=1.0)
    assert window.mode == "window" and window.window_stride_ms == 100


def test_false_accepts_on_distractors_are_counted_apart():
    words = [word("yes", 1.0, 1.5), word("cat", 4.0, 4.3, False), word("bed", 8.0, 8.3, False)]
    found = [detection("yes", 1.6), detection("yes", 4.5), detection("no", 6.5)]
    result = score_detections(words, found, tolerance_s=1.0, hours=0.1)
    assert result.false_accepts == 2 and result.false_accepts_on_distractors == 1
    assert result.to_dict()["false_accepts_per_100_distractors"] == pytest.approx(50.0)


def test_drift_compares_the_first_and_last_span():
    words = [word("yes", t, t + 0.5) for t in (10.0, 20.0, 7000.0, 7010.0)]
    found = [detection("yes", 10.6), detection("yes", 20.6), detection("yes", 7000.6)]  # the last word is missed
    result = score_detections(words, found, tolerance_s=1.0, hours=2.0)
    assert result.drift(3600.0) == {"span_s": 3600.0, "replayed": False, "first_hit_rate": 1.0,
                                     "last_hit_rate": 0.5}
    assert result.drift(4000.0) is None  # the stream is shorter than two spans


def test_a_replayed_span_is_the_same_audio_and_its_words_are_paired(stream_word_model):
    """The last span of a long stream replays its first sample for sample (words and noise), and
    the drift check pairs each word with its replay, so lost and gained words are counted."""
    import numpy as np

    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.data.layout import audio_files_in, scan_folder
    from speechrnn.recognizer import is_background
    from speechrnn.stream_eval import _NoiseLoop, _plan_stream, _render, _replay_first_span

    checkpoint = load_checkpoint(stream_word_model)
    rate, clip_samples = checkpoint.feature_config.sample_rate_hz, checkpoint.feature_config.clip_samples
    vocabulary = {label for label in checkpoint.labels if not is_background(label)}
    config = StreamConfig(minutes=1.0, seed=5, per_noise=False, drift_hour_s=20.0)
    span = round(config.drift_hour_s * rate)
    rng = np.random.default_rng(config.seed)  # as stream_eval draws them: the noise's offset, then the plan
    noise = _NoiseLoop(audio_files_in(NOISE), rate, rng)
    plan, scale = run_to_end(_plan_stream(scan_folder(SPEECH_COMMANDS), vocabulary, config, rate, clip_samples,
                                          noise, rng, None))
    replay = _replay_first_span(plan, span, rate)
    start = replay.total_samples - span
    assert replay.replay_from == start and replay.replayed
    early = _render(replay, noise, scale, 0, span)
    chunk = 7_919  # pushes that straddle the replay's start are rendered in two parts
    late = np.concatenate([_render(replay, noise, scale, s, min(chunk, replay.total_samples - s))
                           for s in range(start - chunk // 2, replay.total_samples, chunk)])[chunk // 2:]
    crossing = [p for p, i, _ in replay.placements if p < span < p + replay.loaded[i].samples.size]
    same_until = crossing[0] if crossing else span  # a word cut by the span's end is not replayed
    assert np.array_equal(early[:same_until], late[:same_until])
    assert not np.allclose(_render(plan, noise, scale, start, span), late)  # not the audio it replaced
    for first, last in replay.replayed:
        assert replay.words[last].path == replay.words[first].path
        assert replay.words[last].end_s - replay.words[first].end_s == pytest.approx(start / rate)

    result = run_to_end(stream_eval(stream_word_model, SPEECH_COMMANDS, NOISE, config))
    assert result.words == replay.words  # the stream that was scored is this one
    drift = result.drift(config.drift_hour_s)
    replayed_targets = sum(replay.words[first].target for first, _ in replay.replayed)
    assert drift["replayed"] and drift["words"] == len(result.replayed_pairs) == replayed_targets > 0
    assert drift["first_hit_rate"] == sum(early_hit for early_hit, _ in result.replayed_pairs) / drift["words"]
    assert drift["lost"] + drift["gained"] <= drift["words"]
    assert 0 <= drift["detections"]["same"] <= min(drift["detections"]["early"], drift["detections"]["late"])
    assert drift["detections"]["early"] > 0  # the tiny model hears some of the words
    assert "replayed at the end" in result.table()
    fresh = run_to_end(stream_eval(stream_word_model, SPEECH_COMMANDS, NOISE,
                                   StreamConfig(minutes=1.0, seed=5, per_noise=False, drift_hour_s=20.0,
                                                replay_first_span=False)))
    assert not fresh.replayed_pairs and fresh.drift(20.0)["replayed"] is False
    assert fresh.words == plan.words


def test_stream_eval_reports_each_noise_and_the_noise_alone(stream_word_model, tmp_path):
    config = StreamConfig(minutes=0.5, snr_db=15.0, seed=2, noise_only_hours=0.01)
    result = run_to_end(stream_eval(stream_word_model, SPEECH_COMMANDS, NOISE, config))
    noises = sorted(p.name for p in NOISE.glob("*.wav"))
    assert sorted(result.per_noise) == noises and sorted(result.noise_only) == noises
    assert all(row["hours"] == pytest.approx(0.5 / 60) for row in result.per_noise.values())
    assert sum(row["targets"] for row in result.per_noise.values()) == result.targets
    assert result.hours == pytest.approx(1.0 / 60)
    assert all(row["hours"] == 0.01 for row in result.noise_only.values())
    table = result.table()
    assert "noise alone" in table and all(name in table for name in noises)
    for name, row in result.noise_only.items():  # 36 s of noise alone: the recordings loop (or not) as they are long
        assert row["loops"] == pytest.approx(36.0 / sf.info(str(NOISE / name)).duration, rel=0.01)
        assert row["places"] <= row["false_accepts"] and (row["places"] == 0) == (row["false_accepts"] == 0)


def test_detections_at_one_place_of_a_looped_recording_count_as_one_place():
    """A word spoken inside a babble recording fires once a loop: the noise-alone report says how many
    places of the recording its false accepts stand at, not only how many there were."""
    from speechrnn.stream_eval import places_in_loop

    loop = 120.0
    assert places_in_loop([], loop, 1.0) == 0
    assert places_in_loop([37.2 + k * loop for k in range(30)], loop, 1.0) == 1  # one "right", looped 30 times
    assert places_in_loop([37.2, 37.2 + loop + 0.4, 90.0, 90.0 + 2 * loop], loop, 1.0) == 2
    assert places_in_loop([0.2, loop - 0.3], loop, 1.0) == 1  # across the loop's seam
    assert places_in_loop([10.0, 20.0, 30.0], loop, 1.0) == 3
    result = score_detections([], [], tolerance_s=1.0, hours=0.0)
    result.noise_only = {"babble.wav": {"hours": 4.0, "false_accepts": 30, "labels": ["right"], "loops": 30.0,
                                        "places": 1}}
    assert "7.50 false accepts per hour (4.00 h, no speech); at 1 place of its recordings, each played 30 times" \
        in result.table()


def test_fsdd_digit_folders_count_as_the_words(tmp_path):
    from datapaths import FSDD

    from speechrnn.data.layout import scan_folder
    from speechrnn.stream_eval import _aliased

    clips = _aliased(scan_folder(FSDD), {"zero", "one", "two", "three"})
    assert {c.label for c in clips} == {"zero", "one", "two", "three"}
    assert {c.label for c in _aliased(scan_folder(FSDD), {"yes"})} == {"0", "1", "2", "3"}


def test_words_without_speech_are_a_clear_error_not_an_endless_search(word_model, tmp_path):
    """Clips in which no speech is found are skipped; when every clip of the model's words is such a
    clip, the stream cannot be built (it used to draw clips forever)."""
    import numpy as np
    import soundfile as sf

    from speechrnn.errors import DataError
    from speechrnn.features import FeatureConfig

    rate_hz = FeatureConfig().sample_rate_hz
    for label in ("yes", "no"):
        (tmp_path / "words" / label).mkdir(parents=True)
        for n in range(3):
            sf.write(tmp_path / "words" / label / f"{n:08x}_nohash_0.wav", np.zeros(rate_hz, dtype=np.float32), rate_hz)
    with pytest.raises(DataError, match="no speech found in any clip of the model's words"):
        run_to_end(stream_eval(word_model, tmp_path / "words", NOISE, StreamConfig(minutes=0.5)))


def test_distractors_drawn_by_clip_play_every_clip_as_often_not_every_word(word_model, tmp_path):
    """By word (the default), the one clip of a scarce other word is half the distractors; by clip,
    one of the eight other-word clips, and more distinct utterances are heard."""
    import shutil

    (tmp_path / "yes").mkdir()
    for path in sorted((SPEECH_COMMANDS / "yes").iterdir()):
        shutil.copy(path, tmp_path / "yes" / path.name)
    sources = sorted(p for label in ("no", "one", "two", "three") for p in (SPEECH_COMMANDS / label).iterdir())
    for folder, paths in (("cat", sources[:1]), ("dog", sources[1:])):  # 1 clip of "cat", 7 of "dog"
        (tmp_path / folder).mkdir()
        for index, path in enumerate(paths):  # the sources share names: one speaker per clip here
            shutil.copy(path, tmp_path / folder / f"{index:08x}_nohash_0.wav")
    plays = {}
    for draw in ("word", "clip"):
        config = StreamConfig(minutes=6.0, seed=3, distractor_fraction=0.9, distractor_draw=draw, per_noise=False)
        result = run_to_end(stream_eval(word_model, tmp_path, NOISE, config))
        others = [w for w in result.words if not w.target]
        plays[draw] = (sum(w.label == "cat" for w in others) / len(others), len({w.path for w in others}))
    assert plays["word"][0] > 0.35 and plays["clip"][0] < 0.25
    assert plays["clip"][1] == 8  # every clip of the other words is heard
    with pytest.raises(ValueError, match="distractor_draw"):
        StreamConfig(distractor_draw="speaker")
