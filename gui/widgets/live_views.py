"""The Listen panel's live views, painted directly with QPainter (Friture's approach).

Repainted ~26 times a second, these views must cost next to nothing: everything static (title,
axes, tick labels, frame) is drawn once into a cached pixmap, and each frame only copies that
pixmap and draws the data — one scaled RGB32 image for the scrolling views, a dozen rectangles
for the bar chart. (pyqtgraph's scene machinery cost ~0.8 ms of Python per view and frame here;
the interactive, rarely updated plots elsewhere in the app still use it.)

Views take what the library computed (samples, feature frames, posteriors, hidden states); the
only arithmetic here is reducing data to screen resolution and mapping values to colours.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from gui.theme import PlotColors

PAD_PX = 4  # space between text and the plot frame
TICK_PX = 4  # tick mark length
LUT_SIZE = 256  # colours per colour map
WAVE_COLUMNS = 480  # min/max columns of the scrolling waveform (about one per screen pixel)
WAVE_ROWS = 96  # amplitude levels of the waveform picture (-1 .. +1)
VIEW_MIN_HEIGHT_PX = 90  # a view is at least this tall (and tall enough for its rotated y label)
BAR_HEIGHT = 0.7  # bar thickness, as a share of a label's row ...
BAR_MAX_PX = 24  # ... up to this (a 3-class model must not draw slabs)
BACKGROUND_PREFIX = "_"  # _silence_, _unknown_: never detected, so never drawn as "above the threshold"
BAR_STEP = 0.002  # probability change too small to move a bar by a pixel: no repaint
BAR_ROW_SPACING = 1.4  # a bar row is this many text lines high: labels never touch in a small window
BARS_MAX_MIN_HEIGHT_PX = 330  # the bar chart's minimum height is capped: a 35-word model must fit too

Ticks = list[tuple[float, str]]


def colour_table(stops: list[tuple[float, str]]) -> np.ndarray:
    """A LUT_SIZE lookup table of opaque 0xAARRGGBB colours, linear between (position, colour) stops."""
    positions = np.array([p for p, _ in stops])
    channels = np.array([[QColor(c).red(), QColor(c).green(), QColor(c).blue()] for _, c in stops], dtype=float)
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    rgb = np.stack([np.interp(x, positions, channels[:, i]) for i in range(3)], axis=1).round().astype(np.uint32)
    return 0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


VIRIDIS = [(0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"), (1.0, "#fde725")]


def rgb32(color: str) -> np.uint32:
    c = QColor(color)
    return np.uint32(0xFF000000 | (c.red() << 16) | (c.green() << 8) | c.blue())


def seconds_ago_ticks(span_s: float) -> Ticks:
    """Whole seconds before now, labelled as positive ages ("3", "2", "1")."""
    return [(-float(age), f"{age:g}") for age in range(int(span_s), 0, -1)]


def even_ticks(low: float, high: float, count: int = 4) -> Ticks:
    """About ``count`` round-numbered ticks between ``low`` and ``high``."""
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = np.ceil(low / step) * step
    values = np.arange(first, high + step * 1e-6, step)
    return [(float(v), f"{v:g}") for v in values]


class LiveView(QWidget):
    """A plot frame with a title, axes and tick labels (cached), and data painted by subclasses."""

    def __init__(self, title: str, x_label: str = "", y_label: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.x_range = (0.0, 1.0)
        self.y_range = (0.0, 1.0)
        self.x_ticks: Ticks = []
        self.y_ticks: Ticks = []
        self.colors: PlotColors | None = None
        self.tick_label_room = ""  # y tick labels get at least this text's width (aligns stacked views)
        self._cache: QPixmap | None = None
        self._plot_rect: QRect | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._fit_y_label()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we paint every pixel

    def sizeHint(self) -> QSize:
        return QSize(600, 160)

    # ------------------------------------------------------------------------------ axes
    def set_axes(self, x_range: tuple[float, float], y_range: tuple[float, float], x_ticks: Ticks,
                 y_ticks: Ticks) -> None:
        self.x_range, self.y_range, self.x_ticks, self.y_ticks = x_range, y_range, x_ticks, y_ticks
        self._invalidate()

    def set_tick_label_room(self, text: str) -> None:
        """Make room for y tick labels as wide as ``text`` (so stacked views share one time axis)."""
        if text != self.tick_label_room:
            self.tick_label_room = text
            self._invalidate()

    def apply_colors(self, colors: PlotColors) -> None:
        self.colors = colors
        self._invalidate()

    def resizeEvent(self, event) -> None:
        self._invalidate()
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._invalidate()
        if event.type() == QEvent.Type.FontChange:
            self._fit_y_label()
        super().changeEvent(event)

    def _vertical_margins(self, metrics: QFontMetrics) -> tuple[int, int]:
        """Pixels above the plot (title) and below it (ticks, tick labels, x label)."""
        line = metrics.height()
        top = line + 2 * PAD_PX
        bottom = TICK_PX + PAD_PX + line + (line + PAD_PX if self.x_label else 0) + PAD_PX
        return top, bottom

    def _fit_y_label(self) -> None:
        """The view is tall enough for its y label written along the plot's height (never cut short,
        as "amplitude" was in a small window)."""
        metrics = QFontMetrics(self._small_font())
        top, bottom = self._vertical_margins(metrics)
        needed = top + bottom + metrics.horizontalAdvance(self.y_label) + 2 * PAD_PX if self.y_label else 0
        self.setMinimumHeight(max(VIEW_MIN_HEIGHT_PX, needed))

    def _invalidate(self) -> None:
        """Axes, size, font or colours changed: redraw the static parts on the next paint."""
        self._cache = None
        self._plot_rect = None
        self.update()

    def update_data(self) -> None:
        """The data changed: repaint the plot area only (the static parts stay as they are)."""
        self.update(self.plot_rect())

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def plot_rect(self) -> QRect:
        """Where the data goes, inside the axes."""
        if self._plot_rect is None:
            self._plot_rect = self._layout_plot_rect()
        return self._plot_rect

    def _layout_plot_rect(self) -> QRect:
        metrics = QFontMetrics(self._small_font())
        line = metrics.height()
        label_width = max((metrics.horizontalAdvance(text) for _, text in self.y_ticks), default=0)
        label_width = max(label_width, metrics.horizontalAdvance(self.tick_label_room))
        left = PAD_PX + (line + PAD_PX if self.y_label else 0) + label_width + PAD_PX + TICK_PX
        top, bottom = self._vertical_margins(metrics)
        return QRect(left, top, max(1, self.width() - left - 2 * PAD_PX), max(1, self.height() - top - bottom))

    def drawn_y_ticks(self) -> Ticks:
        """The y ticks whose labels are drawn: all of them, except in a view too short for them all
        (a 35-word model's bars in a small window), where a label that would touch the one above it
        is left out (its tick mark stays)."""
        rect = self.plot_rect()
        line = QFontMetrics(self._small_font()).height()
        drawn: Ticks = []
        last_y = None
        for value, text in sorted(self.y_ticks, key=lambda tick: -tick[0]):  # top to bottom
            y = self.y_to_px(value, rect)
            if last_y is None or y - last_y >= line:
                drawn.append((value, text))
                last_y = y
        return drawn

    def x_to_px(self, x: float, rect: QRect) -> float:
        low, high = self.x_range
        return rect.left() + (x - low) / (high - low) * rect.width()

    def y_to_px(self, y: float, rect: QRect) -> float:
        low, high = self.y_range
        return rect.bottom() + 1 - (y - low) / (high - low) * rect.height()

    def _static(self) -> QPixmap:
        """Background, title, frame, ticks and labels, drawn once per size/palette/axes change."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(QSize(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))))
        pixmap.setDevicePixelRatio(ratio)
        colors = self.colors
        pixmap.fill(QColor(colors.background if colors else "#ffffff"))
        if colors is None:
            return pixmap
        painter = QPainter(pixmap)
        font = self._small_font()
        painter.setFont(font)
        metrics = QFontMetrics(font)
        rect = self.plot_rect()
        painter.setPen(QColor(colors.muted))
        painter.drawText(QRect(0, PAD_PX, self.width(), metrics.height()), Qt.AlignmentFlag.AlignHCenter, self.title)
        painter.setPen(QPen(QColor(colors.grid), 1))
        painter.drawRect(rect.adjusted(-1, -1, 0, 0))
        painter.setPen(QColor(colors.muted))
        for value, text in self.x_ticks:
            x = round(self.x_to_px(value, rect))
            painter.drawLine(x, rect.bottom() + 1, x, rect.bottom() + TICK_PX)
            width = metrics.horizontalAdvance(text)
            painter.drawText(x - width // 2, rect.bottom() + TICK_PX + PAD_PX + metrics.ascent(), text)
        labelled = set(self.drawn_y_ticks())
        for value, text in self.y_ticks:
            y = round(self.y_to_px(value, rect))
            painter.drawLine(rect.left() - TICK_PX - 1, y, rect.left() - 1, y)
            if (value, text) not in labelled:
                continue
            width = metrics.horizontalAdvance(text)
            painter.drawText(rect.left() - TICK_PX - PAD_PX - width, y + metrics.ascent() // 2 - 1, text)
        if self.x_label:
            painter.drawText(QRect(rect.left(), self.height() - metrics.height() - PAD_PX, rect.width(),
                                   metrics.height()), Qt.AlignmentFlag.AlignHCenter, self.x_label)
        if self.y_label:
            painter.save()
            painter.translate(PAD_PX, rect.center().y())
            painter.rotate(-90)
            painter.drawText(QRect(-rect.height() // 2, 0, rect.height(), metrics.height()),
                             Qt.AlignmentFlag.AlignHCenter, self.y_label)
            painter.restore()
        painter.end()
        return pixmap

    def paintEvent(self, event) -> None:
        rect = self.plot_rect()
        painter = QPainter(self)
        if not rect.contains(event.rect()) or self._cache is None:  # more than the data area: the static parts
            if self._cache is None:
                self._cache = self._static()
            painter.drawPixmap(0, 0, self._cache)
        elif not self.covers_plot:
            painter.fillRect(rect, QColor(self.colors.background if self.colors else "#ffffff"))
        if self.colors is not None:
            self.paint_data(painter, rect)
        painter.end()

    covers_plot = False  # True when paint_data paints every pixel of the plot area

    def paint_data(self, painter: QPainter, rect: QRect) -> None:
        """Draw the data inside ``rect`` (subclasses)."""


class ImageView(LiveView):
    """Values (rows, columns) through a colour map as an opaque RGB32 image; row 0 at the bottom.

    ``scroll_in(columns)`` shifts the picture left and maps only the new columns: a scrolling
    view costs a memory move and a few columns per frame. NaN (no data yet) is the background.
    """

    covers_plot = True

    def __init__(self, title: str, x_label: str = "", y_label: str = "", parent: QWidget | None = None):
        super().__init__(title, x_label, y_label, parent)
        self.levels = (0.0, 1.0)
        self._lut = colour_table(VIRIDIS)
        self._background = rgb32("#ffffff")
        self._values = np.zeros((1, 1), dtype=np.float32)
        self._image = QImage(1, 1, QImage.Format.Format_RGB32)
        self._pixels = np.zeros((1, 1), dtype=np.uint32)

    @property
    def values(self) -> np.ndarray:
        return self._values

    def set_colormap(self, stops: list[tuple[float, str]]) -> None:
        self._lut = colour_table(stops)
        self._render_all()

    def set_levels(self, low: float, high: float) -> None:
        self.levels = (float(low), float(high))
        self._render_all()

    def apply_colors(self, colors: PlotColors) -> None:
        self._background = rgb32(colors.background)
        super().apply_colors(colors)
        self._render_all()

    def set_values(self, values: np.ndarray) -> None:
        self._values = np.array(values, dtype=np.float32)
        self._render_all()

    def scroll_in(self, columns: np.ndarray) -> None:
        count = columns.shape[1]
        if count == 0:
            return
        if count >= self._values.shape[1] or columns.shape[0] != self._values.shape[0]:
            width = self._values.shape[1] if columns.shape[0] == self._values.shape[0] else count
            self.set_values(columns[:, -width:])
            return
        self._values[:, :-count] = self._values[:, count:]
        self._values[:, -count:] = columns
        self._pixels[:, :-count] = self._pixels[:, count:]
        self._pixels[:, -count:] = self._colours(self._values[:, -count:])
        self.update_data()

    def _colours(self, values: np.ndarray) -> np.ndarray:
        low, high = self.levels
        scale = (LUT_SIZE - 1) / max(high - low, 1e-12)
        index = np.clip(np.nan_to_num((values - low) * scale, nan=0.0), 0, LUT_SIZE - 1).astype(np.intp)
        colours = self._lut[index]
        colours[np.isnan(values)] = self._background
        return colours

    def _render_all(self) -> None:
        rows, columns = self._values.shape
        if self._pixels.shape != (rows, columns):
            # The image owns its memory; we write into it through a numpy view of its bits, with the
            # rows reversed so that row 0 of the data is the image's bottom line (y points up).
            self._image = QImage(columns, rows, QImage.Format.Format_RGB32)
            self._pixels = np.frombuffer(self._image.bits(), dtype=np.uint32).reshape(rows, columns)[::-1]
        self._pixels[:] = self._colours(self._values)
        self.update_data()

    def paint_data(self, painter: QPainter, rect: QRect) -> None:
        painter.drawImage(QRectF(rect), self._image)


class FrameView(ImageView):
    """The last ``frames`` per-frame vectors (feature frames or hidden states), newest on the right."""

    def __init__(self, title: str, frames: int, hop_s: float, y_label: str, parent: QWidget | None = None):
        super().__init__(title, "seconds ago", y_label, parent)
        self.frames = frames
        self.hop_s = hop_s
        self._dim = 0
        self.set_rows(1)

    def set_rows(self, dim: int) -> None:
        """Vectors of ``dim`` values (feature coefficients, hidden units) from now on; clears the view."""
        self._dim = dim
        span = self.frames * self.hop_s
        y_ticks = even_ticks(0.0, float(dim), 4 if dim > 8 else 2) if dim > 1 else []  # 1: no model yet
        self.set_axes((-span, 0.0), (0.0, float(dim)), seconds_ago_ticks(span), y_ticks)
        self.set_values(np.full((dim, self.frames), np.nan, dtype=np.float32))

    def append_frames(self, frames: np.ndarray) -> None:
        """Scroll in the newest frames, (T, D) oldest first (only the last ``self.frames`` can show)."""
        if frames.ndim != 2 or frames.shape[1] == 0 or frames.shape[0] == 0:
            return
        if frames.shape[1] != self._dim:
            self.set_rows(frames.shape[1])
        self.scroll_in(np.ascontiguousarray(frames[-self.frames :].T, dtype=np.float32))

    def clear_frames(self) -> None:
        self.set_values(np.full((self._dim, self.frames), np.nan, dtype=np.float32))


class WaveformView(ImageView):
    """The last ``seconds`` of input as a filled min/max envelope (one column per screen pixel).

    Only new samples are reduced: each completed column's min and max are computed once.
    """

    def __init__(self, sample_rate_hz: int, seconds: float = 3.0, parent: QWidget | None = None):
        super().__init__("What the microphone hears: waveform", "seconds ago", "amplitude", parent)
        self.seconds = seconds
        # amplitude at the centre of each image row, bottom (-1) to top (+1)
        self._row_amplitude = (np.arange(WAVE_ROWS) + 0.5) / WAVE_ROWS * 2.0 - 1.0
        self.set_axes((-seconds, 0.0), (-1.0, 1.0), seconds_ago_ticks(seconds),
                      [(-1.0, "-1"), (0.0, "0"), (1.0, "1")])
        self.sample_rate_hz = sample_rate_hz

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

    @property
    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) per column, oldest first."""
        return self._low, self._high

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
        # least one row so that silence still shows a line at zero
        half_row = 1.0 / WAVE_ROWS
        low = np.minimum(self._low[-count:], -half_row)
        high = np.maximum(self._high[-count:], half_row)
        rows = self._row_amplitude[:, None]
        lit = ((rows >= low) & (rows <= high)).astype(np.float32)
        if count == WAVE_COLUMNS:
            self.set_values(lit)
        else:
            self.scroll_in(lit)
        self._new_columns = 0

    def apply_colors(self, colors: PlotColors) -> None:
        self._lut = colour_table([(0.0, colors.background), (1.0, colors.accent)])
        super().apply_colors(colors)


class BarsView(LiveView):
    """Horizontal bars, one per class with its smoothed probability; a dashed line at the threshold."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Class probabilities", "", "", parent)
        self.labels: list[str] = []
        self.threshold = 0.5
        self._values = np.zeros(0)

    @property
    def values(self) -> np.ndarray:
        return self._values

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self._values = np.zeros(len(labels))
        count = max(1, len(labels))
        self.set_axes((0.0, 1.0), (0.0, float(count)), [(0.0, "0"), (0.5, "0.5"), (1.0, "1")],
                      [(count - i - 0.5, label) for i, label in enumerate(self.labels)])
        row_px = QFontMetrics(self._small_font()).height()
        self.setMinimumHeight(min(BARS_MAX_MIN_HEIGHT_PX, 3 * row_px + round(BAR_ROW_SPACING * row_px * count)))

    def set_threshold(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self.update_data()

    def row_at(self, y_px: float) -> int | None:
        """The class whose bar row is at ``y_px`` (widget pixels), or None outside the bars."""
        rect = self.plot_rect()
        if not self.labels or not rect.top() <= y_px <= rect.bottom():
            return None
        return min(len(self.labels) - 1, int((y_px - rect.top()) / (rect.height() / len(self.labels))))

    def event(self, event) -> bool:
        """A tooltip over a bar names its word and probability (all labels may not fit a small window)."""
        if event.type() == QEvent.Type.ToolTip:
            row = self.row_at(event.pos().y())
            if row is not None:
                value = float(self._values[row]) if row < self._values.size else 0.0
                QToolTip.showText(event.globalPos(), f"{self.labels[row]}: {value:.2f}\n\n{self.toolTip()}", self)
                return True
        return super().event(event)

    def set_values(self, probabilities: np.ndarray) -> None:
        values = np.asarray(probabilities, dtype=np.float64)
        if values.shape != self._values.shape:
            return
        if np.abs(values - self._values).max(initial=0.0) < BAR_STEP:
            return  # nothing visible changed: no repaint
        self._values = values
        self.update_data()

    def paint_data(self, painter: QPainter, rect: QRect) -> None:
        colors = self.colors
        count = len(self.labels)
        if not count:
            return
        row = rect.height() / count
        height = min(row * BAR_HEIGHT, BAR_MAX_PX)
        below, above = QColor(colors.bar), QColor(colors.good)
        for i, value in enumerate(self._values):
            width = max(0.0, min(1.0, float(value))) * rect.width()
            top = rect.top() + i * row + (row - height) / 2
            word = not self.labels[i].startswith(BACKGROUND_PREFIX)
            painter.fillRect(QRectF(rect.left(), top, width, height),
                             above if word and value >= self.threshold else below)
        x = self.x_to_px(self.threshold, rect)
        painter.setPen(QPen(QColor(colors.warning), 1, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))

