"""What the main window expects of a panel."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QLabel, QLayout, QScrollArea, QVBoxLayout, QWidget

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


class FillLayout(QVBoxLayout):
    """A column layout whose height for a width is its *minimum* height for that width.

    QScrollArea sizes a widget whose layout has height-for-width (any word-wrapped label) to that
    height; a plain layout answers with its *preferred* height, so the column would scroll at any
    window size. With its minimum, the column fills the scroll area and scrolls only when the window
    is too short for it, wrapped labels included.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._asking = False  # minimumHeightForWidth calls heightForWidth: Qt's own answer then

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        if self._asking:
            return super().heightForWidth(width)
        self._asking = True
        try:
            return super().minimumHeightForWidth(width)
        finally:
            self._asking = False


class ColumnScrollArea(QScrollArea):
    """A scroll area that scrolls only up and down: it is as wide as its column needs, plus room for
    the scroll bar (a splitter never makes it narrower than its widgets)."""

    def _sides_px(self) -> int:
        return self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget().minimumSizeHint() if self.widget() is not None else QSize(0, 0)
        return QSize(inner.width() + self._sides_px(), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget().sizeHint() if self.widget() is not None else QSize(0, 0)
        return QSize(inner.width() + self._sides_px(), super().sizeHint().height())


def scroll_column() -> tuple[QScrollArea, QWidget, QVBoxLayout]:
    """A borderless vertical container in a scroll area (one side of a splitter): it fills the
    area, and scrolls (never sideways) only in a window too short for its widgets' minimum heights,
    where they would otherwise be drawn over each other."""
    widget = QWidget()
    layout = FillLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    area = ColumnScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area, widget, layout


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
