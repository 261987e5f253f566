"""What the main window expects of a panel."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QLabel, QLayout, QVBoxLayout, QWidget

from gui.context import AppContext
from gui.theme import PlotColors


HEADING_SCALE = 1.25  # panel titles, relative to the normal font


class Panel(QWidget):
    """A page of the main window. Subclasses build their widgets in ``__init__``."""

    key = ""
    title = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        ctx.notify.colors_changed.connect(self.apply_colors)

    def apply_colors(self, colors: PlotColors) -> None:
        """Restyle plots and coloured labels for a new palette."""

    def activated(self) -> None:
        """The panel became visible."""

    def deactivated(self) -> None:
        """Another panel became visible."""

    def busy_reason(self) -> str:
        """Non-empty when closing the window now would interrupt work (asked before quitting)."""
        return ""

    def shutdown(self) -> None:
        """The window closes: stop timers and threads, save what must not be lost."""


def panel_shortcut(panel: QWidget, keys: str, slot) -> QShortcut:
    """A shortcut active only while ``panel`` (or a child) has focus: panels reuse keys (Ctrl+Return)."""
    shortcut = QShortcut(QKeySequence(keys), panel)
    shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    shortcut.activated.connect(slot)
    return shortcut


def big_label(text: str, scale: float, centred: bool = False) -> QLabel:
    """Bold text ``scale`` times the normal size (scales with the user's font and screen DPI)."""
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    if centred:
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def heading(text: str) -> QLabel:
    return big_label(text, HEADING_SCALE)


def column() -> tuple[QWidget, QVBoxLayout]:
    """A borderless vertical container (one side of a splitter)."""
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    return widget, layout


def card(layout_type=None) -> tuple[QFrame, QLayout]:
    """A framed, rounded group (style sheet role "card") with a layout of ``layout_type``."""
    frame = QFrame()
    frame.setProperty("role", "card")
    return frame, (layout_type or QVBoxLayout)(frame)


def hint(text: str) -> QLabel:
    """A grey explanatory line for newcomers."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("role", "hint")  # coloured by the app style sheet (gui.theme)
    return label
