"""Models panel: what the active checkpoint says about itself, recent models, the gradient curve."""

from __future__ import annotations

import numpy as np
from gui_support import SPEECH_COMMANDS


def models_panel(window):
    window.show_panel("models")
    return window.panels["models"]


def test_active_model_is_described(qtbot, window, digits_model):
    panel = models_panel(window)
    assert panel.name_label.text() == "random_gru.pt"
    assert str(digits_model) in panel.path_label.text()
    assert panel.words_label.text().startswith("_silence_, _unknown_, zero, one")
    assert "GRU, 1 layer(s) × 16 units" in panel.arch_label.text()
    assert "MFCC 40 × 10.0 ms frames at 16000 Hz" in panel.arch_label.text()
    assert panel.result_label.text() == "held-out test accuracy: 50.0 %"
    sections = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert sections == ["Model", "Features", "Labels", "Metrics", "Training", "Data and licenses", "File"]
    data = panel.tree.topLevelItem(5)
    rows = {data.child(i).text(0): data.child(i) for i in range(data.childCount())}
    licenses = rows["licenses"]
    assert licenses.child(0).text(0) == "generated" and licenses.child(0).text(1) == "CC0"


def test_recent_models_switch_the_active_model(qtbot, window, digits_model, other_model):
    panel = models_panel(window)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    assert panel.name_label.text() == "yes_no.pt" and "LSTM" in panel.arch_label.text()
    assert panel.recent.count() == 2 and panel.recent.item(0).text().endswith("yes_no.pt")
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        panel.recent.itemActivated.emit(panel.recent.item(1))
    assert window.ctx.model.path.name == "random_gru.pt"
    panel.recent.setCurrentRow(1)
    panel._forget_selected()
    assert panel.recent.count() == 1


def measure_gradients(qtbot, window, model, folder, clips):
    """The Models panel's "How far back does it learn?" on ``folder`` with ``model`` active, to the end."""
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(model)
    panel = models_panel(window)
    panel.gradient_folder.setText(str(folder))
    panel.gradient_clips.setValue(clips)
    panel.gradient_button.click()
    assert not panel.gradient_button.isEnabled()
    qtbot.waitUntil(panel.gradient_button.isEnabled, timeout=120000)
    return panel


def test_gradient_reach_is_measured_and_drawn(qtbot, window, word_model):
    panel = measure_gradients(qtbot, window, word_model, SPEECH_COMMANDS, 6)
    x, y = panel.gradient_plot.curve.getData()
    assert x is not None and len(x) == 98  # one point per frame of a 1 s clip
    # 10 ms apart; relative to the last frame, so 1 there (the log-scale plot holds log10 values)
    assert x[1] - x[0] == 10.0 and np.isclose(y[0], 0.0)
    assert "mean of 6 clips" in panel.gradient_result.text()
    assert panel.gradient_plot.curve.opts["pen"].color().name() == window.ctx.colors.accent


def test_gradient_reach_skips_an_unreadable_file_and_says_so(qtbot, window, word_model, tmp_path):
    import shutil

    folder = tmp_path / "clips"
    shutil.copytree(SPEECH_COMMANDS, folder)
    (folder / "two" / "corrupt.wav").write_text("not audio")
    panel = measure_gradients(qtbot, window, word_model, folder, 100)
    text = panel.gradient_result.text()
    assert "the gradient" in text and "1 unreadable file skipped" in text and "corrupt.wav" in text


def test_gradient_needs_a_folder(qtbot, window):
    panel = models_panel(window)
    panel.gradient_folder.setText("")
    panel.measure_gradients()
    assert "folder" in panel.gradient_result.text()


def test_log_axis_ticks_are_round_numbers():
    from gui.panels.models import log_ticks

    assert [text for _, text in log_ticks(1e-4, 1.0)] == ["0.0001", "0.001", "0.01", "0.1", "1"]
    assert [text for _, text in log_ticks(0.9, 45)] == ["1", "2", "5", "10", "20", "50"]  # < 2 decades: 2 and 5 too
    assert log_ticks(0.9, 45)[3][0] == 1.0  # positions in log10 units, as the plot's log mode uses


