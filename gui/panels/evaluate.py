"""Evaluate panel: a model on a folder of labelled clips — accuracy, per-class table, confusions, mistakes.

The library's :func:`~speechrnn.evaluate.evaluate` event generator does the work in a worker
thread; this panel shows its progress and result, and plays the misclassified clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from gui.context import AppContext
from gui.panels.base import Panel, big_label, card, column, heading, hint, panel_shortcut
from gui.playback import clip_seconds, play_file, stop_playback
from gui.theme import PlotColors
from gui.widgets.confusion import ConfusionMatrixView
from gui.widgets.model_chooser import ModelChooser
from gui.worker import Task

ACCURACY_SCALE = 2.4  # the big accuracy figure, relative to the normal font
DEFAULT_SNR_DB = 10
V2_TEST_SOURCE = "speech-commands:v2-test"  # the official 12-word test archive (downloaded when missing)
PATH_ROLE = Qt.ItemDataRole.UserRole


SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_PX = 22  # compact table rows
PLAY_TAIL_MS = 150  # the Play button turns back a little after the clip's end (output latency)


class NumericItem(QTableWidgetItem):
    """A right-aligned, formatted number that sorts by value (not by its text)."""

    def __init__(self, value: float | int | None, fmt: str):
        super().__init__("–" if value is None else fmt.format(value))
        self.setData(SORT_ROLE, float("-inf") if value is None else float(value))
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


def compact(table: QTableWidget) -> None:
    table.verticalHeader().setDefaultSectionSize(ROW_PX)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSortingEnabled(True)
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # model order until clicked


class EvaluatePanel(Panel):
    key = "evaluate"
    title = "Evaluate"

    def __init__(self, ctx: AppContext):
        super().__init__(ctx)
        self.task: Task | None = None
        self.result: Any = None
        self._warnings: list[str] = []  # the running evaluation's warnings, shown under its result
        self._build()
        ctx.model.changed.connect(lambda path, _summary: self._follow_active(path))
        if ctx.model.path is not None:
            self.set_model(ctx.model.path)

    # ------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.addWidget(heading("Evaluate a model"))
        root.addWidget(hint("How well does a model do on clips it has not learned from? Pick a model and a "
                            "folder of labelled clips (one sub-folder per word, like Speech Commands)."))
        form = QFormLayout()
        model_row = QHBoxLayout()
        self.model_chooser = ModelChooser(self.ctx.settings, self.ctx.model.assets_dir)
        self.model_chooser.setToolTip("The model to evaluate: a bundled one (Digits, Commands), one of your recent "
                                      "models or any file. Follows the active model unless you pick another.")
        self.model_chooser.chosen.connect(lambda _path: self._update_overlap())
        active = QPushButton("Active model")
        active.setToolTip("Evaluate the model that is active in the Listen panel")
        active.clicked.connect(lambda: self.set_model(self.ctx.model.path))
        model_row.addWidget(self.model_chooser, 1)
        model_row.addWidget(active)
        form.addRow("Model:", model_row)
        data_row = QHBoxLayout()
        self.folder_edit = QLineEdit(self.ctx.settings.eval_folder)
        self.folder_edit.setPlaceholderText("folder with one sub-folder of clips per word")
        self.folder_edit.setToolTip("Clips to test on. Every clip counts, whatever split it was in when training.")
        self.folder_edit.editingFinished.connect(self._update_overlap)
        folder_button = QPushButton("Browse…")
        folder_button.clicked.connect(self._browse_folder)
        self.v2_test = QCheckBox("Speech Commands v2 test set")
        self.v2_test.setToolTip("The official 12-word test archive (downloaded once, 112 MB) instead of a folder")
        self.v2_test.toggled.connect(lambda on: (self.folder_edit.setEnabled(not on), folder_button.setEnabled(not on)))
        data_row.addWidget(self.folder_edit, 1)
        data_row.addWidget(folder_button)
        data_row.addWidget(self.v2_test)
        form.addRow("Clips:", data_row)
        noise_row = QHBoxLayout()
        self.noise_edit = QLineEdit()
        self.noise_edit.setPlaceholderText("optional: a folder of noise recordings, to also score with noise mixed in")
        self.noise_edit.setToolTip("Scores the clips a second time with this noise mixed in at the SNR on the right")
        noise_button = QPushButton("Browse…")
        noise_button.clicked.connect(lambda: self._browse_into(self.noise_edit, "Folder of noise recordings"))
        self.snr_spin = QSpinBox()
        self.snr_spin.setRange(-10, 40)
        self.snr_spin.setValue(DEFAULT_SNR_DB)
        self.snr_spin.setSuffix(" dB SNR")
        self.snr_spin.setToolTip("Signal-to-noise ratio of the mix: 0 dB = speech and noise equally loud")
        noise_row.addWidget(self.noise_edit, 1)
        noise_row.addWidget(noise_button)
        noise_row.addWidget(self.snr_spin)
        form.addRow("Noise:", noise_row)
        root.addLayout(form)
        self.overlap_label = QLabel()
        self.overlap_label.setWordWrap(True)
        self.overlap_label.setProperty("role", "warning")
        self.overlap_label.hide()
        root.addWidget(self.overlap_label)

        run_row = QHBoxLayout()
        self.run_button = QPushButton("▶ Evaluate")
        self.run_button.setToolTip("Run the model on every clip (Ctrl+Return)")
        panel_shortcut(self, "Ctrl+Return", self.start)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.stage_label = QLabel()
        self.stage_label.setProperty("role", "muted")
        self.stage_label.setWordWrap(True)  # a long warning (a skipped file's path) wraps, never widens the panel
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        root.addLayout(run_row)
        root.addWidget(self.stage_label)

        splitter = QSplitter(Qt.Orientation.Vertical)
        top = QSplitter(Qt.Orientation.Horizontal)
        left, left_layout = column()
        accuracy_card, card_layout = card()
        self.accuracy_label = big_label("–", ACCURACY_SCALE, centred=True)
        self.accuracy_caption = QLabel("accuracy")
        self.accuracy_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.accuracy_caption.setProperty("role", "muted")
        card_layout.addWidget(self.accuracy_label)
        card_layout.addWidget(self.accuracy_caption)
        left_layout.addWidget(accuracy_card)
        self.class_table = QTableWidget(0, 5)
        self.class_table.setHorizontalHeaderLabels(["Word", "Precision", "Recall", "F1", "Clips"])
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        compact(self.class_table)
        self.class_table.setToolTip("Precision: of the clips called this word, the share that were it.\n"
                                    "Recall: of the clips of this word, the share found.")
        left_layout.addWidget(self.class_table, 1)
        top.addWidget(left)
        self.matrix = ConfusionMatrixView()
        self.matrix_scroll = QScrollArea()  # many words or a small window: the matrix scrolls, never drops counts
        self.matrix_scroll.setWidget(self.matrix)
        self.matrix_scroll.setWidgetResizable(True)
        self.matrix_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        top.addWidget(self.matrix_scroll)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)
        top.setSizes([520, 540])
        splitter.addWidget(top)

        wrong_box, wrong_layout = column()
        wrong_row = QHBoxLayout()
        self.wrong_title = QLabel("Misclassified clips")
        self.wrong_title.setProperty("role", "muted")
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play the selected clip (or double-click it); press again to stop")
        self.play_button.clicked.connect(self.play_selected)
        self.play_button.setEnabled(False)
        self._play_timer = QTimer(self)
        self._play_timer.setSingleShot(True)
        self._play_timer.timeout.connect(self._playback_ended)
        self.playing = ""  # the clip being played ("" = none)
        wrong_row.addWidget(self.wrong_title, 1)
        wrong_row.addWidget(self.play_button)
        wrong_layout.addLayout(wrong_row)
        self.wrong_table = QTableWidget(0, 4)
        self.wrong_table.setHorizontalHeaderLabels(["Clip", "True word", "Model said", "Score"])
        self.wrong_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        compact(self.wrong_table)
        self.wrong_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.wrong_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.wrong_table.cellDoubleClicked.connect(lambda row, _col: self.play_row(row))
        self.wrong_table.itemSelectionChanged.connect(
            lambda: self.play_button.setEnabled(bool(self.playing) or bool(self.wrong_table.selectedItems())))
        wrong_layout.addWidget(self.wrong_table, 1)
        splitter.addWidget(wrong_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        root.addWidget(splitter, 1)

    def _follow_active(self, path: Path) -> None:
        if not self.running:
            self.set_model(path)

    def set_model(self, path: str | Path | None) -> None:
        """The model to evaluate (a file; the chooser shows it by name)."""
        self.model_chooser.set_path(path)
        self._update_overlap()

    @property
    def model_path(self) -> Path | None:
        return self.model_chooser.path()

    def _browse_folder(self) -> None:
        self._browse_into(self.folder_edit, "Folder of labelled clips")
        self._update_overlap()

    def _update_overlap(self) -> None:
        """Warn when the folder's clips were (partly) the model's training data."""
        model, folder = self.model_path, self.folder_edit.text().strip()
        sources: list[str] = []
        if model is not None and folder and not self.v2_test.isChecked() and Path(model).is_file():
            from gui.session import read_summary
            from speechrnn.data.layout import overlap_warning, training_overlap
            from speechrnn.errors import SpeechRNNError

            try:
                sources = training_overlap(read_summary(Path(model)).get("data", {}) or {}, folder)
            except SpeechRNNError:
                sources = []  # an unreadable model is reported when it is evaluated
        if sources:
            self.overlap_label.setText("⚠ " + overlap_warning(sources))
        self.overlap_label.setVisible(bool(sources))

    def _browse_into(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text())
        if path:
            edit.setText(path)

    # ------------------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def start(self) -> None:
        if self.running:
            return
        model = str(self.model_path or "")
        data = V2_TEST_SOURCE if self.v2_test.isChecked() else self.folder_edit.text().strip()
        if not model:
            self.ctx.notify.error.emit("Evaluate", "Choose a model file first.")
            return
        if not data:
            self.ctx.notify.error.emit("Evaluate", "Choose a folder of labelled clips first.")
            return
        if not self.v2_test.isChecked():
            self.ctx.settings.eval_folder = data
        self._update_overlap()

        noise = self.noise_edit.text().strip()
        snr_db = float(self.snr_spin.value()) if noise else None

        def events(token):
            from speechrnn.evaluate import evaluate

            return evaluate(Path(model), data, noise_dirs=(noise,) if noise else (), snr_db=snr_db, cancel=token)

        self.clear_results()
        self.task = Task(events)
        self.task.stage.connect(lambda stage: self.stage_label.setText(stage.description or stage.name))
        self.task.progress.connect(self._progress)
        self._warnings = []
        self.task.message.connect(self._message)
        self.task.succeeded.connect(self.show_result)
        self.task.failed.connect(self._failed)
        self.task.cancelled.connect(lambda: self.stage_label.setText("Cancelled."))
        self.task.done.connect(self._done)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.task.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.stage_label.setText("Cancelling…")

    def _progress(self, event) -> None:
        if event.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * event.done / event.total))
            self.progress.setFormat(f"{event.stage}: {event.done:.0f} / {event.total:.0f} {event.unit}")
        else:
            self.progress.setRange(0, 0)

    def _message(self, message) -> None:
        self.stage_label.setText(message.text)
        if message.level == "warning" and message.text not in self.overlap_label.text():
            self._warnings.append(message.text)  # kept under the result: "skipped 1 unreadable file ..."

    def _failed(self, message: str) -> None:
        self.stage_label.setText(f"Failed: {message}")
        self.ctx.notify.error.emit("Evaluation failed", message)

    def _done(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if self.result is not None else 0)
        self.progress.setFormat("done" if self.result is not None else "")

    # ------------------------------------------------------------------------------ results
    def clear_results(self) -> None:
        self.result = None
        self.accuracy_label.setText("–")
        self.accuracy_caption.setText("accuracy")
        self.class_table.setRowCount(0)
        self.wrong_table.setRowCount(0)
        self.matrix.clear()

    def show_result(self, result) -> None:
        from speechrnn.evaluate import wilson_interval

        self.result = result
        labels = list(result.labels)
        self.accuracy_label.setText(f"{100 * result.accuracy:.1f} %")
        low, high = wilson_interval(result.accuracy, result.clips)
        caption = [f"accuracy on {result.clips} clips  ·  {len(result.wrong)} wrong  ·  macro F1 "
                   f"{100 * result.macro_f1:.1f} %",
                   f"95 % interval {100 * low:.1f}–{100 * high:.1f} %: what {result.clips} clips can tell"]
        if len(result.per_source) > 1:
            caption.append("  ·  ".join(f"{name}: {100 * s['accuracy']:.1f} % of {s['clips']}"
                                        for name, s in result.per_source.items()))
        if result.noisy:
            caption.append(f"with noise at {result.noisy['snr_db']:g} dB SNR: {100 * result.noisy['accuracy']:.1f} %")
        self.accuracy_caption.setText("<br>".join(caption))
        self.matrix.set_matrix(labels, result.confusion)
        for table in (self.class_table, self.wrong_table):
            table.setSortingEnabled(False)
            table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.class_table.setRowCount(len(labels))
        predicted = [sum(row[i] for row in result.confusion) for i in range(len(labels))]
        for row, label in enumerate(labels):
            stats = result.per_class.get(label, {})
            support = stats.get("support", 0)
            # undefined (no clips of the word / never predicted) shows "–", not a misleading 0 %
            defined = {"precision": predicted[row] > 0, "recall": support > 0, "f1": support > 0 or predicted[row] > 0}
            self.class_table.setItem(row, 0, QTableWidgetItem(label))
            for col, key in enumerate(("precision", "recall", "f1"), start=1):
                value = stats.get(key) if defined[key] else None
                self.class_table.setItem(row, col, NumericItem(None if value is None else 100 * value, "{:.1f} %"))
            self.class_table.setItem(row, 4, NumericItem(support, "{:.0f}"))
        self.wrong_table.setRowCount(len(result.wrong))
        for row, (path, true, predicted, score) in enumerate(result.wrong):
            name = QTableWidgetItem(f"{Path(path).parent.name}/{Path(path).name}")
            name.setData(PATH_ROLE, str(path))
            name.setToolTip(str(path))
            self.wrong_table.setItem(row, 0, name)
            self.wrong_table.setItem(row, 1, QTableWidgetItem(str(true)))
            self.wrong_table.setItem(row, 2, QTableWidgetItem(str(predicted)))
            self.wrong_table.setItem(row, 3, NumericItem(score, "{:.2f}"))
        for table in (self.class_table, self.wrong_table):
            table.setSortingEnabled(True)
        self.wrong_title.setText(f"Misclassified clips ({len(result.wrong)}) — double-click to listen")
        self.stage_label.setText("Done." + "".join(f"  ⚠ {text}" for text in self._warnings))

    def play_row(self, row: int) -> None:
        item = self.wrong_table.item(row, 0)
        if item is None:
            return
        path = item.data(PATH_ROLE)
        problem = play_file(path)
        name = f"{Path(path).parent.name}/{Path(path).name}"
        if problem:
            self._playback_ended()
            self.stage_label.setText(f"Cannot play {name}: {problem}")
            self.ctx.notify.status.emit(problem)
            return
        self.playing = path
        self.play_button.setText("■ Stop")
        self.play_button.setEnabled(True)
        self.stage_label.setText(f"▶ Playing {name} (true word: {self.wrong_table.item(row, 1).text()}, "
                                 f"the model said: {self.wrong_table.item(row, 2).text()})…")
        self._play_timer.start(int(1000 * clip_seconds(path)) + PLAY_TAIL_MS)

    def play_selected(self) -> None:
        if self.playing:
            stop_playback()
            self._playback_ended()
            return
        rows = self.wrong_table.selectionModel().selectedRows()
        if rows:
            self.play_row(rows[0].row())

    def _playback_ended(self) -> None:
        self._play_timer.stop()
        if self.playing:
            self.stage_label.setText(f"Played {Path(self.playing).parent.name}/{Path(self.playing).name}.")
        self.playing = ""
        self.play_button.setText("▶ Play")
        self.play_button.setEnabled(bool(self.wrong_table.selectedItems()))

    # ------------------------------------------------------------------------------ hooks
    def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task.wait()

    def apply_colors(self, colors: PlotColors) -> None:
        from PySide6.QtGui import QColor

        self.matrix.accent = QColor(colors.accent)
        self.matrix.wrong = QColor(colors.warning)
        self.matrix.update()
