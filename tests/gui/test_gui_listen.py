"""Listen panel: microphone handling, live views, sensitivity, room gate, detections, file input."""

from __future__ import annotations

import numpy as np
import pytest
from gui_support import SPEECH_COMMANDS, keep_window, speech

from gui.panels.listen import FileFeed, sensitivity_for, threshold_for
from gui.settings import Settings

RATE = 16000


def listen_panel(qtbot, window):
    window.show_panel("listen")
    panel = window.panels["listen"]
    qtbot.waitUntil(lambda: panel.recognizer is not None, timeout=30000)
    return panel


def test_sensitivity_slider_maps_to_thresholds():
    assert threshold_for(0) == pytest.approx(0.99)
    assert threshold_for(40) == pytest.approx(0.6)
    assert threshold_for(100) == pytest.approx(0.05)
    for threshold in (0.3, 0.6, 0.9):
        assert threshold_for(sensitivity_for(threshold)) == pytest.approx(threshold)


def test_no_microphone_shows_a_banner_with_retry_and_the_rest_keeps_working(qtbot, no_microphone, window):
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(panel.banner.isVisible)
    assert "No microphone" in panel.banner_label.text()
    assert not panel.device_combo.isEnabled()
    assert "none" in window.mic_label.text()
    panel.retry_button.click()  # still none: the banner stays, nothing crashes
    assert panel.banner.isVisible()
    # the model is loaded and the views work without a microphone
    assert panel.bars.labels[2:] == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert "zero" in panel.vocab_label.text() and "_silence_" not in panel.vocab_label.text()


