"""Light and dark palettes (Fusion style), following the system by default, and plot colours.

``apply_theme(app, mode)`` sets the Qt palette and returns the :class:`PlotColors` that panels use
for their pyqtgraph items, so plots and widgets always match.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEME_MODES = ("system", "light", "dark")


@dataclass(frozen=True)
class PlotColors:
    """Colours of plots, meters and highlights for one palette."""

    dark: bool
    background: str
    foreground: str
    grid: str
    accent: str  # waveform, bars, curves
    accent2: str  # second curve (validation)
    good: str  # detections, "listening"
    warning: str  # clipping, errors
    muted: str  # secondary text
    bar: str  # probability bars below threshold
    heat_low: str  # hidden-state colour map: -1 .. 0 .. +1
    heat_mid: str
    heat_high: str


LIGHT = PlotColors(
    dark=False,
    background="#ffffff",
    foreground="#24292f",
    grid="#d0d7de",
    accent="#0969da",
    accent2="#bc4c00",
    good="#1a7f37",
    warning="#cf222e",
    muted="#57606a",
    bar="#8fb8ea",
    heat_low="#2166ac",
    heat_mid="#f7f7f7",
    heat_high="#b2182b",
)

DARK = PlotColors(
    dark=True,
    background="#161b22",
    foreground="#e6edf3",
    grid="#30363d",
    accent="#58a6ff",
    accent2="#f0883e",
    good="#3fb950",
    warning="#f85149",
    muted="#8b949e",
    bar="#2f5f99",
    heat_low="#4393c3",
    heat_mid="#0d1117",
    heat_high="#f4a582",
)


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme and scheme() == Qt.ColorScheme.Dark)


def resolve(mode: str) -> PlotColors:
    """The colours for ``mode`` ("system", "light" or "dark")."""
    if mode == "dark" or (mode == "system" and system_is_dark()):
        return DARK
    return LIGHT


def _palette(colors: PlotColors) -> QPalette:
    if not colors.dark:
        # Fusion's stock light palette with our accent for selection and links.
        palette = QPalette(QApplication.style().standardPalette())
        palette.setColor(QPalette.ColorRole.Highlight, QColor(colors.accent))
        palette.setColor(QPalette.ColorRole.Link, QColor(colors.accent))
        return palette
    window, base, alt = QColor("#1f242b"), QColor("#161b22"), QColor("#21262d")
    text, disabled = QColor(colors.foreground), QColor("#6e7681")
    palette = QPalette()
    role = QPalette.ColorRole
    for r, c in (
        (role.Window, window), (role.WindowText, text), (role.Base, base), (role.AlternateBase, alt),
        (role.ToolTipBase, QColor("#2d333b")), (role.ToolTipText, text), (role.Text, text),
        (role.Button, QColor("#2d333b")), (role.ButtonText, text), (role.BrightText, QColor("#ffffff")),
        (role.Highlight, QColor("#1f6feb")), (role.HighlightedText, QColor("#ffffff")),
        (role.Link, QColor(colors.accent)), (role.PlaceholderText, QColor(colors.muted)),
        (role.Light, QColor("#3d444d")), (role.Midlight, QColor("#30363d")), (role.Mid, QColor("#262c33")),
        (role.Dark, QColor("#0d1117")), (role.Shadow, QColor("#010409")),
    ):
        palette.setColor(r, c)
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, r, disabled)
    return palette


CHECK_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 12 12"><path d="M2.5 6.2 5 8.7 9.6 3.4" '
             'fill="none" stroke="{color}" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>')


def _check_image(color: str) -> str:
    """Path of a check-mark SVG in ``color`` (style sheets take images from files only)."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / f"speechrnn-gui-check-{color.lstrip('#')}.svg"
    try:
        if not path.exists():
            path.write_text(CHECK_SVG.format(color=color), encoding="utf-8")
    except OSError:
        return ""
    return path.as_posix()


def _dark_checkboxes(colors: PlotColors) -> str:
    """Fusion outlines check boxes with a darker shade of the window colour: invisible on a dark
    palette. Draw them with a visible border (and our own check mark, which a styled box needs)."""
    image = _check_image("#ffffff")
    image_rule = f" image: url({image});" if image else ""
    return f"""
QCheckBox::indicator {{ width: 12px; height: 12px; border-radius: 3px; }}
QCheckBox::indicator:unchecked {{ border: 1px solid {colors.muted}; background: #0d1117; }}
QCheckBox::indicator:checked {{ border: 1px solid #1f6feb; background: #1f6feb;{image_rule} }}
QCheckBox::indicator:unchecked:disabled {{ border-color: #484f58; }}
QCheckBox::indicator:checked:disabled {{ border-color: #30363d; background: #30363d; }}
"""


def style_sheet(colors: PlotColors) -> str:
    """Rules for widgets tagged with a ``role`` property (hints, banners, the big word, sidebar)."""
    banner_bg = "#3d1d20" if colors.dark else "#fff1f0"
    info_bg = "#14263d" if colors.dark else "#ddf4ff"
    side_bg = "#11161c" if colors.dark else "#f3f4f6"
    side_sel = "#1f6feb" if colors.dark else "#0969da"
    return f"""
QLabel[role="hint"] {{ color: {colors.muted}; }}
QLabel[role="muted"] {{ color: {colors.muted}; }}
QLabel[role="good"] {{ color: {colors.good}; font-weight: bold; }}
QLabel[role="warning"] {{ color: {colors.warning}; font-weight: bold; }}
QFrame[role="banner"] {{ background: {banner_bg}; border: 1px solid {colors.warning}; border-radius: 6px; }}
QFrame[role="info"] {{ background: {info_bg}; border: 1px solid {colors.accent}; border-radius: 6px; }}
QFrame[role="card"] {{ border: 1px solid {colors.grid}; border-radius: 8px; }}
QListWidget[role="sidebar"] {{ background: {side_bg}; border: none; outline: none; padding-top: 6px; }}
QListWidget[role="sidebar"]::item {{ padding: 8px 10px; margin: 2px 6px; border-radius: 6px; }}
QListWidget[role="sidebar"]::item:selected {{ background: {side_sel}; color: #ffffff; }}
QListWidget[role="sidebar"]::item:hover:!selected {{ background: {colors.grid}; }}
""" + (_dark_checkboxes(colors) if colors.dark else "")


def apply_theme(app: QApplication, mode: str) -> PlotColors:
    """Use the Fusion style with the light or dark palette for ``mode``; return its plot colours."""
    colors = resolve(mode)
    app.setStyle("Fusion")
    app.setPalette(_palette(colors))
    app.setStyleSheet(style_sheet(colors))
    return colors
