"""The Train panel's right column: how a run goes, from the events of :func:`speechrnn.training.train`.

A :class:`RunView` shows the stage, a progress bar with the ETA, the result with its buttons, the
overfitting note, the loss and accuracy curves and the log. It only displays what a run's events say:
the panel (:mod:`gui.panels.train`) owns the form, starts and cancels the run and acts on the result
buttons (the view's signals).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.theme import PlotColors
from gui.widgets.plots import CurvePlot
from speechrnn.events import TRAIN_ON_FRAMES, EpochEnd, curve_name

SIDE_BY_SIDE_MIN_PX = 560  # the loss and accuracy charts side by side from this column width, else stacked
RESULT_MARGIN_PX = 6
PROGRESS_STEPS = 1000  # the progress bar's resolution
LOG_MAX_LINES = 2000
ETA_MIN_FRACTION = 0.01  # no ETA before 1 % is done (too noisy)
TRAIN_ON_FRAMES_TIP = ("Training is scored on every 10 ms frame of its training streams (words, the moments around "
                      "them, other words, background); validation on whole clips, as Listen hears them. The two "
                      "curves count different things, so the gap between them says nothing about learning by heart: "
                      "judge the model by the validation curve.")
# What "Finished — N %" reports, best first: the held-out test split, else validation.
RESULT_ACCURACIES = (("test_accuracy", "test accuracy"), ("best_val_acc", "validation accuracy"),
                     ("val_acc", "validation accuracy"), ("best_train_acc", "training accuracy (no validation clips)"))
# "overfitting after epoch N": validation loss has stayed this many epochs past its lowest point and
# ends at least this much above it, while the training loss went on falling.
OVERFIT_EPOCHS = 3
OVERFIT_RISE = 0.10  # 10 % above the lowest validation loss
NO_BREAK_SPACE, WORD_JOINER = "\u00a0", "\u2060"  # keep a log line's parts whole when it wraps


def unbreakable(text: str) -> str:
    """``text`` kept on one line where the log wraps: no-break spaces, and no break after a slash
    (a narrow log wrapped "1,250 samples/" and put the "s" alone on the next line)."""
    return text.replace(" ", NO_BREAK_SPACE).replace("/", "/" + WORD_JOINER)


def epoch_summary(event: EpochEnd) -> str:
    """"loss 0.412 / val 0.520 · accuracy 88.1 % / val 84.0 % · lr 0.001 · 1,250 clips/s" (the CLI's epoch
    line, ``EpochEnd.summary_parts``); a narrow log wraps only between its parts."""
    parts = event.summary_parts()
    return "  ·  ".join(unbreakable(part) for part in parts)


def overfitting_note(history: list[dict]) -> str:
    """"overfitting after epoch N: kept epoch M" from the EpochEnd metrics so far ("" when not).

    N is the epoch of the lowest validation loss; overfitting is called when the validation loss has
    risen well above it for :data:`OVERFIT_EPOCHS` epochs while the training loss kept falling. M is
    the epoch the library keeps as best.pt, as the last row's ``kept_epoch`` tells; when the library
    keeps the last epoch whatever validation says (``keeps_final``: too few validation clips), the
    note says so, lest "kept epoch M" read as the epoch validation chose.
    """
    rows = [row for row in history if row.get("val_loss") is not None and row.get("train_loss") is not None]
    if len(rows) < OVERFIT_EPOCHS + 1:
        return ""
    lowest = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    last = rows[-1]
    if (len(rows) - 1 - lowest < OVERFIT_EPOCHS or last["val_loss"] < rows[lowest]["val_loss"] * (1 + OVERFIT_RISE)
            or last["train_loss"] >= rows[lowest]["train_loss"]):
        return ""
    if last.get("kept_epoch") is None:
        kept = ""
    elif last.get("keeps_final"):
        kept = f": kept the last epoch, {last['kept_epoch']}, since too few validation clips tell epochs apart"
    else:
        kept = f": kept epoch {last['kept_epoch']}"
    return f"overfitting after epoch {rows[lowest]['epoch']}{kept}"


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def result_score(metrics: dict) -> str:
    """" — 97.0 % validation accuracy" for "Finished…": the best-ranked accuracy a run's metrics hold."""
    found = next(((name, metrics[key]) for key, name in RESULT_ACCURACIES
                  if isinstance(metrics.get(key), (int, float))), None)
    if found is None:
        return ""
    if found[0] == "validation accuracy" and "val_acc" not in metrics:
        found = ("training accuracy (no validation clips)", found[1])  # the library's fallback score
    return f" — {100 * found[1]:.1f} % {found[0]}"


