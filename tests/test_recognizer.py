"""The streaming Recognizer: chunk-size independence, lanes, window mode, detection rules, live mic."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
import torch
from datapaths import NOISE, SPEECH_COMMANDS

from speechrnn.audio.io import load_audio
from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.model import ModelConfig, RNNClassifier
from speechrnn.recognizer import DetectorConfig, Recognizer, default_model_path, softmax

RATE = 16000
LABELS = ["_silence_", "_unknown_", "yes", "no"]
YES = SPEECH_COMMANDS / "yes" / "b87bdb22_nohash_1.wav"


def random_model(cell="gru", pooling="last", bidirectional=False, seed=0, running_mean_frames=0) -> RNNClassifier:
    torch.manual_seed(seed)
    return RNNClassifier(ModelConfig(num_classes=len(LABELS), cell=cell, pooling=pooling, hidden=32,
                                     bidirectional=bidirectional, running_mean_frames=running_mean_frames)).eval()


def speech_stream(seconds: float = 4.0) -> np.ndarray:
    """Real words over real noise: yes at 0.5 s, no at 2.2 s."""
    background = load_audio(sorted(NOISE.glob("*.wav"))[0], RATE)
    stream = np.tile(background, 3)[: round(seconds * RATE)] * 0.2
    for path, at in ((YES, 0.5), (SPEECH_COMMANDS / "no" / "b87bdb22_nohash_1.wav", 2.2)):
        word = load_audio(path, RATE)
        start = round(at * RATE)
        if start < stream.size:
            stream[start : start + word.size] += word[: stream.size - start]
    return stream.astype(np.float32)


def push_in_chunks(recognizer: Recognizer, audio: np.ndarray, chunk: int) -> list:
    found = []
    for start in range(0, audio.size, chunk):
        found += recognizer.push(audio[start : start + chunk])
    return found


def model_frames(audio: np.ndarray) -> np.ndarray:
    return FeatureExtractor(FeatureConfig()).numpy(audio)[0]


@pytest.mark.parametrize("engine", ["torch", "onnx"])
@pytest.mark.parametrize("cell,pooling,running_mean_frames", [
    ("gru", "last", 0), ("lstm", "mean", 0), ("rnn", "attention", 0), ("lstm", "attention", 30)])
def test_posteriors_do_not_depend_on_push_size(engine, cell, pooling, running_mean_frames):
    """Lanes, their staggered and silence resets, and the carried state (with the input's running
    mean, where the model has one): the same whatever the push size."""
    audio = speech_stream(3.0)
    model = random_model(cell, pooling, running_mean_frames=running_mean_frames)
    config = DetectorConfig(engine=engine, silence_reset_ms=300, silence_db=-30)
    runs = {}
    smallest = 1 if (cell, engine) == ("gru", "torch") else 13  # 1-sample pushes are slow: once is enough
    for chunk in (smallest, 160, 1000, 16000):
        recognizer = Recognizer(model, LABELS, config=config)
        push_in_chunks(recognizer, audio, chunk)
        assert recognizer.engine.name == engine
        runs[chunk] = (recognizer.posterior_history(1000), recognizer.raw_history(1000),
                       recognizer.hidden_history(1000))
    reference = runs[16000]
    assert reference[0].shape == (FeatureConfig().num_frames(audio.size), len(LABELS))
    for chunk, (smoothed, raw, hidden) in runs.items():
        assert np.allclose(smoothed, reference[0], atol=1e-5), chunk
        assert np.allclose(raw, reference[1], atol=1e-5), chunk
        assert np.allclose(hidden, reference[2], atol=1e-5), chunk


def test_detections_do_not_depend_on_push_size(word_model):
    audio = speech_stream(4.0)
    results = {}
    for chunk in (1, 160, 1000, 16000):
        recognizer = Recognizer.from_checkpoint(word_model)
        results[chunk] = push_in_chunks(recognizer, audio, chunk)
    reference = results[16000]
    assert [d.label for d in reference] == ["yes", "no"]
    for chunk, found in results.items():
        assert [(d.label, d.time_s, d.start_s, d.end_s) for d in found] == \
               [(d.label, d.time_s, d.start_s, d.end_s) for d in reference], chunk
        assert np.allclose([d.score for d in found], [d.score for d in reference], atol=1e-5)


def test_onnx_and_torch_engines_agree():
    audio = speech_stream(2.0)
    histories = []
    for engine in ("torch", "onnx"):
        recognizer = Recognizer(random_model(), LABELS, config=DetectorConfig(engine=engine))
        recognizer.push(audio)
        histories.append(recognizer.raw_history(1000))
    assert np.allclose(histories[0], histories[1], atol=1e-4)


def test_one_lane_without_resets_is_the_plain_carried_state():
    audio = speech_stream(2.0)
    model = random_model()
    recognizer = Recognizer(model, LABELS, config=DetectorConfig(lanes=1, lane_stride_ms=None, engine="torch"))
    push_in_chunks(recognizer, audio, 1234)
    with torch.no_grad():
        logits, _ = model.forward_frames(torch.from_numpy(model_frames(audio))[None])
    assert np.allclose(recognizer.raw_history(1000), softmax(logits[0].numpy()), atol=1e-5)


def test_each_frame_is_read_from_the_lane_with_about_one_clip_of_context():
    audio = speech_stream(3.0)
    model = random_model()
    lanes, stride_ms = 4, 250
    recognizer = Recognizer(model, LABELS, config=DetectorConfig(lanes=lanes, lane_stride_ms=stride_ms,
                                                                 engine="torch"))
    push_in_chunks(recognizer, audio, 777)
    raw = recognizer.raw_history(1000)
    frames = torch.from_numpy(model_frames(audio))
    stride = 25  # 250 ms in 10 ms frames
    for frame in (10, 99, 100, 137, 174, 175, 250, 280):
        lane = (frame // stride + 1) % lanes
        # lane k restarts from zero at frames f with (f - k*S) % (K*S) == 0: its last restart <= frame
        restarts = [f for f in range(frame + 1) if (f - lane * stride) % (lanes * stride) == 0]
        begin = restarts[-1] if restarts else 0
        age = frame - begin
        assert frame < lanes * stride or (lanes - 1) * stride <= age < lanes * stride
        with torch.no_grad():
            logits, _ = model.forward_frames(frames[begin : frame + 1][None])
        assert np.allclose(raw[frame], softmax(logits[0, -1].numpy()), atol=1e-5), frame


def test_silence_resets_the_state():
    model = random_model()
    loud = speech_stream(1.5)
    audio = np.concatenate([loud, np.zeros(RATE, dtype=np.float32), loud])
    config = DetectorConfig(lanes=1, lane_stride_ms=None, silence_reset_ms=300, silence_db=-80.0, engine="torch")
    recognizer = Recognizer(model, LABELS, config=config)
    push_in_chunks(recognizer, audio, 3000)
    raw = recognizer.raw_history(1000)
    frames = torch.from_numpy(model_frames(audio))
    levels = recognizer.level_history(1000)
    silent = np.flatnonzero(levels < -80.0)
    reset = silent[0] + 29  # the 30th silent frame starts from a zero state
    with torch.no_grad():
        logits, _ = model.forward_frames(frames[reset:][None])
    assert np.allclose(raw[reset:], softmax(logits[0].numpy()), atol=1e-5)


def test_window_mode_reruns_the_last_clip():
    model = random_model()
    audio = speech_stream(2.5)
    recognizer = Recognizer(model, LABELS, config=DetectorConfig(mode="window", window_stride_ms=100))
    push_in_chunks(recognizer, audio, 555)
    raw = recognizer.raw_history(1000)
    frames = torch.from_numpy(model_frames(audio))
    clip = FeatureConfig().clip_frames
    for frame in (149, 159, 209):  # (frame + 1) % 10 == 0: a window ends here
        with torch.no_grad():
            logits, _ = model(frames[frame + 1 - clip : frame + 1][None])
        expected = softmax(logits[0].numpy())
        assert np.allclose(raw[frame], expected, atol=1e-5)
        assert np.allclose(raw[frame + 5], expected, atol=1e-5)  # held until the next window


def test_bidirectional_models_fall_back_to_the_window():
    model = random_model(bidirectional=True)
    recognizer = Recognizer(model, LABELS)
    assert recognizer.mode == "window"
    recognizer.push(speech_stream(1.5))
    assert recognizer.hidden_history(10).shape == (10, 64)  # both directions
    with pytest.raises(CheckpointError, match="bidirectional"):
        Recognizer(model, LABELS, config=DetectorConfig(mode="stream"))


# ------------------------------------------------------------------------------ detection rules
class ScriptedEngine:
    """Stands in for the RNN: logits follow a script over absolute frames (1 lane)."""

    name = "scripted"

    def __init__(self, script: np.ndarray):
        self.script = script
        self.position = 0

    def initial_state(self):
        return []

    def reset(self, state, lanes):
        pass

    def run(self, frames, state):
        logits = self.script[self.position : self.position + len(frames)]
        self.position += len(frames)
        return logits[None], np.zeros((1, len(frames), 32), dtype=np.float32), state


QUIET_RMS, WORD_RMS = 1e-3, 0.1  # -60 and -20 dBFS: a word stands 40 dB above the room


def voiced(runs: list[tuple], frames: int) -> np.ndarray:
    """Audio for a script: a quiet room, and loud noise under the frames [begin, end) of each run
    (a word said to the microphone, as the level gate expects)."""
    hop, window = FeatureConfig().hop_samples, FeatureConfig().window_samples
    audio = QUIET_RMS * np.random.default_rng(0).standard_normal(window + (frames - 1) * hop)
    for _, begin, end, *_ in runs:
        audio[begin * hop : min(end, frames) * hop + window] *= WORD_RMS / QUIET_RMS
    return audio.astype(np.float32)


def scripted(config: DetectorConfig, runs: list[tuple[str, int, int]], total: int = 400,
             audio: np.ndarray | None = None) -> list:
    """Detections when ``label`` is certain over frames [begin, end) and silence elsewhere (heard
    over ``audio``, by default :func:`voiced`)."""
    script = np.zeros((total, len(LABELS)), dtype=np.float32)
    script[:, 0] = 10.0
    for label, begin, end in runs:
        script[begin:end] = 0.0
        script[begin:end, LABELS.index(label)] = 10.0
    recognizer = Recognizer(random_model(), LABELS, config=replace(config, lanes=1, lane_stride_ms=None,
                                                                   engine="torch"))
    recognizer.engine = ScriptedEngine(script)
    return recognizer.push(voiced(runs, total) if audio is None else audio)


def test_a_word_fires_once_per_stretch_above_threshold():
    config = DetectorConfig(threshold=0.8, smoothing_ms=50, suppression_ms=300)
    found = scripted(config, [("yes", 100, 250)])  # 1.5 s above threshold, longer than suppression
    assert [d.label for d in found] == ["yes"]
    assert found[0].time_s == pytest.approx((104 * 160 + 400) / RATE)  # 5-frame average crosses 0.8 at its 4th frame
    assert found[0].score >= 0.8


def test_suppression_and_background_labels():
    config = DetectorConfig(threshold=0.8, smoothing_ms=50, suppression_ms=500)
    found = scripted(config, [("yes", 50, 80), ("no", 88, 98), ("no", 200, 230), ("_unknown_", 300, 350)])
    # "yes" fires at frame 53; "no" at 88..98 is over before the 500 ms suppression ends;
    # the second "no" is clear; _unknown_ never fires
    assert [d.label for d in found] == ["yes", "no"]
    assert found[1].time_s > 2.0
    # a word still above threshold when the suppression ends fires then (as TF's RecognizeCommands)
    late = scripted(config, [("yes", 50, 80), ("no", 90, 130)])
    assert [d.label for d in late] == ["yes", "no"]
    assert late[1].time_s == pytest.approx(late[0].time_s + 0.5)


def test_min_count_and_per_word_thresholds():
    spike = [("yes", 100, 102)]  # 20 ms spike
    assert len(scripted(DetectorConfig(threshold=0.3, smoothing_ms=50), spike)) == 1
    assert scripted(DetectorConfig(threshold=0.3, smoothing_ms=50, min_count=3), spike) == []
    config = DetectorConfig(threshold=0.5, label_thresholds={"no": 1.0})  # "no" reaches 0.9999
    assert [d.label for d in scripted(config, [("yes", 50, 80), ("no", 200, 240)])] == ["yes"]


# ------------------------------------------------------------------------------ real words
def test_a_real_word_is_detected_with_its_time(word_model):
    recognizer = Recognizer.from_checkpoint(word_model)
    audio = speech_stream(4.0)
    found = push_in_chunks(recognizer, audio, 1600)
    assert [d.label for d in found] == ["yes", "no"]
    yes_end = 0.5 + load_audio(YES, RATE).size / RATE  # the file ends after the speech
    first = found[0]
    assert 0.5 < first.time_s < yes_end + 1.0
    assert 0.3 < first.start_s < first.end_s <= first.time_s + 1e-9
    assert recognizer.time_s == pytest.approx(4.0)
    assert recognizer.posteriors.shape == (len(recognizer.labels),)
    assert recognizer.feature_history(50).shape == (50, 40)
    assert recognizer.hidden_history(50).shape == (50, 64)
    assert -60 < recognizer.level_db < 0
    assert list(recognizer.detections) == found


def test_heard_audio_is_the_pushed_audio_of_the_word_whatever_the_push_size(word_model):
    from speechrnn.recognizer import HEARD_MARGIN_S

    audio = speech_stream(4.0)
    for chunk in (160, 16000):
        recognizer = Recognizer.from_checkpoint(word_model)
        found = push_in_chunks(recognizer, audio, chunk)
        assert [d.label for d in found] == ["yes", "no"]
        for detection in found:
            start = round((detection.start_s - HEARD_MARGIN_S) * RATE)
            end = round((detection.end_s + HEARD_MARGIN_S) * RATE)
            assert np.array_equal(recognizer.heard_audio(detection), audio[start:end]), (chunk, detection)
    # once the word has left the recognizer's history (history_s of audio), nothing is left of it
    recognizer.push(np.zeros(round(recognizer.config.history_s * RATE), dtype=np.float32))
    assert recognizer.heard_audio(found[0]).size == 0


def test_reset_starts_a_new_stream(word_model):
    recognizer = Recognizer.from_checkpoint(word_model)
    audio = speech_stream(4.0)
    first = recognizer.push(audio)
    recognizer.reset()
    assert recognizer.time_s == 0 and recognizer.posterior_history(10).shape == (0, len(recognizer.labels))
    again = recognizer.push(audio)
    assert [(d.label, d.time_s) for d in again] == [(d.label, d.time_s) for d in first]


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path):
    import speechrnn.recognizer as module

    assert default_model_path().name == "default_model.pt"
    monkeypatch.setattr(module, "default_model_path", lambda: tmp_path / "default_model.pt")
    with pytest.raises(CheckpointError, match="bundled default model is missing"):
        Recognizer.from_checkpoint(None)


LIVE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from speechrnn.audio.capture import Microphone
    from speechrnn.recognizer import Recognizer
    recognizer = Recognizer.from_checkpoint(sys.argv[1])
    found = []
    with Microphone(sample_rate_hz=recognizer.sample_rate_hz) as mic:
        reader = mic.reader()
        print("ready", flush=True)
        end = time.monotonic() + float(sys.argv[2])
        while time.monotonic() < end:
            time.sleep(0.05)
            found += recognizer.push(reader.read())
    print(json.dumps([[d.label, d.score, d.time_s] for d in found]))
    """
)


