"""Sidebar and window icons from ``assets/icons/*.svg``, tinted to the current palette.

The SVGs draw with ``currentColor``; :func:`icon` substitutes a colour and renders them large
enough to stay sharp on high-DPI screens. A missing file gives an empty icon, never an error.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_DIR = Path(__file__).resolve().parent.parent / "assets" / "icons"
RENDER_PX = 96  # rendered once at this size; Qt scales down smoothly for 16..48 px, 2x DPI included


@lru_cache(maxsize=64)
def icon(name: str, color: str = "#24292f") -> QIcon:
    path = ICON_DIR / f"{name}.svg"
    if not path.exists():
        return QIcon()
    svg = path.read_text(encoding="utf-8").replace("currentColor", color)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    pixmap = QPixmap(RENDER_PX, RENDER_PX)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return QIcon(pixmap)
