"""`speechrnn listen`: live on the virtual microphone, Ctrl-C, and --file."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from datapaths import NOISE, SPEECH_COMMANDS

from speechrnn.audio.io import load_audio, write_wav_atomic
from speechrnn.recognizer import default_model_path

RATE = 16000
YES = SPEECH_COMMANDS / "yes" / "b87bdb22_nohash_1.wav"
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  detected  (\S+)  (\d\.\d\d)  \(t=(\d+\.\d\d) s\)$")


def listen(*args: str) -> list[str]:
    return [sys.executable, "-m", "speechrnn", "listen", *args]


@pytest.mark.audio
def test_listen_reports_a_word_played_into_the_microphone(virtual_mic, word_model):
    from virtual_mic import Watched

    watched = Watched(listen(str(word_model), "--duration", "6"), env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("listening on", 120), watched.output()
    virtual_mic.play(YES)
    assert watched.finish(60) == 0, watched.output()
    lines = [line for line in watched.stdout if line.strip()]
    matches = [LINE.match(line) for line in lines]
    assert lines and all(matches), watched.output()  # stdout is a pipe: plain lines only
    assert [m.group(1) for m in matches] == ["yes"], watched.output()
    assert float(matches[0].group(2)) >= 0.6


@pytest.mark.audio
def test_listen_picks_up_again_when_the_microphone_comes_back(virtual_mic, word_model):
    """A listener left running outlives its microphone: the sound server dies (as it does when a USB
    microphone is pulled or a laptop sleeps), comes back at the same address, and the words said
    after that are heard."""
    from virtual_mic import Watched

    watched = Watched(listen(str(word_model)), env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("listening on", 120), watched.output()
    virtual_mic.unplug()
    assert watched.wait_for("waiting for the microphone", 30), watched.output()
    virtual_mic.plug_in()
    assert watched.wait_for("listening again", 30), watched.output()
    virtual_mic.play(YES)
    assert watched.wait_for("detected", 30), watched.output()
    watched.interrupt()
    assert watched.finish(20) == 0, watched.output()
    assert "Traceback" not in watched.output()
    words = [LINE.match(line).group(1) for line in watched.stdout if line.strip()]
    assert words == ["yes"], watched.output()


@pytest.mark.audio
def test_listen_stops_cleanly_on_ctrl_c(virtual_mic, random_model):
    from virtual_mic import Watched

    watched = Watched(listen(str(random_model)), env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("listening on", 120), watched.output()
    watched.interrupt()
    assert watched.finish(20) == 0, watched.output()
    assert "Traceback" not in watched.output()


@pytest.mark.audio
def test_a_listener_stopped_by_sigterm_lets_its_last_command_finish(virtual_mic, word_model, tmp_path):
    """As a service manager stops it: SIGTERM ends the listener like Ctrl-C (exit 143), and the
    command a word just started has run to its end by the time the listener is gone."""
    import signal

    from virtual_mic import Watched

    acted = tmp_path / "acted.txt"
    watched = Watched(listen(str(word_model), "--exec", f'sleep 1; echo "$SPEECHRNN_WORD" > {acted}'),
                      env={**os.environ, **virtual_mic.env()})
    assert watched.wait_for("listening on", 120), watched.output()
    virtual_mic.play(YES)
    assert watched.wait_for("detected", 30), watched.output()
    watched.process.send_signal(signal.SIGTERM)
    watched.process.wait(timeout=30)
    assert acted.exists() and acted.read_text().split() == ["yes"]  # written before the listener exited
    assert watched.finish(30) == 143, watched.output()
    assert "Traceback" not in watched.output()


def test_a_detections_command_starts_before_its_line_is_printed():
    """Once "detected" is printed its command is running: a SIGTERM right after the line (what the test
    above sends) must not find the command not yet started. --save-heard's "saved" line comes after."""
    from speechrnn.cli.listen import announce

    order = []

    class View:
        def detection(self, detection, stamp):
            order.append(f"line {detection} {stamp}")

    announce("yes", "12:00", View(), [lambda d: order.append(f"saved {d}")], lambda d: order.append(f"command {d}"))
    assert order == ["command yes", "line yes 12:00", "saved yes"]
    announce("no", "12:01", View(), [])
    assert order[-1] == "line no 12:01"


def long_file(tmp_path) -> tuple:
    """Noise with "yes" at 1 s and "two" at 4 s."""
    background = load_audio(sorted(NOISE.glob("*.wav"))[1], RATE)
    audio = np.tile(background, 3)[: 7 * RATE] * 0.3
    for word, at in (("yes", 1.0), ("two", 4.0)):
        clip = load_audio(sorted((SPEECH_COMMANDS / word).glob("*.wav"))[-1], RATE)
        audio[round(at * RATE) : round(at * RATE) + clip.size] += clip
    return write_wav_atomic(tmp_path / "long.wav", audio, RATE), [("yes", 1.0), ("two", 4.0)]