def wrapping_label(text: str = "") -> QLabel:
    """A label whose long text wraps inside its column instead of widening it."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(1)  # overrides the wrapped label's minimum size hint (its whole text)
    return label


class RunView(QWidget):
    """Stage, progress, result, overfitting note, curves and log of one training run at a time."""

    use_requested = Signal()
    evaluate_requested = Signal()
    open_folder_requested = Signal()

    def __init__(self, controls: QLayout):
        super().__init__()
        self._started = 0.0
        self._train_started = 0.0
        self._epochs = 0
        self._epoch_done = 0
        self.history: list[dict] = []  # EpochEnd metrics of the run, for the overfitting note
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        self.stage_label = wrapping_label("Not started.")
        self.stage_label.setProperty("role", "muted")
        layout.addWidget(self.stage_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setFormat("")
        layout.addWidget(self.progress)
        layout.addWidget(self._result_box())
        self.overfit_label = QLabel()
        self.overfit_label.setWordWrap(True)
        self.overfit_label.setProperty("role", "warning")
        self.overfit_label.setToolTip("Validation loss rose for several epochs while training loss fell: the "
                                      "network learns its training clips by heart. best.pt is the epoch kept.")
        self.overfit_label.hide()
        layout.addWidget(self.overfit_label)

        self.curves = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.loss_plot = CurvePlot("Loss", "cross-entropy")
        self.loss_plot.add_series("train_loss", "train")
        self.loss_plot.add_series("val_loss", "validation")
        self.acc_plot = CurvePlot("Accuracy", "%", y_range=(0.0, 100.0))
        self.acc_plot.add_series("train_acc", "train")
        self.acc_plot.add_series("val_acc", "validation")
        for plot in self.plots:
            plot.set_placeholder("no epochs yet")
            self.curves.addWidget(plot)
        layout.addLayout(self.curves, 3)
        log_title = QLabel("Log")
        log_title.setProperty("role", "muted")
        layout.addWidget(log_title)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_MAX_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # long warnings wrap
        self.log_view.setToolTip("Messages from data preparation and training")
        layout.addWidget(self.log_view, 1)

    def _result_box(self) -> QFrame:
        self.result_frame = QFrame()
        self.result_frame.setProperty("role", "info")
        layout = QVBoxLayout(self.result_frame)
        layout.setContentsMargins(*(RESULT_MARGIN_PX,) * 4)  # fits the right column of a 900-px window
        self.result_label = wrapping_label()
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.result_label)
        buttons = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Make the new model the active one and go to the Listen panel")
        self.use_button.clicked.connect(self.use_requested)
        evaluate_button = QPushButton("Evaluate…")
        evaluate_button.setToolTip("Open the Evaluate panel with this model")
        evaluate_button.clicked.connect(self.evaluate_requested)
        folder_button = QPushButton("Open folder")
        folder_button.clicked.connect(self.open_folder_requested)
        for button in (self.use_button, evaluate_button, folder_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.result_frame.hide()
        return self.result_frame

    @property
    def plots(self) -> tuple[CurvePlot, CurvePlot]:
        return self.loss_plot, self.acc_plot

    # ------------------------------------------------------------------------------ a run's events
    def begin(self, out_dir, sources, epochs: int) -> None:
        """Clear the last run's traces for a new run into ``out_dir``."""
        self.result_frame.hide()
        self.history = []
        self.overfit_label.setText("")
        self.overfit_label.hide()
        for plot in self.plots:
            plot.clear_data()
            plot.set_epochs(epochs)
            plot.set_placeholder("preparing data…")
        self.log_view.clear()
        self.log(f"Training into {out_dir}")
        self.log("Data: " + ", ".join(sources))
        self._started = time.monotonic()
        self._train_started = 0.0
        self._epochs = epochs
        self._epoch_done = 0
        self.progress.setValue(0)

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def show_message(self, message) -> None:
        self.log(("⚠ " if message.level == "warning" else "") + message.text)

    def show_stage(self, stage) -> None:
        self.stage_label.setText(stage.description or stage.name)
        if stage.description:
            self.log(stage.description)

    def show_progress(self, event) -> None:
        if event.stage == "train" and self._epochs:
            if not self._train_started:
                self._train_started = time.monotonic()
            batch_fraction = event.done / event.total if event.total else 0.0
            fraction = min(1.0, (self._epoch_done + batch_fraction) / self._epochs)
            self.progress.setValue(int(PROGRESS_STEPS * fraction))
            text = f"epoch {self._epoch_done + 1}/{self._epochs}  ·  {100 * fraction:.0f} %"
            elapsed = time.monotonic() - self._train_started
            if fraction >= ETA_MIN_FRACTION and elapsed > 1:
                text += f"  ·  about {format_duration(elapsed * (1 - fraction) / fraction)} left"
            metrics = event.metrics or {}
            if "loss" in metrics:
                text += f"  ·  loss {metrics['loss']:.3f}"
            self.progress.setFormat(text)
        elif event.total:
            self.progress.setValue(int(PROGRESS_STEPS * event.done / event.total))
            self.progress.setFormat(f"{event.stage}: {100 * event.done / event.total:.0f} %")
        else:
            self.progress.setFormat(f"{event.stage}: {event.done:.0f} {event.unit}")

    def add_epoch(self, event: EpochEnd) -> None:
        self.history.append({"epoch": event.epoch, **event.metrics, "kept_epoch": event.kept_epoch,
                             "keeps_final": event.keeps_final})
        note = overfitting_note(self.history)
        if note and not self.overfit_label.text():
            self.log("⚠ " + note)
        if note:
            onset, _, kept = note.partition(":")
            self.overfit_label.setText("⚠ " + onset[0].upper() + onset[1:] + " (validation loss rising while "
                                       "training loss falls)" + (":" + kept if kept else "") + ".")
        else:
            self.overfit_label.setText("")
        self.overfit_label.setVisible(bool(note))
        self._epoch_done = event.epoch
        self._epochs = event.epochs
        for name, plot, scale in (("train_loss", self.loss_plot, 1.0), ("val_loss", self.loss_plot, 1.0),
                                  ("train_acc", self.acc_plot, 100.0), ("val_acc", self.acc_plot, 100.0)):
            if name in event.metrics:
                plot.append(name, event.epoch, float(event.metrics[name]) * scale)
        for plot in self.plots:  # "train (frames)" against "val (clips)" where they differ
            for key in plot.series:
                plot.set_series_label(key, curve_name(key, event.train_scored_on))
            plot.setToolTip(TRAIN_ON_FRAMES_TIP if event.train_scored_on == TRAIN_ON_FRAMES else "")
        self.log(f"epoch {event.epoch}/{event.epochs}  " + epoch_summary(event))

    def show_finished(self, result) -> None:
        self.progress.setValue(PROGRESS_STEPS)
        self.progress.setFormat(f"done in {format_duration(time.monotonic() - self._started)}")
        score = result_score(getattr(result, "metrics", {}) or {})
        self.result_label.setText(f"<b>Finished{score}.</b><br>{result.best_path}")
        self.result_frame.show()
        self.stage_label.setText("Finished.")
        self.log(f"best model: {result.best_path}")

    def show_failed(self, message: str) -> None:
        self.stage_label.setText(f"Failed: {message}")
        self.log(f"✗ {message}")
        self.progress.setFormat("failed")

    def show_cancelling(self) -> None:
        self.stage_label.setText("Cancelling after the current batch…")

    def show_cancelled(self) -> None:
        self.stage_label.setText("Cancelled. The last finished epoch is saved and can be resumed from the CLI.")
        self.log("cancelled")
        self.progress.setFormat("cancelled")

    # ------------------------------------------------------------------------------ layout
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.arrange_curves()

    def arrange_curves(self) -> None:
        """A narrow column (small windows) stacks the two charts instead of squashing them."""
        narrow = self.width() < SIDE_BY_SIDE_MIN_PX
        direction = QBoxLayout.Direction.TopToBottom if narrow else QBoxLayout.Direction.LeftToRight
        if self.curves.direction() != direction:
            self.curves.setDirection(direction)

    def apply_colors(self, colors: PlotColors) -> None:
        for plot in self.plots:
            plot.apply_colors(colors)
