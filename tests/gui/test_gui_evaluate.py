"""Evaluate panel: runs the library's evaluation off the GUI thread and shows every part of the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gui_support import DATA, SPEECH_COMMANDS
from PySide6.QtCore import Qt

from gui.settings import Settings


def evaluate_panel(qtbot, window, model, folder):
    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    panel.set_model(model)
    panel.folder_edit.setText(str(folder))
    return panel


def test_evaluation_shows_accuracy_table_matrix_and_mistakes(qtbot, window, word_model):
    panel = evaluate_panel(qtbot, window, word_model, SPEECH_COMMANDS)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=120000)
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=10000)
    result = panel.result
    assert result.clips == 12  # six words x two speakers
    assert panel.accuracy_label.text() == f"{100 * result.accuracy:.1f} %"
    assert "12 clips" in panel.accuracy_caption.text()
    from speechrnn.evaluate import wilson_interval

    low, high = wilson_interval(result.accuracy, 12)  # 12 clips tell little: the interval is wide
    assert f"95 % interval {100 * low:.1f}–{100 * high:.1f} %" in panel.accuracy_caption.text()
    assert high - low > 0.2
    labels = [panel.class_table.item(r, 0).text() for r in range(panel.class_table.rowCount())]
    assert sorted(labels) == sorted(result.labels)
    assert panel.matrix.labels == result.labels
    assert int(np.asarray(panel.matrix.counts).sum()) == 12
    assert panel.wrong_table.rowCount() == len(result.wrong)
    assert Settings().eval_folder == str(SPEECH_COMMANDS)


def test_misclassified_clips_are_listed_with_their_files_and_play(qtbot, window, digits_model, monkeypatch):
    """A random digits model gets every word wrong: each wrong clip is a playable row."""
    import gui.panels.evaluate as evaluate_module

    played = []
    monkeypatch.setattr(evaluate_module, "play_file", lambda path: played.append(path) or "")
    panel = evaluate_panel(qtbot, window, digits_model, SPEECH_COMMANDS)
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=120000)
    rows = panel.wrong_table.rowCount()
    assert rows == len(panel.result.wrong) > 0
    paths = {panel.wrong_table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(rows)}
    assert all(p.endswith(".wav") and (SPEECH_COMMANDS / p.split("/")[-2]).is_dir() for p in paths)
    panel.wrong_table.selectRow(0)
    panel.play_selected()
    assert played == [panel.wrong_table.item(0, 0).data(Qt.ItemDataRole.UserRole)]


def test_noise_option_scores_again_with_noise(qtbot, window, word_model):
    panel = evaluate_panel(qtbot, window, word_model, SPEECH_COMMANDS)
    panel.noise_edit.setText(str(DATA / "noise"))
    panel.snr_spin.setValue(5)
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=120000)
    assert panel.result.noisy["snr_db"] == 5
    assert "with noise at 5 dB SNR" in panel.accuracy_caption.text()


def test_bad_inputs_are_messages_not_crashes(qtbot, window, word_model, tmp_path):
    panel = evaluate_panel(qtbot, window, word_model, tmp_path / "missing")
    panel.start()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled() and not panel.running, timeout=60000)
    assert panel.result is None
    assert window.last_error is not None and "missing" in window.last_error[1]
    assert "Failed" in panel.stage_label.text()
    panel.set_model(None)
    panel.start()
    assert "model" in window.last_error[1]


def test_follows_the_active_model(qtbot, window, other_model):
    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    assert panel.model_path == other_model and panel.model_chooser.currentText() == "yes_no.pt"


# ------------------------------------------------------------------------------ issue 12, section 3
def test_bundled_models_are_picked_without_typing_a_path(qtbot, tmp_path, digits_model, other_model):
    from gui_support import window_with_assets

    assets = tmp_path / "assets"
    window = window_with_assets(qtbot, assets, digits_model, other_model)
    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    texts = [panel.model_chooser.itemText(i) for i in range(panel.model_chooser.count())]
    assert texts[:2] == ["Digits (bundled)", "Commands (bundled)"]
    panel.model_chooser.choose_title("Commands")
    assert panel.model_path == assets / "commands_model.pt"
    assert window.ctx.model.path is None  # picking a model to evaluate does not change the active one
    window.close()


def test_the_confusion_matrix_shows_every_count_and_scrolls(qtbot, window):
    from PySide6.QtGui import QFontMetrics

    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    labels = ["_silence_", "_unknown_", *(f"word{i}" for i in range(10))]
    counts = np.eye(len(labels), dtype=np.int64) * 7
    counts[1, 1] = 102  # the blank _unknown_ diagonal of the walk-through
    counts[2, 3] = 12345
    panel.matrix.set_matrix(labels, counts)
    widest = QFontMetrics(panel.matrix.font()).horizontalAdvance("12345")
    assert panel.matrix.min_cell() >= widest + 4  # every cell can hold the widest count
    window.resize(900, 600)
    qtbot.waitUntil(lambda: panel.matrix_scroll.verticalScrollBar().maximum() > 0
                    or panel.matrix_scroll.horizontalScrollBar().maximum() > 0, timeout=5000)
    assert panel.matrix.height() >= panel.matrix.minimum_extent().height()  # nothing cut: it scrolls


def test_evaluating_the_models_own_training_folder_is_warned(qtbot, window, tmp_path):
    from gui_support import make_checkpoint

    from speechrnn.checkpoint import load_checkpoint, save_checkpoint

    model = make_checkpoint(tmp_path / "trained_on_sc.pt")
    checkpoint = load_checkpoint(model)
    checkpoint.data = {"sources": [{"name": "speech_commands", "path": str(SPEECH_COMMANDS), "clips": 12}]}
    save_checkpoint(checkpoint, model)
    panel = evaluate_panel(qtbot, window, model, SPEECH_COMMANDS / "yes")  # a folder inside a training source
    panel._update_overlap()
    assert panel.overlap_label.isVisibleTo(panel)
    assert "trained on clips of this folder" in panel.overlap_label.text() and str(SPEECH_COMMANDS) in \
        panel.overlap_label.text()
    panel.folder_edit.setText(str(DATA / "fsdd"))
    panel._update_overlap()
    assert not panel.overlap_label.isVisibleTo(panel)


def test_play_shows_that_the_clip_is_playing(qtbot, window, digits_model, monkeypatch):
    import gui.panels.evaluate as evaluate_module

    played = []
    monkeypatch.setattr(evaluate_module, "play_file", lambda path: played.append(path) or "")
    monkeypatch.setattr(evaluate_module, "clip_seconds", lambda path: 0.2)
    panel = evaluate_panel(qtbot, window, digits_model, SPEECH_COMMANDS)
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=120000)
    assert not panel.play_button.isEnabled()  # nothing selected yet
    panel.wrong_table.selectRow(0)
    assert panel.play_button.isEnabled()
    panel.play_button.click()
    assert played and panel.play_button.text() == "■ Stop"
    assert panel.stage_label.text().startswith("▶ Playing ") and Path(played[0]).name in panel.stage_label.text()
    qtbot.waitUntil(lambda: panel.play_button.text() == "▶ Play", timeout=5000)
    assert panel.stage_label.text().startswith("Played ")
    monkeypatch.setattr(evaluate_module, "play_file", lambda path: "cannot play audio: no output device")
    panel.play_button.click()
    assert "no output device" in panel.stage_label.text() and panel.play_button.text() == "▶ Play"


def test_a_skipped_file_is_still_said_when_the_result_shows(qtbot, window, word_model, tmp_path):
    import shutil

    folder = tmp_path / "clips"
    shutil.copytree(SPEECH_COMMANDS, folder)
    (folder / "two" / "corrupt.wav").write_text("not audio")
    panel = evaluate_panel(qtbot, window, word_model, folder)
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None and panel.run_button.isEnabled(), timeout=120000)
    text = panel.stage_label.text()
    assert text.startswith("Done.") and "skipped 1 unreadable audio file" in text and "corrupt.wav" in text
