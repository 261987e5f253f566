"""Input level meter: RMS bar, peak-hold tick and a clipping light (painted, no plotting library)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from speechrnn.record import CLIPPING_LEVEL

FLOOR_DB = -60.0  # left end of the scale
PEAK_HOLD_S = 1.5  # the peak tick stays this long before it falls back
CLIP_HOLD_S = 2.0  # the clipping light stays on this long after the last clipped block
CLIP_PADDING_PX = 12  # room around the word in the "CLIP" light (its width follows the bold font)
TICKS_DB = (-48, -36, -24, -12, -6, 0)
GREEN_UNTIL_DB = -18.0  # the bar is green up to here, yellow around YELLOW_AT_DB, red at full scale
YELLOW_AT_DB = -9.0
MIN_AMPLITUDE = 1e-5  # floor before the log (-100 dBFS)


def levels_dbfs(samples: np.ndarray) -> tuple[float, float, bool]:
    """(RMS dBFS, peak dBFS, clipped) of a block, for the meter."""
    if samples.size == 0:
        return FLOOR_DB, FLOOR_DB, False
    peak = float(np.max(np.abs(samples)))
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    to_db = lambda x: 20.0 * np.log10(max(x, MIN_AMPLITUDE))  # noqa: E731
    return to_db(rms), to_db(peak), peak >= CLIPPING_LEVEL


class _Bar(QWidget):
    """The RMS bar with peak and peak-hold marks; repaints only when a mark moves by a pixel."""

    def __init__(self, meter: "LevelMeter"):
        super().__init__(meter)
        self.meter = meter
        self._drawn: tuple[int, int, int] = (-1, -1, -1)
        self._gradient: QLinearGradient | None = None

    def x_of(self, db: float) -> int:
        return round(self.width() * (db - FLOOR_DB) / -FLOOR_DB)

    def refresh(self) -> None:
        marks = (self.x_of(self.meter.rms_db), self.x_of(self.meter.peak_db), self.x_of(self.meter.peak_hold_db))
        if marks != self._drawn:
            self.update()

    def resizeEvent(self, event) -> None:
        self._gradient = QLinearGradient(0, 0, self.width(), 0)
        for db, color in ((FLOOR_DB, "#2da44e"), (GREEN_UNTIL_DB, "#2da44e"), (YELLOW_AT_DB, "#d4a72c"),
                          (0.0, "#cf222e")):
            self._gradient.setColorAt((db - FLOOR_DB) / -FLOOR_DB, QColor(color))
        super().resizeEvent(event)

    def paintEvent(self, _event) -> None:
        rms_x, peak_x, hold_x = self._drawn = (self.x_of(self.meter.rms_db), self.x_of(self.meter.peak_db),
                                               self.x_of(self.meter.peak_hold_db))
        height = self.height()
        palette = self.palette()
        painter = QPainter(self)
        painter.fillRect(0, 0, self.width(), height, palette.base())
        if self._gradient is not None:
            painter.fillRect(0, 0, rms_x, height, self._gradient)
        painter.fillRect(rms_x, 0, max(0, peak_x - rms_x), height, QColor(128, 128, 128, 90))
        painter.setPen(QPen(palette.mid().color(), 1))
        for db in TICKS_DB:
            x = self.x_of(db)
            painter.drawLine(x, height - 4, x, height)
        painter.setPen(QPen(palette.text().color(), 2))
        painter.drawLine(hold_x, 0, hold_x, height)
        painter.end()


class LevelMeter(QWidget):
    """``set_level(rms_db, peak_db, clipped)`` from the screen timer; a bar and a CLIP light."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(160)
        self.rms_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self._hold_db = FLOOR_DB
        self._hold_until = 0.0
        self._clip_until = 0.0
        self.warning = QColor("#cf222e")
        self.muted = QColor("#8b949e")
        self.bar = _Bar(self)
        self.light = QLabel("CLIP")
        self.light.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bold = QFont(self.light.font())
        bold.setBold(True)
        self.light.setFixedWidth(QFontMetrics(bold).horizontalAdvance("CLIP") + CLIP_PADDING_PX)
        self.light.setToolTip("Lights up when the input reaches full scale (clipping)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 3, 0, 3)
        layout.setSpacing(6)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.light)
        self._light_on: bool | None = None
        self._show_light(False)
        self.setToolTip(
            "Microphone input level (dBFS). Speak so the bar reaches the yellow zone;\n"
            "CLIP lights up when the signal hits full scale (too loud: move back or lower the gain)."
        )

    def sizeHint(self) -> QSize:
        return QSize(240, 22)

    @property
    def peak_hold_db(self) -> float:
        """The highest peak of the last ``PEAK_HOLD_S`` seconds (the tick on the meter)."""
        return self._hold_db

    @property
    def clipping(self) -> bool:
        return time.monotonic() < self._clip_until

    def set_level(self, rms_db: float, peak_db: float, clipped: bool) -> None:
        now = time.monotonic()
        self.rms_db = max(FLOOR_DB, min(0.0, rms_db))
        self.peak_db = max(FLOOR_DB, min(0.0, peak_db))
        if self.peak_db >= self._hold_db or now > self._hold_until:
            self._hold_db, self._hold_until = self.peak_db, now + PEAK_HOLD_S
        if clipped:
            self._clip_until = now + CLIP_HOLD_S
        self._show_light(self.clipping)
        self.bar.refresh()

    def reset(self) -> None:
        self.rms_db = self.peak_db = self._hold_db = FLOOR_DB
        self._clip_until = 0.0
        self._show_light(False)
        self.bar.refresh()

    def _show_light(self, on: bool) -> None:
        if on == self._light_on:
            return
        self._light_on = on
        self.light.setStyleSheet(
            f"background: {self.warning.name()}; color: white; font-weight: bold; border-radius: 3px;" if on
            else f"font-weight: bold; border: 1px solid {self.muted.name()}; border-radius: 3px; "
            f"color: {self.muted.name()};")

    def set_colors(self, warning: str, muted: str) -> None:
        """The CLIP light's colours (from the palette's plot colours)."""
        self.warning, self.muted = QColor(warning), QColor(muted)
        self._light_on = None
        self._show_light(self.clipping)
