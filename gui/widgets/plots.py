"""pyqtgraph views for the live and training displays.

Every view creates its plot items once and only updates their data afterwards (``setData`` /
``setImage`` / ``setOpts``), so a 30 frames/s refresh costs little CPU. Views take what the library
computed (samples, feature frames, posteriors, hidden states); the only arithmetic here is
reducing data to screen resolution.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage
from PySide6.QtWidgets import QGraphicsItem

from gui.theme import PlotColors

pg.setConfigOptions(antialias=False, imageAxisOrder="row-major", useNumba=False)

WAVE_COLUMNS = 480  # min/max columns drawn for the scrolling waveform (about one per screen pixel)
WAVE_ROWS = 96  # amplitude levels of the waveform picture (-1 .. +1)
TITLE_PT = 9
BAR_STEP = 0.002  # probability change too small to move a bar by a pixel: skip the repaint
BAR_PX = 15  # the class bar chart needs this much height per label to keep its labels apart
BAR_PLOT_MARGIN_PX = 60  # title and axis of the bar chart
BAR_PLOT_MAX_MIN_PX = 330  # ... but a 35-word model must still fit a small window


def style_plot(plot: pg.PlotItem, colors: PlotColors, title: str | None = None) -> None:
    """Theme a plot: axis pens, text, grid; optional small title."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(colors.grid))
        axis.setTextPen(pg.mkPen(colors.muted))
        # Axes and titles sit next to data that changes 30 times a second and get repainted with
        # it: a cached pixmap makes that a copy (they redraw themselves when their range changes).
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    if title is not None:
        plot.setTitle(title, color=colors.muted, size=f"{TITLE_PT}pt")


class ThemedPlot(pg.PlotWidget):
    """A PlotWidget that follows the palette (``apply_colors``) and ignores mouse zooming by default."""

    def __init__(self, title: str = "", interactive: bool = False, parent=None):
        super().__init__(parent=parent)
        self._title = title
        self.setMenuEnabled(False)
        self.plotItem.hideButtons()
        if not interactive:
            self.setMouseEnabled(x=False, y=False)
        self.setMinimumHeight(90)
        self.placeholder = pg.TextItem("", anchor=(0.5, 0.5))
        self.placeholder.setZValue(100)
        self.placeholder.hide()
        self.addItem(self.placeholder, ignoreBounds=True)

    def set_placeholder(self, text: str, x: float = 0.5, y: float = 0.5) -> None:
        """Grey text in the middle of an empty plot ("" hides it)."""
        self.placeholder.setText(text)
        self.placeholder.setPos(x, y)
        self.placeholder.setVisible(bool(text))

    def apply_colors(self, colors: PlotColors) -> None:
        self.setBackground(colors.background)
        style_plot(self.plotItem, colors, self._title or None)
        self.placeholder.setColor(colors.muted)


