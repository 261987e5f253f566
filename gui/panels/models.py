"""Models panel: open / save / recent models, and everything the active checkpoint says about itself.

The checkpoint's own summary (the library's :meth:`~speechrnn.checkpoint.Checkpoint.summary`) is
shown as a friendly header plus a complete property tree (model, features, training, metrics,
data sources and licenses). On request, the library's gradient-vs-distance curve
(:mod:`speechrnn.gradients`) shows how far back this network's memory can learn from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from gui.context import AppContext
from gui.panels.base import Panel, big_label, card, column, heading, hint, scroll_column
from gui.theme import PlotColors
from gui.session import read_summary
from gui.widgets.model_chooser import fill_bundled_menu, model_title, model_titles
from gui.widgets.plots import ThemedPlot
from gui.worker import Task, run_call

ENSEMBLE_SECTION = "Other networks of the ensemble"  # an ensemble's other networks: collapsed, long
NAME_SCALE = 1.4  # the model's name, relative to the normal font
GRADIENT_CLIPS = 32  # clips averaged for the curve: a few seconds on a laptop CPU
MIN_RELATIVE_GRADIENT = 1e-12  # floor before the log axis (a gradient can be exactly 0)
MAX_VALUE_CHARS = 160  # long values (lists) are cut in the tree; the tooltip has them whole
PATH_ROLE = Qt.ItemDataRole.UserRole
EMPTY_RANGE = (1e-4, 1.0)  # relative gradient shown on the empty plot's log axis
EMPTY_DISTANCE_MS = 1000  # distance axis of the empty plot: one clip
RECENT_MIN_PX = 240  # the recent-models list shows whole run names
DETAILS_MIN_HEIGHT_PX = 560  # below this the details scroll (a 900x600 window)
TREE_MIN_HEIGHT_PX = 120
TREE_STRETCH, GRADIENT_STRETCH = 2, 3  # the details' splitter: the plot gets the larger share ...
TREE_SHARE_PX, GRADIENT_SHARE_PX = 240, 300  # ... from these first heights (about a 1280x800 window)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def add_tree(parent: QTreeWidgetItem, data: Any) -> None:
    """Nested dicts/lists -> child items (lists of scalars stay on one line)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
                child = QTreeWidgetItem([str(key), ""])
                parent.addChild(child)
                add_tree(child, value)
            else:
                text = format_value(value)
                shown = text[:MAX_VALUE_CHARS] + ("…" if len(text) > MAX_VALUE_CHARS else "")
                child = QTreeWidgetItem([str(key), shown])
                child.setToolTip(1, text)
                parent.addChild(child)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            child = QTreeWidgetItem([f"[{i}]", ""])
            parent.addChild(child)
            add_tree(child, value)


# What a checkpoint's metrics say about its accuracy, best evidence first: training stores
# test_accuracy (held-out split) in best.pt once testing ran, best_val_acc / val_acc every epoch.
ACCURACY_KEYS = (("test_accuracy", "held-out test accuracy"), ("accuracy", "accuracy"),
                 ("best_val_acc", "validation accuracy"), ("val_acc", "validation accuracy"),
                 ("val_accuracy", "validation accuracy"), ("validation_accuracy", "validation accuracy"),
                 ("best_train_acc", "training accuracy (no validation clips)"))


def headline_accuracy(metrics: dict) -> str:
    """The accuracy figures of a checkpoint's metrics, as text ("" if none): the held-out test accuracy
    and the validation accuracy (of the epoch kept) when stored."""
    found: dict[str, str] = {}
    for key, name in ACCURACY_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in found:
            found[name] = f"{100 * value:.1f} %" if value <= 1 else f"{value:.1f} %"
            if name == "validation accuracy" and isinstance(metrics.get("best_epoch"), int):
                found[name] += f" (epoch {metrics['best_epoch']})"
    if found:
        return "  ·  ".join(f"{name}: {value}" for name, value in found.items())
    for value in metrics.values():
        if isinstance(value, dict):
            nested = headline_accuracy(value)
            if nested:
                return nested
    return ""


