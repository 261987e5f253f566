"""Confusion-matrix picture: rows = true label, columns = predicted, shade = share of the row.

Every count is written in its cell: cells are never smaller than the widest count needs, and the
widget's minimum size says so, so that a scroll area around it scrolls instead of dropping counts.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

MARGIN_PX = 8
MAX_LABEL_CHARS = 14  # longer labels are elided
MIN_CELL_PX = 14
COUNT_PADDING_PX = 6  # room around a count inside its cell


class ConfusionMatrixView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.counts = np.zeros((0, 0), dtype=np.int64)
        self.accent = QColor("#0969da")
        self.wrong = QColor("#cf222e")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 220)
        self.setToolTip("Rows: the true word. Columns: what the model said. Hover a cell for its count.")

    def sizeHint(self) -> QSize:
        return QSize(460, 420)

    def set_matrix(self, labels: list[str], counts) -> None:
        self.labels = [str(label) for label in labels]
        self.counts = np.asarray(counts, dtype=np.int64).reshape(len(labels), len(labels))
        self.setMinimumSize(self.minimum_extent())
        self.updateGeometry()
        self.update()

    def min_cell(self) -> float:
        """The smallest cell in which the widest count still fits."""
        metrics = QFontMetrics(self.font())
        widest = max((metrics.horizontalAdvance(str(int(c))) for c in self.counts.flat), default=0)
        return float(max(MIN_CELL_PX, widest + COUNT_PADDING_PX, metrics.height() + 2))

    def minimum_extent(self) -> QSize:
        if not self.labels:
            return QSize(240, 220)
        label_w = self._label_width()
        title_h = QFontMetrics(self.font()).height() + 4
        side = int(np.ceil(self.min_cell() * len(self.labels)))
        extent = MARGIN_PX + title_h + label_w + side + MARGIN_PX
        return QSize(extent, extent)

    def clear(self) -> None:
        self.set_matrix([], np.zeros((0, 0)))

    # ------------------------------------------------------------------------------ geometry
    def _label_width(self) -> int:
        metrics = QFontMetrics(self.font())
        return max((metrics.horizontalAdvance(label[:MAX_LABEL_CHARS]) for label in self.labels), default=0) + 8

    def _grid(self) -> tuple[QRectF, float]:
        n = max(1, len(self.labels))
        label_w = self._label_width()
        title_h = QFontMetrics(self.font()).height() + 4
        left, top = MARGIN_PX + title_h + label_w, MARGIN_PX + title_h + label_w
        side = min(self.width() - left - MARGIN_PX, self.height() - top - MARGIN_PX)
        cell = max(self.min_cell(), side / n)
        return QRectF(left, top, cell * n, cell * n), cell

    def _cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        grid, cell = self._grid()
        if not grid.contains(pos):
            return None
        return int((pos.y() - grid.top()) // cell), int((pos.x() - grid.left()) // cell)

    # ------------------------------------------------------------------------------ events
    def mouseMoveEvent(self, event) -> None:
        hit = self._cell_at(event.position())
        if hit is None or not self.labels:
            QToolTip.hideText()
            return
        row, col = hit
        if row >= len(self.labels) or col >= len(self.labels):
            return
        total = int(self.counts[row].sum())
        count = int(self.counts[row, col])
        share = 100.0 * count / total if total else 0.0
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"true <b>{self.labels[row]}</b>, predicted <b>{self.labels[col]}</b>: "
                          f"{count} of {total} ({share:.0f} %)", self)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        if not self.labels:
            painter.setPen(palette.placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The confusion matrix appears here.")
            return
        grid, cell = self._grid()
        n = len(self.labels)
        totals = self.counts.sum(axis=1, keepdims=True)
        shares = np.divide(self.counts, np.maximum(totals, 1))
        metrics = QFontMetrics(self.font())
        base = palette.base().color()
        for row in range(n):
            for col in range(n):
                share = float(shares[row, col])
                color = QColor(self.accent if row == col else self.wrong)
                mixed = QColor(
                    round(base.red() + (color.red() - base.red()) * share),
                    round(base.green() + (color.green() - base.green()) * share),
                    round(base.blue() + (color.blue() - base.blue()) * share),
                )
                rect = QRectF(grid.left() + col * cell, grid.top() + row * cell, cell, cell)
                painter.fillRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), mixed)
                count = int(self.counts[row, col])
                if count:  # always fits: see min_cell
                    painter.setPen(QColor("#ffffff") if share > 0.55 else palette.text().color())
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        painter.setPen(palette.mid().color())
        painter.drawRect(grid)
        painter.setPen(palette.text().color())
        for i, label in enumerate(self.labels):
            text = metrics.elidedText(label, Qt.TextElideMode.ElideRight, self._label_width() - 6)
            y = grid.top() + (i + 0.5) * cell
            painter.drawText(QRectF(grid.left() - self._label_width(), y - cell / 2, self._label_width() - 6, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            painter.save()
            painter.translate(grid.left() + (i + 0.5) * cell, grid.top() - 4)
            painter.rotate(-90)
            painter.drawText(QRectF(0, -cell / 2, self._label_width() - 6, cell),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            painter.restore()
        painter.setPen(palette.placeholderText().color())
        title_h = metrics.height()
        painter.drawText(QRectF(grid.left(), MARGIN_PX, grid.width(), title_h), Qt.AlignmentFlag.AlignCenter,
                         "predicted")
        painter.save()
        painter.translate(MARGIN_PX, grid.top() + grid.height() / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-grid.height() / 2, 0, grid.height(), title_h), Qt.AlignmentFlag.AlignCenter,
                         "true")
        painter.restore()
        painter.end()
