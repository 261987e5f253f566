"""Issue 12, section 4: every panel is usable in a 900x600 window (nothing covered, cut or squashed)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel

SMALL = (900, 600)


def visible_widgets(panel, kind):
    return [w for w in panel.findChildren(kind) if w.isVisibleTo(panel) and w.window().isVisible()]


def small_panels(qtbot, window):
    """(key, panel) of every panel, each shown in turn in a 900x600 window."""
    window.resize(*SMALL)
    for key in ("listen", "record", "train", "evaluate", "models"):
        window.show_panel(key)
        qtbot.wait(50)
        yield key, window.panels[key]


def overlaps(a, b) -> bool:
    from PySide6.QtCore import QRect

    ra = QRect(a.mapTo(a.window(), a.rect().topLeft()), a.size())
    rb = QRect(b.mapTo(b.window(), b.rect().topLeft()), b.size())
    return ra.intersects(rb)


@pytest.mark.parametrize("key", ["listen", "record", "train", "evaluate", "models"])
def test_at_900x600_no_button_covers_a_drop_down(qtbot, no_microphone, window, key):
    window.resize(*SMALL)
    window.show_panel(key)
    panel = window.panels[key]
    qtbot.wait(100)
    assert window.width() == SMALL[0] and window.height() == SMALL[1]  # the window may be that small
    combos = [c for c in visible_widgets(panel, QComboBox) if c.width() > 0]
    buttons = [b for b in visible_widgets(panel, QAbstractButton) if b.width() > 0 and not isinstance(b.parent(),
                                                                                                       QComboBox)]
    for combo in combos:
        assert combo.width() >= combo.minimumSizeHint().width() - 1, combo.toolTip()
        for button in buttons:
            if button.parent() is combo or combo.isAncestorOf(button) or button.isAncestorOf(combo):
                continue
            assert not overlaps(combo, button), (combo.toolTip(), button.text())


def test_the_clip_light_shows_the_whole_word(qtbot, no_microphone, window):
    window.resize(*SMALL)
    window.show_panel("listen")
    light = window.panels["listen"].meter.light
    qtbot.wait(50)
    font = light.font()
    font.setBold(True)
    assert light.width() >= QFontMetrics(font).horizontalAdvance("CLIP") + 4


def test_labels_are_not_cut_at_900x600(qtbot, no_microphone, window):
    """Single-line labels get at least the width of their text."""
    for key, panel in small_panels(qtbot, window):
        for label in visible_widgets(panel, QLabel):
            text = label.text()
            if not text or label.wordWrap() or "<" in text or "\n" in text or label.width() <= 1:
                continue
            needed = label.fontMetrics().horizontalAdvance(text)
            assert label.width() >= needed - 2, (key, text, label.width(), needed)


def test_every_bar_of_a_twelve_word_model_is_labelled_at_900x600(qtbot, no_microphone, window):
    """The Listen bar chart at the smallest window: the digits model's 12 labels, none left out or touching."""
    window.resize(*SMALL)
    window.show_panel("listen")
    bars = window.panels["listen"].bars
    qtbot.waitUntil(lambda: len(bars.labels) == 12, timeout=30000)
    qtbot.wait(50)
    assert [text for _, text in bars.drawn_y_ticks()] == bars.labels
    rect, line = bars.plot_rect(), QFontMetrics(bars._small_font()).height()
    assert rect.height() / len(bars.labels) >= line  # a text line per bar
    widest = max(QFontMetrics(bars._small_font()).horizontalAdvance(label) for label in bars.labels)
    assert rect.left() >= widest  # the label column holds "_unknown_" whole


def test_at_900x600_with_the_no_microphone_banner_nothing_is_drawn_over_anything(qtbot, no_microphone, window):
    """The banner takes room: the Listen column scrolls rather than drawing the bars over the slider."""
    window.resize(*SMALL)
    window.show_panel("listen")
    panel = window.panels["listen"]
    qtbot.waitUntil(lambda: len(panel.bars.labels) == 12, timeout=30000)
    qtbot.wait(100)
    assert panel.banner.isVisible()
    column = [panel.word_label, panel.vocab_label, panel.bars, panel.sensitivity, panel.threshold_label,
              panel.room_gate, panel.history]
    for i, a in enumerate(column):
        assert a.height() >= a.minimumHeight()
        for b in column[i + 1 :]:
            assert not overlaps(a, b), (a.toolTip()[:30], b.toolTip()[:30])
    for view in (panel.waveform, panel.features, panel.memory):  # the y label is written whole
        metrics = QFontMetrics(view._small_font())
        assert view.plot_rect().height() >= metrics.horizontalAdvance(view.y_label), view.y_label


def test_at_900x600_no_panel_cuts_off_the_right_edge_of_its_scrolled_form(qtbot, no_microphone, window):
    """A scroll area that never scrolls sideways must be as wide as what it holds: else its right edge
    (the Train form's Download button, its path fields) is cut off with no way to reach it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    for key, panel in small_panels(qtbot, window):
        for area in visible_widgets(panel, QScrollArea):
            if area.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff or area.widget() is None:
                continue
            needed = area.widget().minimumSizeHint().width()
            assert needed <= area.viewport().width(), (key, needed, area.viewport().width())