def log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks for a log axis (positions in log10 units): 1, 10, 100 ..., with 2 and 5 between them
    when the range spans less than two decades (pyqtgraph's own minor labels overlap)."""
    first, last = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    multiples = (1, 2, 5) if np.log10(high / low) < 2 else (1,)
    ticks = []
    for exponent in range(first, last + 1):
        for multiple in multiples:
            value = multiple * 10.0**exponent
            if low / 1.5 <= value <= high * 1.5:
                ticks.append((np.log10(value), f"{value:g}"))
    return ticks


def _front_end(model_config: dict) -> str:
    """"spectral conv 16 → " for a network with a spectral front-end (ModelConfig.spectral_conv_channels)."""
    channels = model_config.get("spectral_conv_channels")
    return f"spectral conv {channels} → " if channels else ""


class GradientPlot(ThemedPlot):
    def __init__(self, parent=None):
        super().__init__("Gradient reaching each past frame (relative to the last frame)", interactive=True,
                         parent=parent)
        self.setLogMode(y=True)
        self.getAxis("bottom").setLabel("distance from the output (ms)")
        self.getAxis("left").setLabel("relative gradient")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.curve = self.plot([], [])
        self.setMinimumHeight(180)
        self.set_placeholder("Pick a folder of clips and press Measure", 0.5, 0.0)
        self.show_curve(np.zeros(0), np.zeros(0))

    def show_curve(self, distance_ms: np.ndarray, relative: np.ndarray) -> None:
        values = np.maximum(relative, MIN_RELATIVE_GRADIENT)
        self.curve.setData(distance_ms, values)
        self.placeholder.setVisible(distance_ms.size == 0)
        if values.size:
            self.getAxis("left").setTicks([log_ticks(float(values.min()), float(values.max()))])
            self.enableAutoRange()
        else:  # empty: a few round ticks over a clip's length, not pyqtgraph's crowded log labels
            low, high = EMPTY_RANGE
            self.getAxis("left").setTicks([log_ticks(low, high)])
            self.setXRange(0, EMPTY_DISTANCE_MS, padding=0)
            self.setYRange(np.log10(low), np.log10(high), padding=0.05)
            self.placeholder.setPos(EMPTY_DISTANCE_MS / 2, np.log10(low * high) / 2)

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self.curve.setPen(pg.mkPen(colors.accent, width=2))


class ModelsPanel(Panel):
    key = "models"
    title = "Models"

    def __init__(self, ctx: AppContext):
        super().__init__(ctx)
        self._gradient_task: Task | None = None
        self._build()
        self._preview_task: Task | None = None
        self.shown_path: Path | None = None  # the model whose details are shown (active or previewed)
        ctx.model.changed.connect(self._activated_model)
        if ctx.model.path is not None:
            self.show_summary(ctx.model.path, ctx.model.summary)
        self.fill_recent()

    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Models"))
        top.addStretch(1)
        for text, tip, slot in (
            ("Open…", "Load a model file and make it active (Ctrl+O)", self.open_model),
            ("Save as…", "Save a copy of the active model (Ctrl+Shift+S)", self.save_as),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            top.addWidget(button)
        self.bundled_button = QPushButton("Use a bundled model")
        self.bundled_button.setToolTip("The models shipped with the app: Digits (zero … nine), Commands, …")
        self.bundled_menu = QMenu(self.bundled_button)
        self.bundled_menu.aboutToShow.connect(self._fill_bundled_menu)
        self.bundled_button.setMenu(self.bundled_menu)
        top.addWidget(self.bundled_button)
        root.addLayout(top)
        root.addWidget(hint("The active model is used by the Listen panel. A model file (.pt) describes "
                            "itself: its words, network, features, training and results."))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left, left_layout = column()
        recent_title = QLabel("Recent models")
        recent_title.setProperty("role", "muted")
        left_layout.addWidget(recent_title)
        self.recent = QListWidget()
        self.recent.setToolTip("Click a model to see its details; double-click (or Use) to make it active")
        self.recent.setMinimumWidth(RECENT_MIN_PX)
        self.recent.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent.setWordWrap(True)
        self.recent.currentItemChanged.connect(lambda item, _previous: self.preview(item))
        self.recent.itemActivated.connect(self.use_item)
        left_layout.addWidget(self.recent, 1)
        recent_buttons = QHBoxLayout()
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Make the selected model the active one (Listen uses it)")
        self.use_button.clicked.connect(lambda: self.use_item(self.recent.currentItem()))
        forget = QPushButton("Remove from list")
        forget.clicked.connect(self._forget_selected)
        recent_buttons.addWidget(self.use_button)
        recent_buttons.addWidget(forget)
        left_layout.addLayout(recent_buttons)
        splitter.addWidget(left)

        details, right, right_layout = scroll_column()  # a small window scrolls the details, never squashes them
        model_card, grid = card(QGridLayout)
        self.name_label = big_label("No model loaded", NAME_SCALE)
        self.state_label = QLabel()  # "✓ active model" or "not active: double-click or Use"
        self.state_label.setWordWrap(True)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label = QLabel()
        self.path_label.setProperty("role", "muted")
        self.path_label.setWordWrap(True)  # long paths wrap in a small window instead of being cut
        self.path_label.setMinimumWidth(1)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.words_label = QLabel()
        self.words_label.setWordWrap(True)
        self.arch_label = QLabel()
        self.arch_label.setWordWrap(True)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        grid.addWidget(self.name_label, 0, 0, 1, 2)
        grid.addWidget(self.state_label, 1, 0, 1, 2)
        grid.addWidget(self.path_label, 2, 0, 1, 2)
        for row, (title, label) in enumerate((("Words", self.words_label), ("Network", self.arch_label),
                                              ("Results", self.result_label)), start=3):
            caption = QLabel(title)
            caption.setProperty("role", "muted")
            grid.addWidget(caption, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(label, row, 1)
        grid.setColumnStretch(1, 1)
        right_layout.addWidget(model_card)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Property", "Value"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Everything stored in the model file (except the weights)")
        # the property tree and the gradient section share the height; drag the handle between them
        self.details_splitter = QSplitter(Qt.Orientation.Vertical)
        self.details_splitter.setChildrenCollapsible(False)
        self.details_splitter.addWidget(self.tree)
        gradient_section, gradient_layout = column()

        gradient_row = QHBoxLayout()
        gradient_title = QLabel("<b>How far back does it learn?</b>")
        gradient_title.setToolTip(
            "Gradient of the output with respect to each earlier input frame, averaged over clips.\n"
            "A vanilla RNN's gradient vanishes within a few hundred ms; LSTM and GRU carry it further."
        )
        gradient_layout.addWidget(gradient_title)  # a line of its own: the folder field keeps its width
        self.gradient_folder = QLineEdit(self.ctx.settings.eval_folder or self.ctx.settings.record_folder)
        self.gradient_folder.setPlaceholderText("folder of labelled clips (dataset layout)")
        self.gradient_folder.setToolTip("Clips to measure on: any folder in Speech Commands layout")
        gradient_row.addWidget(self.gradient_folder, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_gradient_folder)
        gradient_row.addWidget(browse)
        self.gradient_clips = QSpinBox()
        self.gradient_clips.setRange(1, 512)
        self.gradient_clips.setValue(GRADIENT_CLIPS)
        self.gradient_clips.setSuffix(" clips")
        gradient_row.addWidget(self.gradient_clips)
        self.gradient_button = QPushButton("Measure")
        self.gradient_button.setToolTip("Compute the gradient-vs-distance curve of the active model")
        self.gradient_button.clicked.connect(self.measure_gradients)
        gradient_row.addWidget(self.gradient_button)
        gradient_layout.addLayout(gradient_row)
        self.gradient_result = QLabel()
        self.gradient_result.setProperty("role", "muted")
        self.gradient_result.setWordWrap(True)  # a long result line wraps instead of widening the details
        gradient_layout.addWidget(self.gradient_result)
        self.gradient_plot = GradientPlot()
        gradient_layout.addWidget(self.gradient_plot, 1)
        self.details_splitter.addWidget(gradient_section)
        self.details_splitter.setStretchFactor(0, TREE_STRETCH)
        self.details_splitter.setStretchFactor(1, GRADIENT_STRETCH)
        self.details_splitter.setSizes([TREE_SHARE_PX, GRADIENT_SHARE_PX])
        right_layout.addWidget(self.details_splitter, 1)
        right.setMinimumHeight(DETAILS_MIN_HEIGHT_PX)
        self.tree.setMinimumHeight(TREE_MIN_HEIGHT_PX)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([320, 760])
        splitter.setChildrenCollapsible(False)
        root.addWidget(splitter, 1)

    # ------------------------------------------------------------------------------ recent
    def fill_recent(self) -> None:
        selected = self.recent.currentItem().data(PATH_ROLE) if self.recent.currentItem() else None
        active = str(self.ctx.model.path.resolve()) if self.ctx.model.path is not None else ""
        self.recent.blockSignals(True)
        self.recent.clear()
        recent = self.ctx.settings.recent_models
        for path, title in zip(recent, model_titles(recent, self.ctx.model.assets_dir)):
            is_active = path == active
            item = QListWidgetItem(("✓ " if is_active else "") + title)
            item.setData(PATH_ROLE, path)
            item.setToolTip(path + ("" if Path(path).exists() else "  (missing)") + ("  (active)" if is_active else ""))
            if is_active:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if not Path(path).exists():
                item.setForeground(self.palette().placeholderText())
            self.recent.addItem(item)
            if path == selected:
                self.recent.setCurrentItem(item)
        if not self.recent.count():
            hint_item = QListWidgetItem("Models you open or train appear here. The bundled ones are in the "
                                        "Listen panel's model list.")
            hint_item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(hint_item)
        self.recent.blockSignals(False)

    def preview(self, item: QListWidgetItem | None) -> None:
        """A single click: show the model's details without making it active."""
        if item is None or not item.data(PATH_ROLE):
            return
        path = Path(item.data(PATH_ROLE))
        if self.ctx.model.path is not None and path == self.ctx.model.path.resolve():
            self.show_summary(self.ctx.model.path, self.ctx.model.summary)
            return
        task = run_call(lambda: read_summary(path))
        task.succeeded.connect(lambda summary: self._show_preview(path, summary))
        task.failed.connect(lambda message: self._preview_failed(path, message))
        self._preview_task = task.start()

    def _show_preview(self, path: Path, summary: dict) -> None:
        current = self.recent.currentItem()
        if current is None or Path(current.data(PATH_ROLE)) != path:
            return  # another one was clicked meanwhile
        self.show_summary(path, summary, active=False)

    def _preview_failed(self, path: Path, message: str) -> None:
        self.shown_path = path
        self.name_label.setText(model_title(path, self.ctx.model.assets_dir))
        self.state_label.setText(f"Cannot read this model: {message}")
        self.state_label.setProperty("role", "warning")
        self._repolish(self.state_label)

    def use_item(self, item: QListWidgetItem | None) -> None:
        """Double click / Use: make the model active, and say so."""
        if item is None or not item.data(PATH_ROLE):
            return
        path = item.data(PATH_ROLE)
        self.state_label.setText(f"Loading {model_title(path, self.ctx.model.assets_dir)}…")
        self.ctx.model.activate(path)

    @staticmethod
    def _repolish(widget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    def _forget_selected(self) -> None:
        item = self.recent.currentItem()
        if item is not None and item.data(PATH_ROLE):
            self.ctx.settings.remove_recent_model(item.data(PATH_ROLE))
            self.fill_recent()

    # ------------------------------------------------------------------------------ actions
    def open_model(self) -> None:
        self.window().open_model()

    def save_as(self) -> None:
        self.window().save_model_as()

    def _fill_bundled_menu(self) -> None:
        fill_bundled_menu(self.bundled_menu, self.ctx.model.assets_dir, self.ctx.model.path, self.use_bundled)

    def use_bundled(self, name: str) -> None:
        """Make the bundled model ``name`` ("digits", "commands", ...) the active one."""
        self.ctx.model.activate(name)

    # ------------------------------------------------------------------------------ summary
    def _activated_model(self, path: Path, summary: dict) -> None:
        self.show_summary(path, summary)
        self.ctx.notify.status.emit(f"Now using {self.ctx.model.display_name}")

    def show_summary(self, path: Path, summary: dict, active: bool = True) -> None:
        self.fill_recent()
        self.shown_path = Path(path)
        mc = summary.get("model_config", {})
        fc = summary.get("feature_config", {})
        labels = summary.get("labels", [])
        self.name_label.setText(self.ctx.model.display_name if active else model_title(path, self.ctx.model.assets_dir))
        self.state_label.setText("✓ The active model: Listen recognizes its words." if active else
                                 "Not active. Double-click it in the list (or press Use) to listen with it.")
        self.state_label.setProperty("role", "good" if active else "muted")
        self._repolish(self.state_label)
        size_kb = Path(path).stat().st_size / 1024 if Path(path).exists() else 0
        self.path_label.setText(f"{path}  ·  {size_kb:.0f} KB  ·  created {summary.get('created', '?')}  ·  "
                                f"speechrnn {summary.get('package_version', '?')}")
        self.words_label.setText(", ".join(labels))
        direction = "bidirectional " if mc.get("bidirectional") else ""
        others = [member.get("model_config", {}) for member in summary.get("members", [])]
        ensemble = (f"ensemble of {1 + len(others)} networks averaged (the first shown; then "
                    + ", ".join(f"{_front_end(m)}{str(m.get('cell', '?')).upper()} {m.get('layers', '?')} × "
                                f"{m.get('hidden', '?')}" for m in others) + "): ") if others else ""
        self.arch_label.setText(
            f"{ensemble}{_front_end(mc)}{direction}{str(mc.get('cell', '?')).upper()}, "
            f"{mc.get('layers', '?')} layer(s) × "
            f"{mc.get('hidden', '?')} units, {mc.get('pooling', '?')} pooling, "
            f"{summary.get('parameters', 0):,} parameters  ·  {fc.get('kind', '?').upper()} "
            f"{fc.get('n_mfcc' if fc.get('kind') == 'mfcc' else 'n_mels', '?')} × "
            f"{fc.get('hop_ms', '?')} ms frames at {fc.get('sample_rate_hz', '?')} Hz"
        )
        metrics = summary.get("metrics", {}) or {}
        self.result_label.setText(headline_accuracy(metrics) or "no metrics stored")
        self.tree.clear()
        sections = (
            ("Model", summary.get("model_config", {})),
            ("Features", summary.get("feature_config", {})),
            ("Labels", {str(i): label for i, label in enumerate(labels)}),
            ("Metrics", metrics),
            ("Training", summary.get("train_config", {})),
            ("Data and licenses", summary.get("data", {})),
            *(((ENSEMBLE_SECTION,
                {f"network {i}": {**member.get("about", {}), "model": member.get("model_config", {})}
                 for i, member in enumerate(summary.get("members", []), start=2)}),) if others else ()),
            ("File", {"path": str(path), "created": summary.get("created", ""),
                      "speechrnn version": summary.get("package_version", ""),
                      "parameters": summary.get("parameters", 0), "recipe": summary.get("recipe", "")}),
        )
        for title, data in sections:
            top = QTreeWidgetItem([title, ""])
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            add_tree(top, data)
            top.setExpanded(title not in ("Labels", "Training", ENSEMBLE_SECTION))
        self.gradient_plot.show_curve(np.zeros(0), np.zeros(0))
        self.gradient_result.setText("")

    # ------------------------------------------------------------------------------ gradients
    def _browse_gradient_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Clips to measure gradients on", self.gradient_folder.text())
        if path:
            self.gradient_folder.setText(path)

    def measure_gradients(self) -> None:
        """The curve of the model shown (the active one, or the one clicked in the list)."""
        path, folder = self.shown_path or self.ctx.model.path, self.gradient_folder.text().strip()
        if path is None:
            return
        if not folder:
            self.gradient_result.setText("Choose a folder of labelled clips first.")
            return
        clips = self.gradient_clips.value()

        def measure():
            from speechrnn.gradients import checkpoint_curve

            return checkpoint_curve(path, folder, max_clips=clips)

        self.gradient_button.setEnabled(False)
        self.gradient_result.setText("Measuring…")
        task = run_call(measure)
        task.succeeded.connect(self._gradients_done)
        task.failed.connect(lambda msg: self.gradient_result.setText(f"Could not measure: {msg}"))
        task.done.connect(lambda: self.gradient_button.setEnabled(True))
        self._gradient_task = task.start()

    def _gradients_done(self, curve) -> None:
        relative = np.asarray(curve.relative)
        distance_ms = np.arange(relative.size) * curve.hop_ms
        self.gradient_plot.show_curve(distance_ms, relative)
        reach = curve.reach_frames()
        reach_text = (f"falls below 1 % after {reach * curve.hop_ms:.0f} ms" if reach is not None
                      else "stays above 1 % over the whole clip")
        skipped = curve.info.get("skipped", [])
        note = (f"; {len(skipped)} unreadable file{'s' if len(skipped) > 1 else ''} skipped, e.g. {skipped[0]}"
                if skipped else "")
        self.gradient_result.setText(f"{curve.name}: the gradient {reach_text} (mean of {curve.clips} clips{note})")

    # ------------------------------------------------------------------------------ hooks
    def activated(self) -> None:
        self.fill_recent()

    def shutdown(self) -> None:
        if self._gradient_task is not None:
            self._gradient_task.cancel()
            self._gradient_task.wait()
        if self._preview_task is not None:
            self._preview_task.wait()

    def apply_colors(self, colors: PlotColors) -> None:
        self.gradient_plot.apply_colors(colors)