def test_listen_file_runs_the_same_path(word_model, tmp_path):
    path, truth = long_file(tmp_path)
    result = subprocess.run(listen(str(word_model), "--file", str(path)), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    matches = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(matches), result.stdout
    found = [(m.group(1), float(m.group(3))) for m in matches]
    assert [label for label, _ in found] == [label for label, _ in truth]
    for (_, time_s), (_, at) in zip(found, truth):
        assert at < time_s < at + 2.0  # within the clip and up to a second after it
    assert "2 detection(s) in 7.0 s" in result.stderr


def test_listen_runs_a_command_for_each_word_it_hears(word_model, tmp_path):
    """--exec: a word said turns a light on. The command sees the word, score and time in its
    environment; its own output goes to stderr, so stdout stays one line per detection."""
    path, truth = long_file(tmp_path)
    out = tmp_path / "actions.txt"
    command = f'echo "$SPEECHRNN_WORD $SPEECHRNN_SCORE $SPEECHRNN_TIME_S $SPEECHRNN_MODEL" >> {out}; echo acted'
    result = subprocess.run(listen(str(word_model), "--file", str(path), "--exec", command), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    matches = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(matches) and len(matches) == 2, result.stdout
    acted = [line.split() for line in out.read_text().splitlines()]
    assert [(word, score, time_s) for word, score, time_s, _ in acted] == [m.group(1, 2, 3) for m in matches]
    assert [word for word, *_ in acted] == [label for label, _ in truth]
    assert all(model == str(word_model) for *_, model in acted)
    assert result.stderr.count("acted") == 2


def test_a_failing_command_is_one_line_and_listening_goes_on(word_model, tmp_path):
    path, _ = long_file(tmp_path)
    result = subprocess.run(listen(str(word_model), "--file", str(path), "--exec", "exit 3"), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [LINE.match(line).group(1) for line in result.stdout.splitlines()] == ["yes", "two"]
    assert "--exec: the command for 'yes' exited with status 3" in result.stderr
    assert "--exec: the command for 'two' exited with status 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_word_runs_its_own_command_and_exec_the_others(word_model, tmp_path):
    """--exec-word: "two" has a command of its own; --exec serves the other words ("yes")."""
    path, _ = long_file(tmp_path)
    out = tmp_path / "actions.txt"
    result = subprocess.run(listen(str(word_model), "--file", str(path),
                                   "--exec", f'echo "other $SPEECHRNN_WORD" >> {out}',
                                   "--exec-word", "two", f'echo "own $SPEECHRNN_WORD" >> {out}'),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(out.read_text().splitlines()) == ["other yes", "own two"]
    wrong = subprocess.run(listen(str(word_model), "--file", str(path), "--exec-word", "lights", "true"),
                           capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert f"--exec-word: 'lights' is not a word of {word_model} (its words: yes, no, " in wrong.stderr


@pytest.mark.parametrize("model", ["word_model", "stream_word_model"])
def test_listen_file_on_one_short_clip_finds_its_word(model, request):
    # a user's very first test: the clip ends right after the word, so the end must be flushed
    path = SPEECH_COMMANDS / "three" / "b87bdb22_nohash_1.wav"
    checkpoint = request.getfixturevalue(model)
    result = subprocess.run(listen(str(checkpoint), "--file", str(path)), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert [LINE.match(line).group(1) for line in result.stdout.splitlines()] == ["three"]
    assert "1 detection(s) in 1.0 s" in result.stderr


def test_listen_file_errors_are_one_line(word_model, tmp_path):
    result = subprocess.run(listen(str(word_model), "--file", str(tmp_path / "missing.wav")),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("missing.wav: no such file")
    assert "Traceback" not in result.stderr


def test_listen_with_the_bundled_default_model(tmp_path):
    if not default_model_path().exists():
        pytest.skip(f"the bundled default model is not there yet ({default_model_path()})")
    from speechrnn.checkpoint import load_checkpoint

    padded = np.concatenate([np.zeros(RATE // 2), load_audio(YES, RATE), np.zeros(RATE)])
    path = write_wav_atomic(tmp_path / "yes.wav", padded, RATE)
    result = subprocess.run(listen("--file", str(path)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "detection(s) in 2.5 s" in result.stderr
    if "yes" in load_checkpoint(default_model_path()).labels:
        assert [LINE.match(line).group(1) for line in result.stdout.splitlines()] == ["yes"]


def test_listen_keeps_what_it_heard_as_a_dataset_folder(word_model, tmp_path):
    from speechrnn.data.layout import scan_folder
    from speechrnn.recognizer import Recognizer

    path, truth = long_file(tmp_path)
    kept = tmp_path / "heard"
    result = subprocess.run(listen(str(word_model), "--file", str(path), "--save-heard", str(kept)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    clips = scan_folder(kept)
    assert sorted((clip.label, clip.path.name) for clip in clips) == [
        ("two", "heard_nohash_0.wav"), ("yes", "heard_nohash_0.wav")]
    assert result.stderr.count("saved ") == 2
    # each kept clip is one clip long and holds its word: the model hears that word in it alone
    recognizer = Recognizer.from_checkpoint(word_model)
    for clip in clips:
        audio = load_audio(clip.path, RATE)
        assert audio.size == RATE
        recognizer.reset()
        heard = recognizer.push(audio) + recognizer.flush()
        assert [d.label for d in heard] == [clip.label], clip.path


def test_audio_without_the_words_keeps_every_detection_as_other_speech(word_model, tmp_path):
    from speechrnn.data.layout import scan_folder

    path, _ = long_file(tmp_path)  # as if this recording held none of the model's words
    kept = tmp_path / "heard"
    result = subprocess.run(listen(str(word_model), "--file", str(path), "--save-heard", str(kept),
                                   "--heard-as-other"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(clip.path.relative_to(kept).as_posix() for clip in scan_folder(kept)) == [
        "_unknown_/heard_nohash_0.wav", "_unknown_/heard_nohash_1.wav"]
    alone = subprocess.run(listen(str(word_model), "--file", str(path), "--heard-as-other"),
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 2
    assert alone.stderr.strip() == "speechrnn listen: error: --heard-as-other needs --save-heard DIR (where to keep them)"


def test_save_heard_cannot_write_is_one_line(word_model, tmp_path):
    path, _ = long_file(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = subprocess.run(listen(str(word_model), "--file", str(path), "--save-heard", str(blocker)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"speechrnn listen: error: {blocker}: cannot keep what is heard there (File exists)"
    assert blocker.read_text() == "not a folder"