# ------------------------------------------------------------------------------ issue 12, section 3
def test_a_freshly_trained_model_shows_its_stored_metrics(qtbot, window, tmp_path):
    """What training stores in best.pt before (or without) a test split: best_val_acc, val_acc, best_epoch."""
    from gui_support import make_checkpoint

    from gui.panels.models import headline_accuracy
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint

    path = make_checkpoint(tmp_path / "lights-gru2x128-20261201" / "best.pt")
    checkpoint = load_checkpoint(path)
    checkpoint.metrics = {"epoch": 7, "train_loss": 0.2, "val_loss": 0.3, "val_acc": 0.9, "best_val_acc": 0.925,
                          "best_epoch": 7}
    save_checkpoint(checkpoint, path)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(path)
    panel = models_panel(window)
    assert panel.result_label.text() == "validation accuracy: 92.5 % (epoch 7)"
    assert headline_accuracy({"test_accuracy": 0.8, "best_val_acc": 0.9}) == \
        "held-out test accuracy: 80.0 %  ·  validation accuracy: 90.0 %"
    assert headline_accuracy({}) == ""


def test_a_click_shows_details_and_a_double_click_activates_visibly(qtbot, window, digits_model, other_model):
    from PySide6.QtCore import Qt

    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(digits_model)
    panel = models_panel(window)
    texts = [panel.recent.item(i).text() for i in range(panel.recent.count())]
    assert texts == ["✓ random_gru.pt", "yes_no.pt"]  # the active one is marked
    # single click: the details of yes_no.pt, the active model stays
    rect = panel.recent.visualItemRect(panel.recent.item(1))
    qtbot.mouseClick(panel.recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: panel.name_label.text() == "yes_no.pt", timeout=30000)
    assert "LSTM" in panel.arch_label.text() and "Not active" in panel.state_label.text()
    assert window.ctx.model.path.name == "random_gru.pt"
    # double click: it becomes active, and the panel, the list and the status bar say so
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        qtbot.mousePress(panel.recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # as a real
        qtbot.mouseDClick(panel.recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # double click
    assert window.ctx.model.path.name == "yes_no.pt"
    assert panel.state_label.text().startswith("✓ The active model")
    assert panel.recent.item(0).text() == "✓ yes_no.pt" and panel.recent.item(0).font().bold()
    assert "Now using yes_no.pt" in window.statusBar().currentMessage()


def test_the_list_is_wide_and_the_empty_gradient_plot_is_readable(qtbot, window):
    from PySide6.QtWidgets import QSplitter

    from gui.panels.models import RECENT_MIN_PX

    panel = models_panel(window)
    window.resize(900, 600)
    qtbot.wait(50)
    assert panel.recent.width() >= RECENT_MIN_PX
    assert not panel.findChild(QSplitter).childrenCollapsible()
    ticks = panel.gradient_plot.getAxis("left")._tickLevels  # the fixed ticks of the empty log axis
    assert [text for _, text in ticks[0]] == ["0.0001", "0.001", "0.01", "0.1", "1"]
    assert panel.gradient_plot.placeholder.isVisible()


def test_the_bundled_model_button_offers_every_bundled_model(qtbot, bundled_window):
    window = bundled_window
    panel = models_panel(window)
    menu = panel.bundled_button.menu()
    menu.aboutToShow.emit()
    assert [a.text() for a in menu.actions()] == ["Digits", "Commands"]
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        menu.actions()[1].trigger()
    assert window.ctx.model.bundled_name == "commands"
    assert panel.name_label.text() == "bundled commands model"
    assert "yes" in panel.words_label.text()


def shown_in_viewport(widget, scroll_area) -> bool:
    """The whole widget lies inside the scroll area's visible part (no scrolling needed)."""
    from PySide6.QtCore import QRect

    viewport = scroll_area.viewport()
    top_left = widget.mapTo(viewport, widget.rect().topLeft())
    return viewport.rect().contains(QRect(top_left, widget.size()))


def test_the_property_tree_and_the_gradient_plot_share_the_window(qtbot, window):
    from PySide6.QtWidgets import QScrollArea

    from gui.panels.models import DETAILS_MIN_HEIGHT_PX, TREE_MIN_HEIGHT_PX

    panel = models_panel(window)
    details = panel.findChild(QScrollArea)
    window.resize(1280, 800)
    qtbot.wait(100)
    # both visible at once, the plot at a readable height, without scrolling the details
    assert shown_in_viewport(panel.tree, details) and shown_in_viewport(panel.gradient_plot, details)
    assert panel.tree.height() > TREE_MIN_HEIGHT_PX and panel.gradient_plot.height() > panel.gradient_plot.minimumHeight()
    assert not details.verticalScrollBar().isVisible()
    # the smallest window: the details scroll (below DETAILS_MIN_HEIGHT_PX), and the plot is still reachable
    window.resize(900, 600)
    qtbot.wait(100)
    assert details.viewport().height() < DETAILS_MIN_HEIGHT_PX and details.verticalScrollBar().isVisible()
    details.verticalScrollBar().setValue(details.verticalScrollBar().maximum())  # scrolled to the end
    qtbot.wait(50)
    assert shown_in_viewport(panel.gradient_plot, details)
    # a splitter between them: the user can give the plot more room
    window.resize(1280, 800)
    qtbot.wait(100)
    splitter = panel.details_splitter
    assert splitter.indexOf(panel.tree) == 0 and splitter.widget(1).isAncestorOf(panel.gradient_plot)
    before = panel.gradient_plot.height()
    splitter.setSizes([TREE_MIN_HEIGHT_PX, sum(splitter.sizes()) - TREE_MIN_HEIGHT_PX])
    qtbot.wait(50)
    assert panel.gradient_plot.height() > before and shown_in_viewport(panel.gradient_plot, details)


def test_an_ensemble_is_shown_as_its_networks_and_listens(qtbot, window, tmp_path):
    from datapaths import STREAM_WORD_MODEL
    from speechrnn.checkpoint import combine_checkpoints, save_checkpoint
    from test_ensemble import perturbed_copy

    other = perturbed_copy(STREAM_WORD_MODEL, tmp_path / "other.pt")
    path = save_checkpoint(combine_checkpoints([STREAM_WORD_MODEL, other]), tmp_path / "both.pt")
    panel = models_panel(window)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(path)
    assert panel.arch_label.text().startswith("ensemble of 2 networks averaged (the first shown; then GRU 2 × 64)")
    sections = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert "Other networks of the ensemble" in sections
    ensemble = panel.tree.topLevelItem(sections.index("Other networks of the ensemble"))
    assert ensemble.child(0).text(0) == "network 2" and not ensemble.isExpanded()
    listen = window.panels["listen"]  # Listen builds its recognizer on the ensemble
    qtbot.waitUntil(lambda: listen.recognizer is not None
                    and type(listen.recognizer.model).__name__ == "EnsembleClassifier", timeout=30000)


def test_a_spectral_front_end_is_named_before_the_network_it_feeds(qtbot, window, tmp_path):
    from speechrnn.checkpoint import combine_checkpoints, save_checkpoint
    from test_export import random_checkpoint

    stream = dict(objective="stream", pooling="last", background_class=0)
    conv = random_checkpoint(tmp_path / "conv.pt", spectral_conv_channels=4, **stream)
    plain = random_checkpoint(tmp_path / "plain.pt", **stream)
    panel = models_panel(window)
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(conv)
    assert panel.arch_label.text().startswith("spectral conv 4 → GRU, 2 layer(s) × 16 units")
    both = save_checkpoint(combine_checkpoints([plain, conv]), tmp_path / "both.pt")
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(both)
    assert panel.arch_label.text().startswith("ensemble of 2 networks averaged (the first shown; then spectral conv 4 "
                                              "→ GRU 2 × 16): GRU, 2 layer(s) × 16 units")


def test_runs_of_the_same_name_are_told_apart(qtbot, window, digits_model, tmp_path):
    """Two trainings of the same words on one day share a run name ("lights-gru2x128-20261205/best.pt")
    in different folders: the recent list and the model chooser name them by their folders."""
    import shutil

    paths = []
    for folder in ("runs", "runs-dark"):
        path = tmp_path / folder / "lights-gru2x128-20261205" / "best.pt"
        path.parent.mkdir(parents=True)
        shutil.copy(digits_model, path)
        paths.append(path)
    for path in paths:
        with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
            window.ctx.model.activate(path)
    panel = models_panel(window)
    texts = [panel.recent.item(i).text() for i in range(panel.recent.count())]
    assert "✓ runs-dark/lights-gru2x128-20261205/best.pt" in texts
    assert "runs/lights-gru2x128-20261205/best.pt" in texts
    chooser = window.panels["listen"].model_chooser
    chooser.refill()
    titles = [chooser.itemText(i) for i in range(chooser.count())]
    assert {"runs/lights-gru2x128-20261205/best.pt", "runs-dark/lights-gru2x128-20261205/best.pt"} <= set(titles)
    assert "random_gru.pt" in titles  # a name of its own stays short
