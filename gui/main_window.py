"""The main window: a sidebar of panels, menus, shortcuts, status bar.

Only the Listen panel is built at start-up (the app opens listening); the others are imported and
built the first time they are shown, which keeps their heavier imports off the start-up path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from gui import icons
from gui.context import AppContext
from gui.panels.base import Panel
from gui.theme import THEME_MODES, apply_theme
from gui.widgets.model_chooser import MODEL_FILTER, fill_bundled_menu
from gui.worker import Task, run_call

MIN_WIDTH, MIN_HEIGHT = 900, 600  # every panel usable (scroll areas where needed) from 900x600 up
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1240, 780
SIDEBAR_WIDTH = 150
STATUS_MESSAGE_MS = 6000


@dataclass(frozen=True)
class PanelSpec:
    key: str
    title: str
    target: str  # "module:Class", imported when first shown
    tooltip: str


PANELS = (
    PanelSpec("listen", "Listen", "gui.panels.listen:ListenPanel",
              "Speak into the microphone and watch the network recognize words live"),
    PanelSpec("record", "Record", "gui.panels.record:RecordPanel",
              "Record your own words (takes per word) into a dataset folder"),
    PanelSpec("train", "Train", "gui.panels.train:TrainPanel",
              "Train a new RNN / LSTM / GRU model on Speech Commands, your recordings or any folder"),
    PanelSpec("evaluate", "Evaluate", "gui.panels.evaluate:EvaluatePanel",
              "Measure a model on a folder of labelled clips: accuracy, confusions, mistakes"),
    PanelSpec("models", "Models", "gui.panels.models:ModelsPanel",
              "Open, save and inspect models: labels, architecture, features, metrics, data"),
)


def first_size(available: QSize) -> tuple[int, int]:
    """The window's size on a first start: the default, within the screen (a 1366 x 768 laptop, a
    900 x 600 screen), never below the size every panel needs."""
    return (max(MIN_WIDTH, min(DEFAULT_WIDTH, available.width())),
            max(MIN_HEIGHT, min(DEFAULT_HEIGHT, available.height())))


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("speechrnn")
        self.setWindowIcon(icons.icon("app"))
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.panels: dict[str, Panel] = {}
        self._save_task: Task | None = None
        self._current = ""
        self.last_error: tuple[str, str] | None = None  # (title, message) of the last warning shown

        self.sidebar = QListWidget()
        self.sidebar.setProperty("role", "sidebar")
        self.sidebar.setFixedWidth(SIDEBAR_WIDTH)
        self.sidebar.setIconSize(QSize(22, 22))
        self.stack = QStackedWidget()
        for index, spec in enumerate(PANELS):
            item = QListWidgetItem(spec.title)
            item.setToolTip(f"{spec.tooltip}  (Ctrl+{index + 1})")
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            item.setSizeHint(QSize(SIDEBAR_WIDTH - 12, 44))
            self.sidebar.addItem(item)
            self.stack.addWidget(QWidget())  # placeholder until first shown
        self.sidebar.currentRowChanged.connect(self._show_row)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.model_label = QLabel("Model: loading…")
        self.model_label.setToolTip("The active model (Models panel: details, open another)")
        self.mic_label = QLabel("Microphone: off")
        self.statusBar().addPermanentWidget(self.mic_label)
        self.statusBar().addPermanentWidget(self.model_label)

        self._build_menus()
        self._restyle_icons()
        ctx.notify.status.connect(lambda text: self.statusBar().showMessage(text, STATUS_MESSAGE_MS))
        ctx.notify.error.connect(self.show_error)
        ctx.notify.show_panel.connect(self.show_panel)
        ctx.notify.colors_changed.connect(lambda _colors: self._restyle_icons())
        ctx.model.changed.connect(self._model_changed)
        ctx.model.loading.connect(lambda _path: self.model_label.setText("Model: loading…"))
        ctx.model.failed.connect(self._model_failed)
        ctx.audio.started.connect(lambda dev: self.mic_label.setText(f"Microphone: {dev.name}"))
        ctx.audio.unavailable.connect(lambda _msg: self.mic_label.setText(
            "Microphone: lost, reconnecting…" if ctx.audio.reconnecting else "Microphone: none"))
        ctx.audio.stopped.connect(lambda: self.mic_label.setText("Microphone: off"))

        geometry = ctx.settings.window_geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*first_size(self.screen().availableGeometry().size()))

    # ---------------------------------------------------------------------------- panels
    def panel(self, key: str) -> Panel:
        """The panel ``key``, built now if it was not shown before."""
        if key in self.panels:
            return self.panels[key]
        index = next(i for i, spec in enumerate(PANELS) if spec.key == key)
        module_name, class_name = PANELS[index].target.split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        panel = cls(self.ctx)
        panel.apply_colors(self.ctx.colors)
        placeholder = self.stack.widget(index)
        self.stack.removeWidget(placeholder)
        placeholder.deleteLater()
        self.stack.insertWidget(index, panel)
        self.panels[key] = panel
        return panel

    def show_panel(self, key: str) -> None:
        row = next(i for i, spec in enumerate(PANELS) if spec.key == key)
        self.sidebar.setCurrentRow(row)

    def _show_row(self, row: int) -> None:
        if row < 0:
            return
        key = PANELS[row].key
        panel = self.panel(key)
        if self._current and self._current != key and self._current in self.panels:
            self.panels[self._current].deactivated()
        self.stack.setCurrentWidget(panel)
        self._current = key
        self.ctx.settings.last_panel = key
        panel.activated()

    @property
    def current_key(self) -> str:
        return self._current

    # ---------------------------------------------------------------------------- menus
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&Open model…", QKeySequence.StandardKey.Open, self.open_model,
                         "Load a .pt model file and make it the active model")
        self._add_action(file_menu, "&Save model as…", QKeySequence("Ctrl+Shift+S"), self.save_model_as,
                         "Save a copy of the active model under a new name")
        self.recent_menu = file_menu.addMenu("Recent models")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.bundled_menu = file_menu.addMenu("Use a &bundled model")
        self.bundled_menu.setStatusTip("The models shipped with the app: Digits (zero … nine), Commands, …")
        self.bundled_menu.aboutToShow.connect(self._fill_bundled_menu)
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        view_menu = self.menuBar().addMenu("&View")
        for index, spec in enumerate(PANELS):
            self._add_action(view_menu, spec.title, QKeySequence(f"Ctrl+{index + 1}"),
                             lambda _=False, key=spec.key: self.show_panel(key), spec.tooltip)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode in THEME_MODES:
            action = QAction(mode.capitalize() if mode != "system" else "Follow system", self, checkable=True)
            action.setChecked(self.ctx.settings.theme == mode)
            action.triggered.connect(lambda _=False, m=mode: self.set_theme(m))
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[mode] = action
        self._add_action(view_menu, "Toggle &dark mode", QKeySequence("Ctrl+Shift+D"),
                         lambda: self.set_theme("light" if self.ctx.colors.dark else "dark"))

        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents, self.show_shortcuts)
        self._add_action(help_menu, "&About speechrnn", None, self.show_about)

    def _add_action(self, menu, text, shortcut, slot, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _fill_bundled_menu(self) -> None:
        fill_bundled_menu(self.bundled_menu, self.ctx.model.assets_dir, self.ctx.model.path, self.ctx.model.activate)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.ctx.settings.recent_models
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
            return
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.ctx.model.activate(p))

    # ---------------------------------------------------------------------------- actions
    def open_model(self) -> None:
        start = str(self.ctx.model.path.parent) if self.ctx.model.path else self.ctx.settings.runs_folder
        path, _ = QFileDialog.getOpenFileName(self, "Open a speechrnn model", start, MODEL_FILTER)
        if path:
            self.ctx.model.activate(path)

    def save_model_as(self) -> None:
        source = self.ctx.model.path
        if source is None:
            self.show_error("Save model", "No model is active.")
            return
        target, _ = QFileDialog.getSaveFileName(self, "Save the active model as", str(Path.home() / source.name),
                                                MODEL_FILTER)
        if not target:
            return
        target_path = Path(target) if target.endswith(".pt") else Path(target + ".pt")

        def save() -> Path:
            from speechrnn.checkpoint import load_checkpoint, save_checkpoint

            return save_checkpoint(load_checkpoint(source), target_path)

        task = run_call(save)
        task.succeeded.connect(lambda path: self.ctx.notify.status.emit(f"Saved {path}"))
        task.succeeded.connect(lambda path: self.ctx.settings.add_recent_model(path))
        task.failed.connect(lambda msg: self.show_error("Save model", msg))
        self._save_task = task.start()

    def set_theme(self, mode: str) -> None:
        self.ctx.settings.theme = mode
        self.ctx.colors = apply_theme(QApplication.instance(), mode)
        if mode in self.theme_actions:
            self.theme_actions[mode].setChecked(True)
        self.ctx.notify.colors_changed.emit(self.ctx.colors)

    def _restyle_icons(self) -> None:
        color = "#e6edf3" if self.ctx.colors.dark else "#24292f"
        for row, spec in enumerate(PANELS):
            self.sidebar.item(row).setIcon(icons.icon(spec.key, color))

    def show_error(self, title: str, message: str) -> None:
        """A warning box that does not block the event loop (recognition and plots keep running)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_error = (title, message)

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>Ctrl+{i + 1}</b></td><td>{s.title}: {s.tooltip}</td></tr>"
                       for i, s in enumerate(PANELS))
        rows += (
            "<tr><td><b>Space</b></td><td>Listen: start / stop listening</td></tr>"
            "<tr><td><b>Ctrl+R</b> / <b>Esc</b></td><td>Record: start / stop recording takes</td></tr>"
            "<tr><td><b>Enter</b> / <b>Ctrl+Backspace</b></td><td>Record: keep and go on / redo the last take</td></tr>"
            "<tr><td><b>P</b> / <b>Delete</b></td><td>Record: play the take or clip / delete selected clips</td></tr>"
            "<tr><td><b>Ctrl+Enter</b></td><td>Train: start training; Evaluate: evaluate</td></tr>"
            "<tr><td><b>Ctrl+O</b></td><td>Open a model</td></tr>"
            "<tr><td><b>Ctrl+Shift+S</b></td><td>Save the active model as…</td></tr>"
            "<tr><td><b>Ctrl+Shift+D</b></td><td>Toggle dark mode</td></tr>"
            "<tr><td><b>Ctrl+Q</b></td><td>Quit</td></tr>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", f"<table cellpadding='3'>{rows}</table>")

    def show_about(self) -> None:
        from speechrnn import __version__

        QMessageBox.about(
            self, "About speechrnn",
            f"<h3>speechrnn {__version__}</h3>"
            "<p>Speech-command recognition with recurrent neural networks (RNN, LSTM, GRU): "
            "listen live, record your own words, train and evaluate — in one window or from the "
            "<code>speechrnn</code> command line.</p>"
            "<p>The network reads 10 ms feature frames one by one and carries its hidden state — "
            "its memory, shown live in the Listen panel.</p>",
        )

    # ---------------------------------------------------------------------------- model
    def _model_changed(self, path: Path, summary: dict) -> None:
        labels = summary.get("labels", [])
        words = [w for w in labels if not w.startswith("_")]
        count = f"{len(words)} word{'' if len(words) == 1 else 's'}"
        self.model_label.setText(f"Model: {self.ctx.model.display_name} ({count})")
        self.model_label.setToolTip(str(path))

    def _model_failed(self, message: str) -> None:
        self.model_label.setText(f"Model: {self.ctx.model.display_name}")
        self.show_error("Could not load the model", message)

    # ---------------------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        reasons = [r for r in (p.busy_reason() for p in self.panels.values()) if r]
        if reasons:
            answer = QMessageBox.question(
                self, "Quit speechrnn?", "\n".join(reasons) + "\n\nStop it and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.ctx.settings.window_geometry = self.saveGeometry()
        for panel in self.panels.values():
            panel.shutdown()
        Task.stop_all()
        self.ctx.audio.shut_down()
        event.accept()


def start_panel(window: MainWindow, key: str) -> None:
    """Show ``key`` once the event loop runs (keeps the first paint fast)."""
    QTimer.singleShot(0, lambda: window.show_panel(key))
