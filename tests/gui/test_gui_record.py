"""Record panel: countdown, recording from the microphone ring, trimming, saving, redo, delete, closing."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from gui_support import speech
from PySide6.QtCore import Qt

from gui.panels.record import State
from gui.panels.train import ONE_SPEAKER_NOTE

RATE = 16000


def record_panel(qtbot, window, folder, words="yes", takes=2, auto=False):
    window.show_panel("record")
    panel = window.panels["record"]
    panel.folder_edit.setText(str(folder))
    panel._folder_edited()
    panel.words_edit.setText(words)
    panel.takes_spin.setValue(takes)
    panel.auto_check.setChecked(auto)
    return panel


def say(qtbot, panel, mic, word="yes", index=0):
    """Wait for the recording to start, then 'speak': write the word into the microphone ring."""
    qtbot.waitUntil(lambda: panel.state == State.RECORDING, timeout=5000)
    take = np.concatenate([np.zeros(RATE // 5, np.float32), speech(word, index) * 0.8,
                           np.zeros(RATE // 2, np.float32)])
    mic.write(take)


def test_a_take_is_trimmed_saved_and_listed(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    folder = tmp_path / "my words"
    panel = record_panel(qtbot, window, folder)
    with qtbot.waitSignal(window.ctx.notify.recordings_changed, timeout=10000):
        panel.start_button.click()
        assert panel.state == State.COUNTDOWN and panel.prompt_label.text() == "3"
        say(qtbot, panel, ring_microphone())
    assert panel.state == State.REVIEW
    saved = folder / "yes" / "me_nohash_0.wav"
    assert panel.last_path == saved and saved.exists()
    clip, rate = sf.read(saved, dtype="float32")
    assert rate == RATE and clip.size == RATE  # one second, Speech Commands style
    assert np.abs(clip).max() > 0.1  # the word is in it
    assert panel.take_progress.value() == 1
    assert panel.tree.topLevelItem(0).text(0) == "yes" and panel.tree.topLevelItem(0).text(1) == "1"
    assert panel.preview.region.isVisible()  # the kept part is shaded in the preview
    assert panel.next_button.isEnabled() and panel.redo_button.isEnabled()


def test_redo_replaces_the_last_take_and_keep_goes_on(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, takes=2)
    mic = ring_microphone()
    panel.start()
    say(qtbot, panel, mic)
    qtbot.waitUntil(lambda: panel.state == State.REVIEW, timeout=10000)
    first = panel.last_path
    panel.redo_button.click()
    assert not first.exists()  # the take is gone ...
    say(qtbot, panel, mic, index=1)  # ... and recorded again under the same number
    qtbot.waitUntil(lambda: panel.state == State.REVIEW, timeout=10000)
    assert panel.last_path == first and first.exists()
    panel.next_button.click()
    say(qtbot, panel, mic)
    qtbot.waitUntil(lambda: panel.state == State.IDLE, timeout=10000)  # 2 of 2 takes: done
    assert sorted(p.name for p in (tmp_path / "yes").glob("*.wav")) == ["me_nohash_0.wav", "me_nohash_1.wav"]
    assert panel.prompt_label.text() == "Done!"


def test_silence_is_not_saved_and_asks_again(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, takes=1)
    panel.start()
    qtbot.waitUntil(lambda: panel.state == State.RECORDING, timeout=5000)
    ring_microphone().write(np.zeros(2 * RATE, np.float32))
    qtbot.waitUntil(lambda: panel.state == State.REVIEW, timeout=10000)
    assert panel.last_path is None and not (tmp_path / "yes").exists()
    assert "no speech" in panel.detail_label.text()


def test_closing_the_app_mid_recording_keeps_the_take(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, words="no")
    panel.start()
    qtbot.waitUntil(lambda: panel.state == State.RECORDING, timeout=5000)
    ring_microphone().write(np.concatenate([np.zeros(RATE // 10, np.float32), speech("no")]))  # 1.1 s of 1.5
    window.close()
    assert (tmp_path / "no" / "me_nohash_0.wav").exists()


def test_deleting_selected_clips(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from speechrnn.record import save_take

    for word in ("up", "down"):
        for _ in range(2):
            save_take(tmp_path, word, "me", speech("yes"), RATE)
    panel = record_panel(qtbot, window, tmp_path)
    assert panel.summary_label.text().startswith("<b>4</b> clips of <b>2</b> words")
    down = panel.tree.topLevelItem(0)
    assert down.text(0) == "down"
    down.child(0).setSelected(True)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.delete_button.click()
    assert sorted(p.name for p in (tmp_path / "down").glob("*.wav")) == ["me_nohash_1.wav"]
    panel.tree.topLevelItem(1).setSelected(True)  # a whole word
    panel.delete_button.click()
    assert not list((tmp_path / "up").glob("*.wav"))


def test_bad_words_and_no_microphone_are_explained(qtbot, no_microphone, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, words="")
    panel.start()
    assert panel.state == State.IDLE and panel.prompt_label.text() == "Which words?"
    panel.words_edit.setText("_hidden")
    assert panel.prompt_label.text() == "Ready"  # the question is answered (well or not) as words are typed
    panel.start()
    assert window.last_error is not None and "_hidden" in window.last_error[1]
    panel.words_edit.setText("lights on")
    panel.start()
    assert panel.state == State.IDLE and panel.banner.isVisible() and "No microphone" in panel.banner.text()


def test_typing_words_is_not_taken_by_the_panel_shortcuts(qtbot, window, tmp_path, monkeypatch):
    import gui.panels.record as record_module

    played = []
    monkeypatch.setattr(record_module, "play_samples", lambda *a: played.append(a) or "")
    monkeypatch.setattr(record_module, "play_file", lambda *a: played.append(a) or "")
    panel = record_panel(qtbot, window, tmp_path, words="")
    panel.words_edit.setFocus()
    qtbot.keyClicks(panel.words_edit, "pop, up")
    assert panel.words_edit.text() == "pop, up" and not played
    assert "4 takes: 2 of “pop”, “up”" in panel.detail_label.text()


# ------------------------------------------------------------------------------ issue 12, section 4
def test_a_silent_take_says_clearly_what_the_buttons_do(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, takes=2)
    panel.start()
    qtbot.waitUntil(lambda: panel.state == State.RECORDING, timeout=5000)
    ring_microphone().write(np.zeros(2 * RATE, np.float32))
    qtbot.waitUntil(lambda: panel.state == State.REVIEW, timeout=10000)
    text = panel.detail_label.text()
    assert "Keep to skip" not in text
    assert "Nothing was saved" in text and "Redo" in text and "Skip (Enter)" in text
    assert panel.next_button.text() == "⏭ Skip this take" and panel.redo_button.text() == "↺ Record again"
    panel.keep_and_next()  # skip: the next take's countdown
    assert panel.state == State.COUNTDOWN and panel.next_button.text() == "✓ Keep, next"
    say(qtbot, panel, ring_microphone())  # the second and last take is spoken
    qtbot.waitUntil(lambda: panel.state == State.IDLE, timeout=10000)
    assert panel.prompt_label.text() == "Done!"
    assert panel.detail_label.text().startswith("1 take saved (1 skipped) in the folder")  # not "2 takes saved"
    assert len(list(panel.folder.rglob("*.wav"))) == 1
    panel.folder_edit.setText(str(tmp_path / "another"))
    panel._folder_edited()  # "1 take saved in the folder ..." was about the folder before
    assert panel.prompt_label.text() == "Ready" and "saved" not in panel.detail_label.text()


def test_play_is_enabled_only_when_there_is_something_to_play(qtbot, ring_microphone, fast_countdown, window,
                                                              tmp_path, monkeypatch):
    import gui.panels.record as record_module

    monkeypatch.setattr(record_module, "play_samples", lambda *_args: "")
    panel = record_panel(qtbot, window, tmp_path / "empty", takes=1)
    assert not panel.play_button.isEnabled()  # no take yet, no clip in the folder selected
    panel.start()
    say(qtbot, panel, ring_microphone())
    qtbot.waitUntil(lambda: panel.state == State.IDLE, timeout=10000)
    assert panel.last_take is not None and panel.play_button.isEnabled()


def test_redo_is_enabled_only_while_a_take_is_reviewed(qtbot, ring_microphone, fast_countdown, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, takes=2)
    assert panel.state == State.IDLE and not panel.redo_button.isEnabled()  # nothing recorded yet
    panel.start()
    assert not panel.redo_button.isEnabled()  # the countdown
    qtbot.waitUntil(lambda: panel.state == State.RECORDING, timeout=5000)
    assert not panel.redo_button.isEnabled()
    say(qtbot, panel, ring_microphone())
    qtbot.waitUntil(lambda: panel.state == State.REVIEW, timeout=10000)
    assert panel.redo_button.isEnabled()
    panel.stop()
    assert panel.state == State.IDLE and not panel.redo_button.isEnabled()  # stopped: nothing left to redo


def test_selecting_a_clip_enables_play(qtbot, window, tmp_path):
    import shutil

    from gui_support import SPEECH_COMMANDS

    shutil.copytree(SPEECH_COMMANDS / "yes", tmp_path / "words" / "yes")
    panel = record_panel(qtbot, window, tmp_path / "words")
    assert not panel.play_button.isEnabled()
    top = panel.tree.topLevelItem(0)
    top.setExpanded(True)
    panel.tree.setCurrentItem(top.child(0))
    assert panel.play_button.isEnabled()


def test_the_take_counter_agrees_with_the_spin_box_before_words_are_typed(qtbot, window, tmp_path):
    panel = record_panel(qtbot, window, tmp_path, words="", takes=10)
    assert panel.take_progress.text() == "take 0 of 10"
    panel.takes_spin.setValue(7)
    assert panel.take_progress.text() == "take 0 of 7"
    panel.words_edit.setText("lights, music")
    assert panel.take_progress.text() == "take 0 of 14"  # two words, seven takes each


def test_other_speech_kept_from_listen_is_listed_apart_and_never_recorded_as_a_word(qtbot, window, tmp_path):
    from speechrnn.record import save_heard, save_take

    save_take(tmp_path, "up", "me", speech("yes"), RATE)
    save_heard(tmp_path, "_unknown_", speech("no"), RATE, RATE)  # a false alarm kept in Listen
    panel = record_panel(qtbot, window, tmp_path, words="")
    rows = [panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())]
    assert [(row.text(0), row.text(1)) for row in rows] == [("up", "1"), ("other speech (to reject)", "1")]
    assert panel.summary_label.text() == "<b>1</b> clip of <b>1</b> word, 1 of other speech in this folder"
    rows[1].setExpanded(True)
    panel.refresh_table()  # (showing the panel again): the other-speech row stays open
    assert panel.tree.topLevelItem(1).isExpanded() and not panel.tree.topLevelItem(0).isExpanded()
    for row in (panel.tree.topLevelItem(0), panel.tree.topLevelItem(1)):
        row.setSelected(True)
    panel._words_from_selection()  # "Record more of these"
    assert panel.words_edit.text() == "up"


def test_unreadable_clips_are_shown_apart_and_not_counted_in_record_or_train(qtbot, window, tmp_path):
    """What training would skip (an empty file, a damaged WAV) is marked, not counted as a take."""
    from speechrnn.record import save_take

    for index in range(2):
        save_take(tmp_path, "up", "me", speech("yes", index), RATE)
    (tmp_path / "up" / "me_nohash_7.wav").write_bytes(b"")  # a take whose save was cut off
    (tmp_path / "up" / "me_nohash_8.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")  # a damaged one
    panel = record_panel(qtbot, window, tmp_path, words="")
    top = panel.tree.topLevelItem(0)
    assert (top.text(0), top.text(1)) == ("up", "2") and top.isExpanded()
    children = {top.child(i).text(0): top.child(i) for i in range(top.childCount())}
    assert sorted(children) == ["me_nohash_0.wav", "me_nohash_1.wav", "me_nohash_7.wav (unreadable)",
                                "me_nohash_8.wav (unreadable)"]
    assert "file is empty" in children["me_nohash_7.wav (unreadable)"].toolTip(0)
    assert children["me_nohash_8.wav (unreadable)"].foreground(0).color().name() == window.ctx.colors.warning
    assert children["me_nohash_0.wav"].foreground(0).color().name() != window.ctx.colors.warning
    assert panel.summary_label.text() == ("<b>2</b> clips of <b>1</b> word, 2 unreadable (training skips them) "
                                          "in this folder")

    (tmp_path / "up" / "me_nohash_7.wav").unlink()  # deleted: the list and the count follow
    save_take(tmp_path, "up", "me", speech("no"), RATE)  # re-recorded
    panel.refresh_table()
    assert panel.summary_label.text() == ("<b>3</b> clips of <b>1</b> word, 1 unreadable (training skips it) "
                                          "in this folder")

    window.show_panel("train")
    train = window.panels["train"]
    train.recordings_edit.setText(str(tmp_path))
    train._update_recordings()
    assert train.recordings_info.text() == "up (3); 1 unreadable, skipped (see Record)" + ONE_SPEAKER_NOTE


def test_a_folder_of_more_clips_than_takes_is_listed_without_opening_each(tmp_path, monkeypatch):
    """A whole dataset is not opened clip by clip (about 30 s for Speech Commands): it is listed as
    it is, unreadable clips included, as training reports them."""
    from gui.panels import record
    from speechrnn.record import save_take

    for index in range(2):
        save_take(tmp_path, "up", "me", speech("yes", index), RATE)
    (tmp_path / "up" / "me_nohash_7.wav").write_bytes(b"")
    checker = record.ClipChecker()
    readable, unreadable = checker.by_word(tmp_path)
    assert len(readable["up"]) == 2 and len(unreadable["up"]) == 1
    monkeypatch.setattr(record, "MAX_CHECKED_CLIPS", 2)
    readable, unreadable = record.ClipChecker().by_word(tmp_path)
    assert len(readable["up"]) == 3 and unreadable == {}


def test_the_models_words_button_fills_in_the_words_of_the_model_in_use(qtbot, bundled_window, tmp_path):
    """Takes of a model's own words teach it a voice (Train adapts it): one click types them, and the
    button follows the model in use."""
    window = bundled_window
    panel = record_panel(qtbot, window, tmp_path, words="", takes=5)
    digits = [label for label in window.ctx.model.labels if not label.startswith("_")]
    assert len(digits) == 10 and panel.model_words_button.isEnabled()
    qtbot.mouseClick(panel.model_words_button, Qt.MouseButton.LeftButton)
    assert panel.words_edit.text() == ", ".join(digits) == window.ctx.settings.record_words
    assert panel.take_progress.text() == "take 0 of 50"  # ten words, five takes each
    assert "Start from" in panel.detail_label.text()

    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate("commands")
    assert "yes, no, one, two, three, nine" in panel.model_words_button.toolTip()
    panel.use_model_words()
    assert panel.words_edit.text() == "yes, no, one, two, three, nine"