@pytest.mark.audio
def test_recognizer_on_a_live_input_stream(virtual_mic, word_model):
    from virtual_mic import Watched

    watched = Watched([sys.executable, "-c", LIVE_SCRIPT, str(word_model), "4"],
                      env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("ready", 120), watched.output()
    virtual_mic.play(YES)
    assert watched.finish(60) == 0, watched.output()
    found = json.loads(watched.stdout[-1])
    assert [label for label, _, _ in found] == ["yes"], watched.output()


# ------------------------------------------------------------------------ stream-trained models
def stream_model() -> RNNClassifier:
    torch.manual_seed(0)
    return RNNClassifier(ModelConfig(num_classes=len(LABELS), hidden=32, pooling="last", objective="stream",
                                     background_class=0)).eval()


def scripted_stream(runs: list[tuple[str, int, int, float]], total: int = 400, chunk: int | None = None,
                    pushed_frames: int | None = None, **detector) -> tuple[list, Recognizer]:
    """Detections of a stream-trained recognizer when ``label``'s logit follows a ramp up to
    ``height`` and back down over frames [begin, end); background elsewhere."""
    script = np.zeros((total, len(LABELS)), dtype=np.float32)
    script[:, 0] = 5.0
    for label, begin, end, height in runs:
        ramp = height * (1.0 - np.abs(np.linspace(-1.0, 1.0, end - begin)))
        script[begin:end, LABELS.index(label)] = 5.0 + ramp
    recognizer = Recognizer(stream_model(), LABELS, config=DetectorConfig(engine="torch", **detector))
    recognizer.engine = ScriptedEngine(script)
    audio = voiced(runs, pushed_frames or total)
    found = push_in_chunks(recognizer, audio, chunk or audio.size)
    return found, recognizer


def test_a_stream_trained_model_runs_one_carried_state():
    recognizer = Recognizer(stream_model(), LABELS, config=DetectorConfig(engine="torch"))
    assert recognizer.lanes == 1 and recognizer.describe()["lane_stride_frames"] is None
    model = stream_model()
    audio = speech_stream(3.0)
    push_in_chunks(recognizer, audio, 1000)
    with torch.no_grad():
        logits, _ = model.forward_frames(torch.from_numpy(model_frames(audio))[None])
    assert np.allclose(recognizer.raw_history(1000), softmax(logits[0].numpy()), atol=1e-5)


def test_a_stream_word_fires_once_at_its_peak_not_at_the_first_crossing():
    found, _ = scripted_stream([("yes", 100, 140, 8.0)], threshold=0.6, smoothing_ms=30)
    assert [d.label for d in found] == ["yes"]
    # the peak of the ramp is at frame 120 (smoothing 3 frames: the average peaks at 121)
    assert found[0].score > 0.99
    hold = round(DetectorConfig().peak_hold_ms / 10)
    assert found[0].time_s == pytest.approx((121 + hold) * 160 / RATE + 400 / RATE, abs=0.011)


def test_a_repeated_word_gives_one_detection_each_time():
    # "up, up, up": the same word three times, 0.3 s apart
    runs = [("yes", 50, 80, 8.0), ("yes", 110, 140, 8.0), ("yes", 170, 200, 8.0)]
    found, _ = scripted_stream(runs, threshold=0.6, smoothing_ms=30)
    assert [d.label for d in found] == ["yes", "yes", "yes"]


@pytest.mark.parametrize("chunk", [160, 777, 4000])
def test_stream_detections_do_not_depend_on_push_size(chunk):
    runs = [("yes", 50, 80, 8.0), ("no", 150, 190, 6.0), ("yes", 300, 330, 3.0)]
    whole, _ = scripted_stream(runs, threshold=0.6, smoothing_ms=50)
    pieces, _ = scripted_stream(runs, threshold=0.6, smoothing_ms=50, chunk=chunk)
    assert [d.label for d in whole] == ["yes", "no", "yes"]
    assert [(d.label, d.time_s, d.score) for d in pieces] == [(d.label, d.time_s, d.score) for d in whole]


def test_a_score_that_dips_within_one_word_gives_one_detection():
    # the score dips to ~0.5 (under the 0.6 threshold) and rises again inside one word, as an
    # averaged ensemble's score sometimes does: one detection by default (the stretch ends only
    # under 2/3 of the threshold), two when the stretch ends at the threshold itself
    runs = [("yes", 100, 140, 8.0), ("yes", 128, 168, 8.0)]
    found, _ = scripted_stream(runs, threshold=0.6, smoothing_ms=30)
    assert [d.label for d in found] == ["yes"]
    split, _ = scripted_stream(runs, threshold=0.6, smoothing_ms=30, release_ratio=1.0)
    assert [d.label for d in split] == ["yes", "yes"]
    # words apart still give a detection each (the score falls to the background between them)
    apart, _ = scripted_stream([("yes", 100, 140, 8.0), ("yes", 150, 190, 8.0)], threshold=0.6, smoothing_ms=30)
    assert [d.label for d in apart] == ["yes", "yes"]
    with pytest.raises(ValueError, match="release_ratio"):
        DetectorConfig(release_ratio=0.0)


def test_another_word_in_the_same_utterance_is_dropped():
    # "no" peaks 100 ms after "yes" (one utterance heard as both): only the first is reported
    found, _ = scripted_stream([("yes", 100, 130, 8.0), ("no", 108, 140, 8.0)], threshold=0.45, smoothing_ms=30)
    assert [d.label for d in found] == ["yes"]
    later, _ = scripted_stream([("yes", 100, 130, 8.0), ("no", 200, 230, 8.0)], threshold=0.45, smoothing_ms=30)
    assert [d.label for d in later] == ["yes", "no"]


def test_flush_decides_a_word_at_the_very_end():
    # the audio stops while "yes" is still rising (its peak would be at frame 400): nothing yet;
    # flush() pushes the silence that lets the peak pass, and reports it
    found, recognizer = scripted_stream([("yes", 380, 420, 8.0)], total=480, pushed_frames=400,
                                        threshold=0.6, smoothing_ms=30)
    assert found == []
    assert [d.label for d in recognizer.flush()] == ["yes"]


def spoken(words: list[str], pause_s: float) -> np.ndarray:
    """The test clips' speech one after the other with ``pause_s`` between, over quiet real noise."""
    from speechrnn.record import trim_to_speech

    parts = [np.zeros(RATE // 2, dtype=np.float32)]
    for name in words:
        speech, _, _ = trim_to_speech(load_audio(SPEECH_COMMANDS / name / "b87bdb22_nohash_1.wav", RATE), RATE)
        parts += [speech, np.zeros(round(pause_s * RATE), dtype=np.float32)]
    audio = np.concatenate(parts)
    background = load_audio(sorted(NOISE.glob("*.wav"))[0], RATE)
    return (audio + 0.2 * np.tile(background, 1 + audio.size // background.size)[: audio.size]).astype(np.float32)


def test_a_stream_trained_model_reports_each_spoken_word_once(stream_word_model):
    recognizer = Recognizer.from_checkpoint(stream_word_model)
    found = recognizer.push(spoken(["yes", "no"], 1.0)) + recognizer.flush()
    assert [d.label for d in found] == ["yes", "no"]
    assert all(d.score >= recognizer.config.threshold for d in found)


def test_a_word_said_again_and_again_is_detected_each_time(stream_word_model):
    # "three, three, three, three, three" with half-second pauses: five detections, not one
    recognizer = Recognizer.from_checkpoint(stream_word_model)
    audio = spoken(["three"] * 5, 0.5)
    found = push_in_chunks(recognizer, audio, 1600) + recognizer.flush()
    assert [d.label for d in found] == ["three"] * 5
    gaps = np.diff([d.time_s for d in found])
    assert (gaps > 0.5).all()


def test_peak_hold_delays_a_stream_detection_and_bad_values_are_refused():
    quick, _ = scripted_stream([("yes", 100, 140, 8.0)], threshold=0.6, smoothing_ms=30, peak_hold_ms=10)
    slow, _ = scripted_stream([("yes", 100, 140, 8.0)], threshold=0.6, smoothing_ms=30, peak_hold_ms=100)
    assert [d.label for d in quick] == [d.label for d in slow] == ["yes"]
    assert slow[0].time_s - quick[0].time_s == pytest.approx(0.09, abs=0.011)
    assert slow[0].score == quick[0].score  # the same peak either way
    with pytest.raises(ValueError, match="must not be negative"):
        DetectorConfig(refractory_ms=-1)


def talking_room(frames: int, rms: float) -> np.ndarray:
    """Five voices of the test clips talking on at once (as stream-eval's babble), at ``rms``."""
    from speechrnn.data.background import babble, word_bounds

    waves = torch.stack([torch.from_numpy(np.resize(load_audio(path, RATE), RATE))
                         for path in sorted(SPEECH_COMMANDS.glob("*/*.wav"))])
    hop, window = FeatureConfig().hop_samples, FeatureConfig().window_samples
    room = babble(waves, 1, window + (frames - 1) * hop, 5, torch.Generator().manual_seed(0),
                  bounds=word_bounds(waves, RATE), sample_rate_hz=RATE)[0].numpy()
    return (rms * room / np.sqrt(np.mean(np.square(room)))).astype(np.float32)


def test_a_word_must_stand_out_of_the_background():
    # the network says "yes" over frames 500..540 in every stream; only where the audio rises out
    # of the room's level is it a word said to the microphone
    total, runs = 600, [("yes", 500, 540, 8.0)]
    script = np.zeros((total, len(LABELS)), dtype=np.float32)
    script[:, 0] = 5.0
    script[500:540, LABELS.index("yes")] = 5.0 + 8.0 * (1.0 - np.abs(np.linspace(-1.0, 1.0, 40)))
    word = voiced(runs, total)
    steady = WORD_RMS * np.random.default_rng(1).standard_normal(word.size).astype(np.float32)
    talk = talking_room(total, WORD_RMS)
    gate = DetectorConfig().min_prominence_db
    found = {}
    for name, audio, floor in (("word", word, gate), ("hum", steady, gate), ("hum, no gate", steady, 0.0),
                               ("babble", talk, gate), ("babble, no gate", talk, 0.0),
                               ("word over babble", word + talk / 10.0, gate)):
        recognizer = Recognizer(stream_model(), LABELS, config=DetectorConfig(engine="torch", smoothing_ms=30,
                                                                              min_prominence_db=floor))
        recognizer.engine = ScriptedEngine(script)
        found[name] = recognizer.push(audio)
    assert [d.label for d in found["word"]] == ["yes"]
    assert found["word"][0].prominence_db == pytest.approx(40.0, abs=1.0)  # WORD_RMS over QUIET_RMS
    assert found["hum"] == []  # steady noise: its loudest 100 ms is within a dB of its median
    assert [d.label for d in found["hum, no gate"]] == ["yes"] and found["hum, no gate"][0].prominence_db < 3.0
    # a room full of talk rises and falls, but its loudest syllables stay near its usual level
    assert found["babble"] == []
    assert [d.label for d in found["babble, no gate"]] == ["yes"] and found["babble, no gate"][0].prominence_db < gate
    assert [d.label for d in found["word over babble"]] == ["yes"]  # said 20 dB over the talk: heard
    # clip-trained models are gated the same way
    clip_runs, clip_config = [("yes", 100, 140)], DetectorConfig(threshold=0.8, smoothing_ms=50)
    assert [d.label for d in scripted(clip_config, clip_runs)] == ["yes"]
    assert scripted(clip_config, clip_runs, audio=steady[: voiced(clip_runs, 400).size]) == []
    with pytest.raises(ValueError, match="must not be negative"):
        DetectorConfig(min_prominence_db=-1.0)
    with pytest.raises(ValueError, match="floor_window_ms"):
        DetectorConfig(floor_window_ms=50.0)
    with pytest.raises(ValueError, match="floor_percentile"):
        DetectorConfig(floor_percentile=101.0)


def test_a_one_word_file_is_heard_against_the_quiet_before_it():
    # a clip that is mostly word: the room before the stream began counts as its quietest moment,
    # so the word is not measured against itself
    found, _ = scripted_stream([("yes", 20, 90, 8.0)], total=100, smoothing_ms=30)
    assert [d.label for d in found] == ["yes"]
    assert found[0].prominence_db == pytest.approx(40.0, abs=1.0)


def test_a_model_records_its_own_threshold_and_a_threshold_given_wins(stream_word_model, tmp_path):
    """TrainConfig.detection_threshold travels in the checkpoint: the recognizer uses it unless a
    threshold is given (Listen's slider once moved, ``--threshold``); a model without one gets 0.6."""
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint
    from speechrnn.recognizer import DEFAULT_THRESHOLD

    audio = speech_stream(4.0)
    plain = Recognizer.from_checkpoint(stream_word_model)
    assert plain.config.threshold == DEFAULT_THRESHOLD
    heard = plain.push(audio) + plain.flush()
    yes = [d for d in heard if d.label == "yes"]
    assert yes and yes[0].score < 1.0
    checkpoint = load_checkpoint(stream_word_model)
    strict = (yes[0].score + 1.0) / 2  # above what "yes" reached
    checkpoint.train_config = {**checkpoint.train_config,
                               "train": {**checkpoint.train_config["train"], "detection_threshold": strict}}
    recorded = save_checkpoint(checkpoint, tmp_path / "strict.pt")
    own = Recognizer.from_checkpoint(recorded)
    assert own.config.threshold == pytest.approx(strict)
    assert "yes" not in [d.label for d in own.push(audio) + own.flush()]
    given = Recognizer.from_checkpoint(recorded, DetectorConfig(threshold=DEFAULT_THRESHOLD))
    assert [d.label for d in given.push(audio) + given.flush()] == [d.label for d in heard]
