"""Main window: panels, shortcuts, themes, models menu, settings; and the library never imports Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from gui.app import initial_model, parse_args
from gui.main_window import MIN_HEIGHT, MIN_WIDTH, PANELS
from gui.settings import Settings


def test_command_line_options():
    args = parse_args(["--model", "m.pt", "--device", "USB", "--theme", "dark", "--panel", "train"])
    assert (args.model, args.device, args.theme, args.panel) == ("m.pt", "USB", "dark", "train")


def test_initial_model_prefers_option_then_remembered_existing_file(tmp_path, digits_model):
    settings = Settings()
    assert initial_model(parse_args([]), settings) is None  # nothing remembered: the bundled model
    settings.active_model = str(tmp_path / "deleted.pt")
    assert initial_model(parse_args([]), settings) is None  # a remembered file that is gone is ignored
    settings.active_model = str(digits_model)
    assert initial_model(parse_args([]), settings) == str(digits_model)
    assert initial_model(parse_args(["--model", "x.pt"]), settings) == "x.pt"


def test_every_panel_opens_from_the_sidebar_and_shortcuts(qtbot, window):
    assert window.minimumWidth() == MIN_WIDTH and window.minimumHeight() == MIN_HEIGHT
    for row, spec in enumerate(PANELS):
        window.sidebar.setCurrentRow(row)
        assert window.current_key == spec.key
        assert window.stack.currentWidget() is window.panels[spec.key]
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == "listen"
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == "train"
    assert window.ctx.settings.last_panel == "train"


def test_dark_and_light_palettes_toggle_and_persist(qtbot, window):
    window.show_panel("listen")
    with qtbot.waitSignal(window.ctx.notify.colors_changed):
        window.set_theme("dark")
    assert window.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert window.ctx.colors.dark and Settings().theme == "dark"
    qtbot.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not window.ctx.colors.dark
    assert window.palette().color(QPalette.ColorRole.Window).lightness() > 180
    assert Settings().theme == "light"


def test_opening_models_updates_status_recent_list_and_menu(qtbot, window, digits_model, other_model):
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        window.ctx.model.activate(other_model)
    assert window.ctx.model.path == other_model
    assert "yes_no.pt" in window.model_label.text() and "2 words" in window.model_label.text()
    recent = Settings().recent_models
    assert recent[:2] == [str(other_model.resolve()), str(digits_model.resolve())]
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()][:2] == recent[:2]


def test_closing_asks_while_training_runs_and_not_once_it_is_stopped(qtbot, window, monkeypatch):
    """Quitting mid-training asks first; once the panels have stopped their work (what the window
    does after a "Yes", and a test's teardown), closing must not ask again: a modal question with
    nobody to answer it hangs the app (and the test run)."""
    import time

    from PySide6.QtWidgets import QMessageBox

    from gui.worker import Task

    def endless_training(token):
        while not token.cancelled:
            time.sleep(0.01)
        yield from ()

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2])
                        or QMessageBox.StandardButton.No)
    train = window.panel("train")
    train.task = Task(endless_training).start()
    assert train.running
    window.close()
    assert asked and "training" in asked[0] and window.isVisible()  # asked, "No": still open
    for panel in window.panels.values():
        panel.shutdown()  # cancels and joins the thread; its ``done`` signal is not delivered yet
    assert not train.running
    window.close()
    assert len(asked) == 1 and not window.isVisible()


def test_a_broken_model_file_is_reported_and_the_old_model_stays(qtbot, window, digits_model, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    with qtbot.waitSignal(window.ctx.model.failed, timeout=30000) as blocker:
        window.ctx.model.activate(broken)
    assert "broken.pt" in blocker.args[0]
    assert window.last_error is not None and "broken.pt" in window.last_error[1]
    assert window.ctx.model.path == digits_model


def test_save_model_as_writes_a_loadable_copy(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from speechrnn.checkpoint import load_checkpoint

    target = tmp_path / "copy"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.save_model_as()
    qtbot.waitUntil(lambda: (tmp_path / "copy.pt").exists() and not window._save_task.running, timeout=30000)
    assert load_checkpoint(tmp_path / "copy.pt").labels == window.ctx.model.labels
    assert str((tmp_path / "copy.pt").resolve()) in Settings().recent_models


def test_window_geometry_is_remembered(qtbot, window):
    window.resize(1100, 700)
    window.close()
    assert Settings().window_geometry is not None


def test_speechrnn_never_imports_qt():
    """Import every module of the library in a fresh interpreter: no PySide6 may come with them."""
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import speechrnn
        failed = []
        for module in pkgutil.walk_packages(speechrnn.__path__, "speechrnn."):
            if module.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(module.name)
            except ImportError as exc:
                failed.append(f"{module.name}: {exc}")
        qt = sorted(name for name in sys.modules if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6"))
        print("QT:" + ",".join(qt))
        print("FAILED:" + ";".join(failed))
        print("COUNT:%d" % sum(1 for name in sys.modules if name.startswith("speechrnn")))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    assert lines["QT"] == "", f"speechrnn imported Qt: {lines['QT']}"
    assert int(lines["COUNT"]) > 10  # the walk really imported the library


def test_the_window_and_the_listen_panel_come_up_before_torch_is_imported():
    """torch takes a second or more to import: it comes with the model, on a worker thread, so the
    window and its first panel must not pull it in when their modules are imported."""
    code = "import sys, gui.app, gui.main_window, gui.panels.listen; print('TORCH:%s' % ('torch' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert "TORCH:False" in done.stdout


def test_settings_live_in_the_test_folder(isolated_settings):
    """Guard for every other test here: nothing is written to the user's real configuration."""
    assert Settings().store.fileName().startswith(str(isolated_settings))


def test_the_qt_binding_keeps_reference_counts(qapp):
    """PySide6 6.12.0 drops a reference to None on every call returning nothing (Python < 3.12): with
    the Listen panel painting 30 times a second, None's count reached zero and the app aborted after
    about 50 s. pyproject.toml excludes that version; this catches any other that does the same."""
    from PySide6.QtWidgets import QLabel

    label = QLabel("x")
    calls = 1000
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(calls):
        label.setText("a")
        label.update()
    after = sys.getrefcount(None), sys.getrefcount(True)
    assert after[0] > before[0] - calls // 10, f"None lost {before[0] - after[0]} references in {calls} calls"
    assert after[1] > before[1] - calls // 10


def test_the_file_menu_offers_every_bundled_model(qtbot, bundled_window):
    window = bundled_window
    window.bundled_menu.aboutToShow.emit()
    actions = window.bundled_menu.actions()
    assert [a.text() for a in actions] == ["Digits", "Commands"]
    assert [a.isChecked() for a in actions] == [True, False]  # the active one is ticked
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        actions[1].trigger()
    assert window.ctx.model.bundled_name == "commands"
    assert "bundled commands model" in window.model_label.text()
    window.bundled_menu.aboutToShow.emit()
    assert [a.isChecked() for a in window.bundled_menu.actions()] == [False, True]


def test_only_installed_bundled_models_are_offered(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QMenu

    from gui.widgets.model_chooser import fill_bundled_menu

    menu = QMenu()
    chosen = []
    fill_bundled_menu(menu, tmp_path, None, chosen.append)  # an assets folder without any model
    assert [(a.text(), a.isEnabled()) for a in menu.actions()] == [("(no bundled model installed)", False)]
    (tmp_path / "commands_model.pt").write_bytes(b"")  # a checkout with only the commands model
    fill_bundled_menu(menu, tmp_path, None, chosen.append)
    assert [a.text() for a in menu.actions()] == ["Commands"]
    menu.actions()[0].trigger()
    assert chosen == ["commands"]


def test_a_first_start_fits_the_window_to_the_screen(qtbot, window):
    """No saved geometry: the default size, but never beyond a small screen nor below what panels need."""
    from PySide6.QtCore import QSize

    from gui.main_window import DEFAULT_HEIGHT, DEFAULT_WIDTH, MIN_HEIGHT, MIN_WIDTH, first_size

    assert first_size(QSize(1920, 1080)) == (DEFAULT_WIDTH, DEFAULT_HEIGHT)
    assert first_size(QSize(1366, 728)) == (DEFAULT_WIDTH, 728)  # a laptop's screen less its panel
    assert first_size(QSize(800, 500)) == (MIN_WIDTH, MIN_HEIGHT)
    screen = window.screen().availableGeometry().size()  # the offscreen screen of the tests: 800 x 800
    assert (window.width(), window.height()) == first_size(screen)