class ScrollingWaveform(ThemedPlot):
    """The last ``seconds`` of input as a filled min/max envelope, newest on the right.

    Only new samples are reduced: each completed column's min and max are computed once, then the
    column arrays scroll. The envelope is drawn as a two-colour image (``WAVE_ROWS`` levels per
    column), which costs far less to update 30 times a second than a curve.
    """

    def __init__(self, sample_rate_hz: int, seconds: float = 3.0, parent=None):
        super().__init__("Waveform", parent=parent)
        self.seconds = seconds
        self.image = HeatImage()
        self.image.set_levels(0.0, 1.0)
        self.image.set_rect(QRectF(-seconds, -1.0, seconds, 2.0))
        self.addItem(self.image)
        # amplitude at the centre of each image row, bottom (-1) to top (+1)
        self._row_amplitude = (np.arange(WAVE_ROWS) + 0.5) / WAVE_ROWS * 2.0 - 1.0
        self.sample_rate_hz = sample_rate_hz
        self.setYRange(-1.0, 1.0, padding=0.02)
        self.setXRange(-seconds, 0.0, padding=0)
        self.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.getAxis("bottom").setLabel("seconds ago")

    @property
    def sample_rate_hz(self) -> int:
        return self._rate

    @sample_rate_hz.setter
    def sample_rate_hz(self, rate: int) -> None:
        self._rate = int(rate)
        self.per_column = max(1, int(self._rate * self.seconds) // WAVE_COLUMNS)
        self._pending = np.zeros(0, dtype=np.float32)  # samples of the column being filled
        self._low = np.zeros(WAVE_COLUMNS, dtype=np.float32)
        self._high = np.zeros(WAVE_COLUMNS, dtype=np.float32)
        self._new_columns = WAVE_COLUMNS  # everything is to be drawn
        self.refresh()

    def append(self, samples: np.ndarray) -> None:
        pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        columns = min(pending.size // self.per_column, WAVE_COLUMNS)
        if columns == 0:
            self._pending = pending
            return
        used = pending.size - pending.size % self.per_column
        blocks = pending[used - columns * self.per_column : used].reshape(columns, self.per_column)
        self._low = np.concatenate([self._low[columns:], blocks.min(axis=1)])
        self._high = np.concatenate([self._high[columns:], blocks.max(axis=1)])
        self._pending = pending[used:]
        self._new_columns += columns

    def clear_signal(self) -> None:
        self.sample_rate_hz = self._rate

    def refresh(self) -> None:
        count = min(self._new_columns, WAVE_COLUMNS)
        if count == 0:
            return
        # a row is lit where its amplitude lies within the column's [min, max], widened to at
        # least one row so silence still shows a line at zero
        half_row = 1.0 / WAVE_ROWS
        low = np.minimum(self._low[-count:], -half_row)
        high = np.maximum(self._high[-count:], half_row)
        rows = self._row_amplitude[:, None]
        lit = ((rows >= low) & (rows <= high)).astype(np.float32)
        if count == WAVE_COLUMNS:
            self.image.set_values(lit)
        else:
            self.image.scroll_in(lit)
        self._new_columns = 0

    @property
    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) per column, oldest first."""
        return self._low, self._high

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self.image.set_colormap(pg.ColorMap([0.0, 1.0], [QColor(colors.background), QColor(colors.accent)]))


def diverging_map(colors: PlotColors) -> pg.ColorMap:
    return pg.ColorMap([0.0, 0.5, 1.0], [QColor(colors.heat_low), QColor(colors.heat_mid), QColor(colors.heat_high)])


class HeatImage(pg.GraphicsObject):
    """A value array drawn through a colour map as an opaque RGB32 image over a fixed rectangle.

    Lighter than pyqtgraph's ImageItem for a picture replaced 30 times a second: the colour
    lookup is one numpy ``take`` into a 32-bit RGB buffer, which Qt draws without converting
    (an 8-bit indexed image, ImageItem's choice, is converted on every paint: ~6x slower).
    Row 0 of the data is drawn at the bottom (y up, as in the plot); NaN values (no data yet) take
    the plot's background colour.
    """

    LUT_SIZE = 256

    def __init__(self):
        super().__init__()
        self._rect = QRectF(0, 0, 1, 1)
        self._levels = (0.0, 1.0)
        self._lut = np.zeros(self.LUT_SIZE, dtype=np.uint32)
        self._values: np.ndarray | None = None
        self._image = QImage(1, 1, QImage.Format.Format_RGB32)
        self._pixels = np.zeros((1, 1), dtype=np.uint32)
        self._background = np.uint32(0xFFFFFFFF)

    def set_background(self, color: str) -> None:
        rgb = QColor(color)
        self._background = np.uint32(0xFF000000 | (rgb.red() << 16) | (rgb.green() << 8) | rgb.blue())
        self._render()

    def set_colormap(self, cmap: pg.ColorMap) -> None:
        rgb = cmap.getLookupTable(nPts=self.LUT_SIZE, alpha=False).astype(np.uint32)
        self._lut = 0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        self._render()

    def set_levels(self, low: float, high: float) -> None:
        self._levels = (float(low), float(high))
        self._render()

    def set_rect(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self.update()

    def set_values(self, values: np.ndarray) -> None:
        """``values``: (rows, columns) floats; mapped through the colour map between the levels."""
        self._values = np.array(values, dtype=np.float32)
        self._render()

    def scroll_in(self, columns: np.ndarray) -> None:
        """Shift the picture left by ``columns.shape[1]`` and append ``columns`` (rows, k) on the right.

        Only the new columns go through the colour map: a scrolling view costs a memory move plus
        a few columns per frame instead of the whole picture.
        """
        count = columns.shape[1]
        if self._values is None or count >= self._values.shape[1] or columns.shape[0] != self._values.shape[0]:
            full = columns if self._values is None else np.hstack([self._values, columns])
            self.set_values(full[:, -(full.shape[1] if self._values is None else self._values.shape[1]):])
            return
        if count == 0:
            return
        self._values[:, :-count] = self._values[:, count:]
        self._values[:, -count:] = columns
        self._pixels[:, :-count] = self._pixels[:, count:]
        self._pixels[:, -count:] = self._colours(self._values[:, -count:])
        self.update()

    @property
    def values(self) -> np.ndarray | None:
        return self._values

    def _colours(self, values: np.ndarray) -> np.ndarray:
        low, high = self._levels
        scale = (self.LUT_SIZE - 1) / max(high - low, 1e-12)
        index = np.clip(np.nan_to_num((values - low) * scale, nan=0.0), 0, self.LUT_SIZE - 1).astype(np.intp)
        colours = self._lut[index]
        colours[np.isnan(values)] = self._background
        return colours

    def _render(self) -> None:
        if self._values is None:
            return
        rows, columns = self._values.shape
        if self._pixels.shape != (rows, columns):
            # The image owns its memory; we write into it through a numpy view of its bits.
            self._image = QImage(columns, rows, QImage.Format.Format_RGB32)
            self._pixels = np.frombuffer(self._image.bits(), dtype=np.uint32).reshape(rows, columns)
        self._pixels[:] = self._colours(self._values)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter, *_args) -> None:
        painter.drawImage(self._rect, self._image)


class FrameImage(ThemedPlot):
    """A scrolling image of per-frame vectors (feature frames or hidden states): time → x, index → y.

    ``append_frames(frames)`` scrolls in the newest frames, (T, D); the newest is drawn on the right.
    """

    def __init__(self, title: str, frames: int, hop_s: float, y_label: str, parent=None):
        super().__init__(title, parent=parent)
        self.frames = frames
        self.hop_s = hop_s
        self.image = HeatImage()
        self.addItem(self.image)
        self.getAxis("bottom").setLabel("seconds ago")
        self.getAxis("left").setLabel(y_label)
        self._levels = (-1.0, 1.0)
        self.image.set_levels(*self._levels)
        self._dim = 0
        self._blank(1)

    def _blank(self, dim: int) -> None:
        self._dim = dim
        self.image.set_values(np.full((dim, self.frames), np.nan, dtype=np.float32))
        span = self.frames * self.hop_s
        self.image.set_rect(QRectF(-span, 0.0, span, float(dim)))
        self.setXRange(-span, 0.0, padding=0)
        self.setYRange(0.0, float(dim), padding=0)

    def set_levels(self, low: float, high: float) -> None:
        self._levels = (low, high)
        self.image.set_levels(low, high)

    def set_colormap(self, cmap: pg.ColorMap) -> None:
        self.image.set_colormap(cmap)

    def append_frames(self, frames: np.ndarray) -> None:
        """Scroll in the newest frames, (T, D) oldest first (only the last ``self.frames`` can show)."""
        if frames.ndim != 2 or frames.shape[1] == 0 or frames.shape[0] == 0:
            return
        if frames.shape[1] != self._dim:
            self._blank(frames.shape[1])
        self.image.scroll_in(np.ascontiguousarray(frames[-self.frames :].T, dtype=np.float32))

    def clear_frames(self) -> None:
        self.image.set_values(np.full((self._dim, self.frames), np.nan, dtype=np.float32))

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self.image.set_background(colors.background)


class ProbabilityBars(ThemedPlot):
    """Horizontal bars: one per class, its smoothed probability; a line marks the threshold."""

    def __init__(self, parent=None):
        super().__init__("Class probabilities", parent=parent)
        self.labels: list[str] = []
        self._colors: PlotColors | None = None
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.addItem(self.bars)
        self.threshold_line = pg.InfiniteLine(pos=0.5, angle=90, movable=False)
        self.addItem(self.threshold_line)
        self.setXRange(0.0, 1.0, padding=0.02)
        self.getAxis("bottom").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.invertY(True)
        self._values = np.zeros(0)
        self._threshold = 0.5

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self._values = np.zeros(len(labels))
        axis = self.getAxis("left")
        axis.setTicks([[(i, label) for i, label in enumerate(self.labels)]])
        axis.setStyle(tickTextOffset=4)
        self.setYRange(-0.6, len(labels) - 0.4, padding=0)
        self.setMinimumHeight(min(BAR_PLOT_MAX_MIN_PX, BAR_PLOT_MARGIN_PX + BAR_PX * len(labels)))
        self._redraw()

    def set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        self.threshold_line.setPos(threshold)
        self._redraw()

    def set_values(self, probabilities: np.ndarray) -> None:
        if len(probabilities) != len(self.labels):
            return
        values = np.asarray(probabilities, dtype=np.float64)
        if self._values.shape == values.shape and np.abs(values - self._values).max(initial=0.0) < BAR_STEP:
            return  # nothing visible changed: no repaint
        self._values = values
        self._redraw()

    def _redraw(self) -> None:
        if self._colors is None:
            return
        n = len(self.labels)
        above = self._values >= self._threshold
        brushes = [self._brushes[bool(a)] for a in above]
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n), height=0.7, width=self._values, brushes=brushes,
                          pen=self._no_pen)

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self._colors = colors
        self._brushes = {False: pg.mkBrush(colors.bar), True: pg.mkBrush(colors.good)}
        self._no_pen = pg.mkPen(None)
        self.threshold_line.setPen(pg.mkPen(colors.warning, width=1, style=Qt.PenStyle.DashLine))
        self._redraw()


class CurvePlot(ThemedPlot):
    """Training curves: named series appended point by point (epoch, value)."""

    def __init__(self, title: str, y_label: str, parent=None):
        super().__init__(title, interactive=True, parent=parent)
        self.addLegend(offset=(-10, 10), labelTextSize=f"{TITLE_PT}pt")
        self.getAxis("bottom").setLabel("epoch")
        self.getAxis("left").setLabel(y_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.series: dict[str, tuple[pg.PlotDataItem, list[float], list[float]]] = {}
        self._colors: PlotColors | None = None
        self._order: list[str] = []

    def add_series(self, name: str, label: str) -> None:
        item = self.plot([], [], name=label, symbol="o", symbolSize=5)
        self.series[name] = (item, [], [])
        self._order.append(name)
        self._restyle()

    def append(self, name: str, x: float, y: float) -> None:
        if name not in self.series:
            return
        item, xs, ys = self.series[name]
        xs.append(x)
        ys.append(y)
        item.setData(xs, ys)
        self.placeholder.hide()

    def clear_data(self) -> None:
        for item, xs, ys in self.series.values():
            xs.clear()
            ys.clear()
            item.setData([], [])

    def _restyle(self) -> None:
        if self._colors is None:
            return
        palette = [self._colors.accent, self._colors.accent2, self._colors.good, self._colors.muted]
        for i, name in enumerate(self._order):
            color = palette[i % len(palette)]
            item = self.series[name][0]
            item.setPen(pg.mkPen(color, width=2))
            item.setSymbolBrush(pg.mkBrush(color))
            item.setSymbolPen(pg.mkPen(color))

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self._colors = colors
        legend = self.plotItem.legend
        if legend is not None:
            legend.setLabelTextColor(colors.foreground)
        self._restyle()


def small_font(point_delta: float = -1.0) -> QFont:
    font = QFont()
    font.setPointSizeF(max(7.0, font.pointSizeF() + point_delta))
    return font
