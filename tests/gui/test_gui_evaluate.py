"""Evaluate panel: runs the library's evaluation off the GUI thread and shows every part of the result."""

from __future__ import annotations

import numpy as np
from gui_support import DATA, SPEECH_COMMANDS
from PySide6.QtCore import Qt

from gui.settings import Settings


def evaluate_panel(qtbot, window, model, folder):
    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    panel.model_edit.setText(str(model))
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
    panel.model_edit.setText("")
    panel.start()
    assert "model" in window.last_error[1]


def test_follows_the_active_model(qtbot, window, other_model):
    window.show_panel("evaluate")
    panel = window.panels["evaluate"]
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    assert panel.model_edit.text() == str(other_model)