def test_microphone_audio_reaches_recognizer_and_views(qtbot, ring_microphone, window):
    panel = listen_panel(qtbot, window)
    mic = ring_microphone()
    assert not panel.banner.isVisible()
    assert panel.device_combo.currentText().startswith("Test ring microphone")
    assert Settings().input_device == ""  # nothing chosen yet: the default device is used
    word = speech("yes")
    mic.write(np.concatenate([np.zeros(RATE // 4, np.float32), word]))
    qtbot.waitUntil(lambda: panel.recognizer.time_s >= (word.size + RATE // 4) / RATE - 1e-6, timeout=5000)
    panel.refresh()
    frames = panel.recognizer.frames_seen
    assert frames > 100
    shown = min(frames, panel.features.frames)
    for view in (panel.features, panel.memory):  # the MFCC frames and the hidden states, one column each
        columns = ~np.isnan(view.values).all(axis=0)
        assert columns.sum() == shown and columns[-shown:].all()  # newest on the right, blank before
        assert np.nanmax(np.abs(view.values)) > 0
    assert panel.meter.peak_db > -40  # the word is loud
    assert np.isclose(panel.recognizer.posteriors.sum(), 1.0, atol=1e-3)


def test_choosing_a_device_is_remembered(qtbot, ring_microphone, window):
    panel = listen_panel(qtbot, window)
    panel.device_combo.activated.emit(0)
    assert Settings().input_device == "Test ring microphone"
    assert ring_microphone().running


def test_space_stops_and_starts_listening(qtbot, ring_microphone, window):
    from PySide6.QtCore import Qt

    panel = listen_panel(qtbot, window)
    assert panel.listening and panel.timer.isActive()
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.listening and not panel.timer.isActive()
    assert panel.listen_button.text().endswith("Listen")
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert panel.listening and panel.timer.isActive()


def test_sensitivity_changes_the_recognizer_threshold_and_is_remembered(qtbot, no_microphone, window):
    panel = listen_panel(qtbot, window)
    panel.sensitivity.setValue(sensitivity_for(0.8))
    assert panel.threshold_label.text() == "threshold 0.80"
    assert panel.bars.threshold == pytest.approx(0.8)
    qtbot.waitUntil(lambda: panel.recognizer.config.threshold == pytest.approx(0.8), timeout=5000)
    assert Settings().threshold == pytest.approx(0.8)


def test_a_model_s_own_threshold_is_shown_until_the_user_sets_one(qtbot, no_microphone, window, stream_word_model,
                                                                  tmp_path):
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(stream_word_model)  # as the Train panel records it in a custom word's model
    checkpoint.train_config = {**checkpoint.train_config,
                               "train": {**checkpoint.train_config["train"], "detection_threshold": 0.7}}
    own = save_checkpoint(checkpoint, tmp_path / "own.pt")
    panel = listen_panel(qtbot, window)
    first = panel.recognizer
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(own)
    qtbot.waitUntil(lambda: panel.recognizer is not first, timeout=30000)
    assert panel.recognizer.config.threshold == pytest.approx(0.7) and panel.threshold_label.text() == "threshold 0.70"
    assert Settings().threshold is None  # the model's, not remembered as the user's
    panel.sensitivity.setValue(sensitivity_for(0.5))  # the user's choice wins from now on
    qtbot.waitUntil(lambda: panel.recognizer.config.threshold == pytest.approx(0.5), timeout=5000)
    second = panel.recognizer
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(stream_word_model)
    qtbot.waitUntil(lambda: panel.recognizer is not second, timeout=30000)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(own)
    qtbot.waitUntil(lambda: panel.recognizer.checkpoint.path == own, timeout=30000)
    assert panel.recognizer.config.threshold == pytest.approx(0.5)


def test_the_room_gate_is_set_in_listen_remembered_and_kept_for_the_next_model(qtbot, no_microphone, window,
                                                                               other_model):
    from speechrnn.recognizer import DetectorConfig

    panel = listen_panel(qtbot, window)
    assert panel.room_gate.value() == DetectorConfig().min_prominence_db  # the recognizer's own setting
    panel.room_gate.setValue(4)  # a loud room: quieter words count
    qtbot.waitUntil(lambda: panel.recognizer.config.min_prominence_db == 4.0, timeout=5000)
    assert Settings().min_prominence_db == 4.0
    assert panel.recognizer.config.threshold == pytest.approx(threshold_for(panel.sensitivity.value()))
    first = panel.recognizer
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    qtbot.waitUntil(lambda: panel.recognizer is not first, timeout=30000)
    assert panel.recognizer.config.min_prominence_db == 4.0 and panel.room_gate.value() == 4


def test_detections_show_the_word_large_and_in_the_history(qtbot, no_microphone, window):
    from speechrnn.recognizer import Detection

    panel = listen_panel(qtbot, window)
    panel._show_detection(Detection("seven", 0.93, 1.2, 1.7, 1.8))
    panel._show_detection(Detection("two", 0.88, 3.0, 3.4, 3.5))
    assert panel.word_label.text() == "two"
    assert "0.88" in panel.score_label.text()
    assert panel.history.topLevelItemCount() == 2
    assert "two" in panel.history.topLevelItem(0).text(1) and "seven" in panel.history.topLevelItem(1).text(1)
    panel.history.clear_all()
    assert panel.history.topLevelItemCount() == 1 and not panel.history.topLevelItem(0).flags()  # the grey hint line


def test_a_listener_left_running_keeps_only_the_detections_it_lists(qtbot, no_microphone, window):
    """Days of listening must not grow the app: the list, what its rows heard and the detections kept
    are all bounded by the list's length (bench.listen_soak measures the memory)."""
    from gui.panels.heard_list import MAX_HISTORY_ITEMS
    from speechrnn.recognizer import Detection

    panel = listen_panel(qtbot, window)
    for n in range(MAX_HISTORY_ITEMS + 30):
        panel._show_detection(Detection("seven" if n % 2 else "two", 0.9, n, n + 0.4, n + 0.5))
    assert panel.history.topLevelItemCount() == MAX_HISTORY_ITEMS
    assert len(panel.detections) == MAX_HISTORY_ITEMS and len(panel.history.heard) <= MAX_HISTORY_ITEMS
    assert panel.detections[-1].start_s == MAX_HISTORY_ITEMS + 29  # the newest kept, the oldest dropped
    assert panel.detections[0].start_s == 30


def test_a_word_spoken_into_the_microphone_is_shown(qtbot, ring_microphone, window, word_model):
    """The whole live path but PortAudio: ring buffer -> screen timer -> Recognizer -> panel."""
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(word_model)
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    mic = ring_microphone()
    silence = np.zeros(RATE // 2, np.float32)
    mic.write(np.concatenate([silence, speech("yes"), silence]))
    qtbot.waitUntil(lambda: any(d.label == "yes" for d in panel.detections), timeout=10000)
    assert panel.word_label.text() == "yes"
    assert "yes" in panel.history.topLevelItem(0).text(1)


def test_a_microphone_lost_while_listening_is_reopened_on_its_own(qtbot, ring_microphone, window, word_model,
                                                                  monkeypatch):
    """The device dies mid-listen: the panel says so and the app tries it again on a timer (a
    rescan for a device plugged in anew, but never while a clip is being played: a rescan would cut
    it), then listens on once it is back and hears the next word. No Retry pressed."""
    import gui.audio_input as audio_input
    from gui_support import RingMicrophone

    from speechrnn.errors import DeviceError

    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(word_model)
    panel = listen_panel(qtbot, window)
    audio = window.ctx.audio
    audio.reconnect_timer.setInterval(20)
    rescans: list[int] = []
    monkeypatch.setattr(audio_input, "refresh_devices", lambda: rescans.append(1))
    monkeypatch.setattr(audio_input, "playing", lambda: True)

    def gone(*_args, **_kwargs):
        raise DeviceError("no audio input device found; connect a microphone")

    monkeypatch.setattr(audio_input, "Microphone", gone)
    ring_microphone().dead = True
    qtbot.waitUntil(panel.banner.isVisible, timeout=5000)
    assert audio.reconnecting and "Microphone lost" in panel.banner_label.text()
    assert panel.score_label.text() == "Waiting for the microphone to come back…"
    qtbot.wait(200)  # about ten attempts, all while a clip plays
    assert audio.reconnecting and not rescans
    monkeypatch.setattr(audio_input, "playing", lambda: False)
    qtbot.waitUntil(lambda: len(rescans) >= 2, timeout=5000)
    assert audio.reconnecting and panel.banner.isVisible()  # still gone: still trying

    back: list[RingMicrophone] = []

    def plugged_in(*args, **kwargs) -> RingMicrophone:
        back.append(RingMicrophone(*args, **kwargs))
        return back[-1]

    monkeypatch.setattr(audio_input, "Microphone", plugged_in)
    qtbot.waitUntil(lambda: audio.running and not panel.banner.isVisible(), timeout=5000)
    assert not audio.reconnecting and panel.listening and panel.listen_button.text() == "■ Stop"
    silence = np.zeros(RATE // 2, np.float32)
    back[-1].write(np.concatenate([silence, speech("yes"), silence]))
    qtbot.waitUntil(lambda: any(d.label == "yes" for d in panel.detections), timeout=10000)


def test_playing_a_file_feeds_it_in_real_time_then_returns_to_the_microphone(qtbot, no_microphone, window):
    panel = listen_panel(qtbot, window)
    path = sorted((SPEECH_COMMANDS / "no").glob("*.wav"))[0]
    assert panel.play_file(path, audible=False)
    feed = panel.reader
    assert isinstance(feed, FileFeed) and panel.file_bar.isVisible()
    assert path.name in panel.file_label.text()
    qtbot.waitUntil(lambda: not panel.file_bar.isVisible(), timeout=10000)
    assert feed.position == feed.samples.size  # the whole clip went in ...
    assert panel.recognizer.time_s > feed.duration_s  # ... then the flush's silence that decides its last word
    assert not isinstance(panel.reader, FileFeed)


def word_at_the_very_end(tmp_path, word: str = "three"):
    """A recording that stops as the word ends: nothing after it lets its score peak and fall."""
    from gui_support import spoken_sequence

    from speechrnn.audio.io import write_wav_atomic

    audio = spoken_sequence([word], pause_s=0.0)
    return audio, write_wav_atomic(tmp_path / f"{word}_at_the_end.wav", audio, RATE)


def test_the_last_word_of_a_file_is_listed_when_the_file_ends(qtbot, no_microphone, window, stream_word_model,
                                                              tmp_path):
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(stream_word_model)
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    audio, path = word_at_the_very_end(tmp_path)
    from speechrnn.recognizer import Recognizer

    assert Recognizer.from_checkpoint(stream_word_model).push(audio) == []  # undecided without the flush
    assert panel.play_file(path, audible=False)
    qtbot.waitUntil(lambda: not panel.file_bar.isVisible(), timeout=10000)
    assert [d.label for d in panel.detections] == ["three"]
    assert panel.history.topLevelItem(0).text(1) == "three"


def test_stop_lists_the_word_said_just_before(qtbot, ring_microphone, window, stream_word_model, tmp_path):
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(stream_word_model)
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    audio, _ = word_at_the_very_end(tmp_path)
    qtbot.waitUntil(lambda: panel.reader is not None, timeout=5000)
    start = panel.recognizer.time_s
    ring_microphone().write(audio)  # the microphone stops hearing anything as the word ends
    qtbot.waitUntil(lambda: panel.recognizer.time_s >= start + audio.size / RATE - 0.01, timeout=10000)
    assert panel.detections == []  # the word's score has not yet peaked and fallen
    panel.stop_listening()
    assert [d.label for d in panel.detections] == ["three"]
    assert panel.history.topLevelItem(0).text(1) == "three"


def test_an_unreadable_file_is_an_error_message(qtbot, no_microphone, window, tmp_path):
    panel = listen_panel(qtbot, window)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    assert not panel.play_file(bad, audible=False)
    assert window.last_error is not None and "bad.wav" in window.last_error[1]


def test_switching_models_rebuilds_the_recognizer(qtbot, no_microphone, window, other_model):
    panel = listen_panel(qtbot, window)
    first = panel.recognizer
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    qtbot.waitUntil(lambda: panel.recognizer is not first, timeout=30000)
    assert panel.bars.labels == ["_silence_", "_unknown_", "yes", "no"]
    assert "yes, no" in panel.vocab_label.text()


def test_without_any_model_the_panel_says_what_to_do(qtbot, no_microphone, tmp_path):
    from gui.app import build_window, parse_args

    window = build_window(parse_args([]))
    keep_window(qtbot, window)
    window.show()
    window.show_panel("listen")
    panel = window.panels["listen"]
    with qtbot.waitSignal(window.ctx.model.failed, timeout=30000):
        window.ctx.model.activate(tmp_path / "nothing.pt")
    assert panel.recognizer is None
    assert "No model loaded" in panel.score_label.text()
    assert "nothing.pt" in window.last_error[1]
    window.close()


# ------------------------------------------------------------------------------ model choice (issue 10, 12)
def test_the_model_chooser_switches_at_once_and_the_new_words_are_recognized(qtbot, no_microphone,
                                                                            bundled_window):
    from gui.app import initial_model, parse_args

    window = bundled_window
    panel = listen_panel(qtbot, window)
    chooser = panel.model_chooser
    assert [chooser.itemText(i) for i in range(chooser.count()) if chooser.itemText(i)][:2] == \
        ["Digits (bundled)", "Commands (bundled)"]
    assert chooser.currentText() == "Digits (bundled)"
    assert "zero" in panel.vocab_label.text() and "yes" not in panel.vocab_label.text()
    digits = panel.recognizer
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        chooser.choose_title("Commands")
    qtbot.waitUntil(lambda: panel.recognizer is not digits, timeout=30000)
    assert "yes, no, one, two, three, nine" in panel.vocab_label.text() and "zero" not in panel.vocab_label.text()
    assert panel.bars.labels == ["_silence_", "yes", "no", "one", "two", "three", "nine"]
    assert "bundled commands model" in window.model_label.text()
    # the words of the new model are recognized
    panel.timer.stop()
    silence = np.zeros(RATE // 2, np.float32)
    for start in range(0, RATE * 2, RATE // 30):
        panel.feed(np.concatenate([silence, speech("yes"), silence])[start : start + RATE // 30])
    assert [d.label for d in panel.detections] == ["yes"]
    # remembered between runs: the next start opens the commands model again
    assert Settings().active_model == "commands"
    assert initial_model(parse_args([]), Settings(), window.ctx.model.assets_dir) == "commands"


def test_a_bundled_model_that_is_not_installed_is_not_offered(qtbot, no_microphone, tmp_path, digits_model):
    import shutil

    from gui.app import initial_model, parse_args
    from gui.widgets.model_chooser import ModelChooser

    assets = tmp_path / "assets"
    assets.mkdir()
    shutil.copy(digits_model, assets / "default_model.pt")
    chooser = ModelChooser(Settings(), assets)
    qtbot.addWidget(chooser)
    texts = [chooser.itemText(i) for i in range(chooser.count())]
    assert "Digits (bundled)" in texts and not any("Commands" in t for t in texts)
    settings = Settings()
    settings.active_model = "commands"  # remembered on a machine where it was installed
    assert initial_model(parse_args([]), settings, assets) is None  # falls back to the default


def test_the_chooser_offers_my_recent_models(qtbot, no_microphone, window, other_model):
    panel = listen_panel(qtbot, window)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    panel.model_chooser.refill()
    texts = [panel.model_chooser.itemText(i) for i in range(panel.model_chooser.count())]
    assert "yes_no.pt" in texts and "random_gru.pt" in texts and texts[-1] == "Other model file…"
    assert panel.model_chooser.currentText() == "yes_no.pt"
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        panel.model_chooser.choose_title("random_gru.pt")
    assert window.ctx.model.path.name == "random_gru.pt"


def test_a_model_switch_marks_the_detection_list(qtbot, no_microphone, window, other_model):
    from speechrnn.recognizer import Detection

    panel = listen_panel(qtbot, window)
    panel._show_detection(Detection("seven", 0.93, 1.2, 1.7, 1.8))
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    top = panel.history.topLevelItem(0)
    assert top.text(0) == "— now: yes_no.pt —" and not top.flags()  # a line, not a detection
    assert panel.history.topLevelItem(1).text(1) == "seven"  # the old model's words stay below it
    panel._show_detection(Detection("yes", 0.81, 4.0, 4.4, 4.5))
    assert panel.history.topLevelItem(0).text(1) == "yes" and panel.history.topLevelItem(1).text(0).startswith("—")


def test_the_score_column_shows_the_detections_score(qtbot, no_microphone, window):
    from speechrnn.recognizer import Detection

    panel = listen_panel(qtbot, window)
    panel._show_detection(Detection("four", 0.9712, 1.0, 1.4, 1.5))  # the library reports the peak score
    assert panel.history.topLevelItem(0).text(2) == "0.97"


def test_listen_pauses_while_the_record_panel_records(qtbot, ring_microphone, fast_countdown, window, word_model,
                                                      tmp_path):
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(word_model)
    listen = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: listen.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    mic = ring_microphone()
    record = window.panel("record")
    window.show_panel("record")
    record.folder_edit.setText(str(tmp_path / "takes"))
    record.words_edit.setText("yes")
    record.takes_spin.setValue(1)
    record.auto_check.setChecked(False)
    pushed_while_paused = []
    push = listen.recognizer.push
    listen.recognizer.push = lambda samples: (pushed_while_paused.append(samples.size) if listen.paused else None,
                                              push(samples))[1]
    record.start()
    assert listen.paused
    qtbot.waitUntil(lambda: record.state.value == "recording", timeout=5000)
    silence = np.zeros(RATE // 4, np.float32)
    mic.write(np.concatenate([silence, speech("yes"), silence]))
    qtbot.waitUntil(lambda: record.state.value == "idle", timeout=10000)  # one take: done
    assert list((tmp_path / "takes" / "yes").glob("*.wav"))
    assert listen.detections == [] and pushed_while_paused == []  # not fed while recording
    assert not listen.paused  # the session ended: listening again
    mic.write(np.concatenate([silence, speech("yes"), silence]))
    qtbot.waitUntil(lambda: any(d.label == "yes" for d in listen.detections), timeout=10000)


def test_a_detection_is_played_and_kept_as_a_take_or_as_other_speech(qtbot, no_microphone, window, stream_word_model,
                                                                     tmp_path, monkeypatch):
    from gui_support import spoken_sequence

    import gui.playback
    from speechrnn.audio.io import load_audio
    from speechrnn.data.layout import scan_folder
    from speechrnn.recognizer import Recognizer

    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(stream_word_model)
    mine = tmp_path / "mine"
    record = window.panel("record")  # the Record panel's folder is where Listen keeps words
    record.folder_edit.setText(str(mine))
    record._folder_edited()
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    audio = spoken_sequence(["yes", "three"], pause_s=1.0)
    found = panel.feed(audio)
    assert [d.label for d in found] == ["yes", "three"]
    three, yes = panel.history.topLevelItem(0), panel.history.topLevelItem(1)

    played = []
    monkeypatch.setattr(gui.playback, "play_samples", lambda samples, rate: played.append((samples, rate)) or "")
    assert panel.history.play_heard(yes) == ""
    assert played[0][1] == RATE and 0.3 * RATE < played[0][0].size < 2.0 * RATE

    menu = panel.history.heard_menu(yes)  # what a right-click on the row offers
    actions = [action for action in menu.actions() if not action.isSeparator()]
    assert [action.text() for action in actions] == [
        "▶ Play what was heard", "Right: keep as a take of “yes”", "Wrong: keep as other speech (not “yes”)"]
    assert panel.history.heard_menu(None) is None
    with qtbot.waitSignal(window.ctx.notify.recordings_changed, timeout=1000) as changed:
        actions[1].trigger()
    assert changed.args == [str(mine)]
    kept_yes = mine / "yes" / "heard_nohash_0.wav"
    kept_other = panel.history.keep_heard(three, correct=False)  # as if "three" had been a false alarm
    assert kept_yes.is_file()
    assert kept_other == mine / "_unknown_" / "heard_nohash_0.wav"
    assert "kept" in yes.text(1) and "other speech" in three.text(1)
    assert panel.history.keep_heard(three, correct=True) == mine / "three" / "heard_nohash_0.wav"  # changed my mind:
    assert not kept_other.exists() and "kept" in three.text(1)  # the last choice replaces the first
    kept_other = panel.history.keep_heard(three, correct=False)
    assert not (mine / "three").exists() or not any((mine / "three").iterdir())
    # the folder is a dataset as it is: the take of "yes" trains as "yes", the false alarm as _unknown_
    assert sorted(clip.label for clip in scan_folder(mine)) == ["_unknown_", "yes"]
    window.show_panel("record")  # Record lists them at once: the take, and the false alarm apart from the words
    listed = [(record.tree.topLevelItem(i).text(0), record.tree.topLevelItem(i).text(1))
              for i in range(record.tree.topLevelItemCount())]
    assert listed == [("yes", "1"), ("other speech (to reject)", "1")]
    assert record.summary_label.text() == "<b>1</b> clip of <b>1</b> word, 1 of other speech in this folder"
    window.show_panel("listen")
    recognizer = Recognizer.from_checkpoint(stream_word_model)
    clip = load_audio(kept_yes, RATE)
    assert clip.size == RATE  # fitted to the model's clip, as a recorded take
    assert [d.label for d in recognizer.push(clip) + recognizer.flush()] == ["yes"]


def test_a_word_heard_runs_the_command_the_actions_dialog_gave_it(qtbot, no_microphone, window, stream_word_model,
                                                                   tmp_path):
    """Listen > Actions: "three" gets a command in the dialog; a file saying "three" is played and the
    command runs with the word and the model in its environment; "yes"'s command does not run."""
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(stream_word_model)
    panel = listen_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.bars.labels[:2] == ["_silence_", "yes"], timeout=30000)
    assert panel.actions_button.text() == "Actions…" and panel.word_commands is None
    acted, wrong = tmp_path / "acted.txt", tmp_path / "wrong.txt"
    dialog = panel.edit_actions()
    assert "three" in dialog.words and "_silence_" not in dialog.words
    row = dialog.add_row("three", f'echo "$SPEECHRNN_WORD $SPEECHRNN_MODEL" > {acted}')
    dialog.add_row("yes", f"touch {wrong}")
    dialog.add_row("no", "   ")  # no command: left out
    assert dialog.word_at(row) == "three"
    dialog.accept()
    assert Settings().word_actions == {"three": f'echo "$SPEECHRNN_WORD $SPEECHRNN_MODEL" > {acted}',
                                       "yes": f"touch {wrong}"}
    assert panel.actions_button.text() == "Actions (2)…"

    audio, path = word_at_the_very_end(tmp_path)
    assert panel.play_file(path, audible=False)
    qtbot.waitUntil(lambda: not panel.file_bar.isVisible(), timeout=10000)
    assert [d.label for d in panel.detections] == ["three"]
    qtbot.waitUntil(acted.exists, timeout=10000)
    qtbot.waitUntil(lambda: acted.read_text().strip() != "", timeout=10000)
    assert acted.read_text().split() == ["three", str(stream_word_model)]
    assert not wrong.exists()
    row = panel.history.topLevelItem(0)
    assert row.text(1) == "three  ▸" and "Action: ran" in row.toolTip(1)


def test_a_failing_action_is_said_in_the_status_bar_and_actions_can_be_switched_off(qtbot, no_microphone,
                                                                                     window, other_model):
    from speechrnn.detection_command import ANY_WORD
    from speechrnn.recognizer import Detection

    panel = listen_panel(qtbot, window)
    dialog = panel.edit_actions()
    dialog.add_row(ANY_WORD, "exit 4")
    assert dialog.word_at(0) == ANY_WORD and dialog.table.cellWidget(0, 0).currentText() == "any other word"
    dialog.accept()
    panel._show_detection(Detection("seven", 0.93, 1.2, 1.7, 1.8))
    qtbot.waitUntil(lambda: "status 4" in window.statusBar().currentMessage(), timeout=10000)
    assert window.statusBar().currentMessage() == "Action: the command for 'seven' exited with status 4"
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    assert panel.word_commands.model == str(other_model)  # what $SPEECHRNN_MODEL says from now on

    dialog = panel.edit_actions()  # the table as it was saved
    assert dialog.actions() == {ANY_WORD: "exit 4"} and dialog.enabled()
    dialog.enabled_box.setChecked(False)
    dialog.accept()
    assert panel.word_commands is None and panel.actions_button.text() == "Actions…"
    assert Settings().word_actions == {ANY_WORD: "exit 4"} and not Settings().actions_enabled  # kept, off
    panel._show_detection(Detection("two", 0.88, 3.0, 3.4, 3.5))
    assert panel.history.topLevelItem(0).text(1) == "two"  # no action ran


def test_try_runs_the_selected_command_and_says_how_it_ended(qtbot, no_microphone, window, tmp_path):
    panel = listen_panel(qtbot, window)
    out = tmp_path / "tried.txt"
    dialog = panel.edit_actions()
    assert not dialog.try_button.isEnabled()  # no row yet
    dialog.add_row("seven", f'echo "$SPEECHRNN_WORD $SPEECHRNN_SCORE" > {out}')
    assert dialog.try_button.isEnabled()
    dialog.try_selected()
    qtbot.waitUntil(lambda: not dialog.trying, timeout=10000)
    assert dialog.result_label.text() == "The command ran and finished (exit status 0)."
    assert out.read_text().split() == ["seven", "1.00"]
    dialog.set_command(0, "exit 2")
    dialog.try_selected()
    qtbot.waitUntil(lambda: not dialog.trying, timeout=10000)
    assert dialog.result_label.text() == "Action: the command for 'seven' exited with status 2"
    dialog.reject()
    assert Settings().word_actions == {}  # cancelled: nothing saved
    assert panel.word_commands is None
