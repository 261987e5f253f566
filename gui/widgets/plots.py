"""pyqtgraph plots for the views that change rarely or are interactive: training curves, the
gradient curve, a take's waveform. (The Listen panel's 26-frames/s views are painted directly:
:mod:`gui.widgets.live_views`.) Items are created once; updates only set their data.
"""

from __future__ import annotations

import pyqtgraph as pg

from gui.theme import PlotColors

pg.setConfigOptions(antialias=False, imageAxisOrder="row-major", useNumba=False)

TITLE_PT = 9
EMPTY_EPOCHS = 30  # epoch axis of a curve plot before it knows the run's length
# A fixed value axis (accuracy 0-100 %) labels a tick at most every this many pixels: pyqtgraph always
# draws its major ticks' labels, which run together on a short plot (a 900x600 window).
MIN_VALUE_LABEL_PX = 24
# Tick steps as fractions of the fixed value range, finest first. The coarsest still labels the middle:
# the labels at the range's ends are cut off by the plot's edges.
NICE_TICK_FRACTIONS = (0.1, 0.2, 0.25, 0.5)


def style_plot(plot: pg.PlotItem, colors: PlotColors, title: str | None = None) -> None:
    """Theme a plot: axis pens, text, grid; optional small title."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(colors.grid))
        axis.setTextPen(pg.mkPen(colors.muted))
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


class CurvePlot(ThemedPlot):
    """Training curves: named series appended point by point (epoch, value).

    The epoch axis spans the whole run from the start (``set_epochs``), so the curves grow from
    left to right; ``y_range`` fixes the value axis (accuracy: 0-100 %), else it follows the data.
    The legend is part of the title line (coloured series names), so it never covers a curve.
    """

    def __init__(self, title: str, y_label: str, y_range: tuple[float, float] | None = None, parent=None):
        super().__init__(title, interactive=True, parent=parent)
        self.getAxis("bottom").setLabel("epoch")
        self.getAxis("left").setLabel(y_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.series: dict[str, tuple[pg.PlotDataItem, list[float], list[float]]] = {}
        self._labels: dict[str, str] = {}
        self._colors: PlotColors | None = None
        self._order: list[str] = []
        self.y_range = y_range
        self._empty_y = y_range or (0.0, 1.0)
        self.setYRange(*self._empty_y, padding=0.02)
        self.set_epochs(EMPTY_EPOCHS)
        if y_range is not None:
            self.getViewBox().sigResized.connect(self._fit_value_ticks)

    def _fit_value_ticks(self) -> None:
        """Label the fixed value axis as finely as its height allows (MIN_VALUE_LABEL_PX a label)."""
        low, high = self.y_range
        span = high - low
        height_px = self.getViewBox().height()
        fraction = next((f for f in NICE_TICK_FRACTIONS if height_px * f >= MIN_VALUE_LABEL_PX), NICE_TICK_FRACTIONS[-1])
        step = span * fraction
        self.getAxis("left").setTickSpacing(step, step / 2)

    def set_epochs(self, epochs: int) -> None:
        """The epoch axis: 1 .. ``epochs`` (whole epochs only)."""
        last = max(2, int(epochs))
        self.setXRange(1, last, padding=0.03)
        axis = self.getAxis("bottom")
        if last <= 12:
            axis.setTickSpacing(1, 1)
        else:
            axis.setTickSpacing()  # automatic (pyqtgraph picks round numbers)
        self._place_placeholder()

    def set_placeholder(self, text: str, x: float | None = None, y: float | None = None) -> None:
        super().set_placeholder(text, 0.5 if x is None else x, 0.5 if y is None else y)
        if x is None and y is None:
            self._place_placeholder()

    def _place_placeholder(self) -> None:
        (x0, x1), (y0, y1) = self.viewRange()
        self.placeholder.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def add_series(self, name: str, label: str) -> None:
        item = self.plot([], [], symbol="o", symbolSize=5)
        self.series[name] = (item, [], [])
        self._labels[name] = label
        self._order.append(name)
        self._restyle()

    def set_series_label(self, name: str, label: str) -> None:
        """Rename a series in the legend (e.g. "train (frames)" once a run says what it counts)."""
        if name in self._labels and self._labels[name] != label:
            self._labels[name] = label
            self._restyle()

    def append(self, name: str, x: float, y: float) -> None:
        if name not in self.series:
            return
        item, xs, ys = self.series[name]
        xs.append(x)
        ys.append(y)
        item.setData(xs, ys)
        self.placeholder.hide()
        if self.y_range is None:
            self.enableAutoRange(axis="y")

    def clear_data(self) -> None:
        for item, xs, ys in self.series.values():
            xs.clear()
            ys.clear()
            item.setData([], [])
        if self.y_range is None:
            self.disableAutoRange(axis="y")
        self.setYRange(*self._empty_y, padding=0.02)

    def series_color(self, name: str) -> str:
        assert self._colors is not None
        palette = [self._colors.accent, self._colors.accent2, self._colors.good, self._colors.muted]
        return palette[self._order.index(name) % len(palette)]

    def legend_html(self) -> str:
        """The title with the series' names in their colours (the legend)."""
        if self._colors is None:
            return self._title
        keys = "&nbsp;&nbsp;".join(f"<span style='color:{self.series_color(name)}'>━ {self._labels[name]}</span>"
                                   for name in self._order)
        return f"<span style='color:{self._colors.muted}'>{self._title}</span>&nbsp;&nbsp;&nbsp;{keys}"

    def _restyle(self) -> None:
        if self._colors is None:
            return
        for name in self._order:
            color = self.series_color(name)
            item = self.series[name][0]
            item.setPen(pg.mkPen(color, width=2))
            item.setSymbolBrush(pg.mkBrush(color))
            item.setSymbolPen(pg.mkPen(color))
        self.plotItem.setTitle(self.legend_html(), size=f"{TITLE_PT}pt")

    def apply_colors(self, colors: PlotColors) -> None:
        super().apply_colors(colors)
        self._colors = colors
        self._restyle()
