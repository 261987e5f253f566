"""The Listen panel's painted views: orientation, scrolling, envelope, bar colours (checked on pixels)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from gui.theme import LIGHT
from gui.widgets.live_views import BarsView, FrameView, WaveformView

RATE = 16000


def shown(view, qtbot, width=400, height=200):
    qtbot.addWidget(view)
    view.apply_colors(LIGHT)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    return view


def pixel(view, x: float, y: float) -> QColor:
    return view.grab().toImage().pixelColor(round(x), round(y))


def test_frame_view_draws_row_zero_at_the_bottom_and_the_newest_frame_on_the_right(qtbot):
    view = shown(FrameView("features", frames=100, hop_s=0.01, y_label="coefficient"), qtbot)
    view.set_colormap([(0.0, "#000000"), (1.0, "#ff0000")])
    view.set_levels(0.0, 1.0)
    frames = np.zeros((10, 4), dtype=np.float32)
    frames[:, 0] = 1.0  # coefficient 0 is loud in ten frames
    view.append_frames(frames)
    rect = view.plot_rect()
    bottom_right = pixel(view, rect.right() - 2, rect.bottom() - 2)
    top_right = pixel(view, rect.right() - 2, rect.top() + 2)
    left = pixel(view, rect.left() + 2, rect.bottom() - 2)
    assert bottom_right.red() > 200 and bottom_right.green() < 50  # coefficient 0, newest: red
    assert top_right.red() < 50  # coefficient 3: black
    assert left == QColor(LIGHT.background)  # 1 s ago nothing had arrived yet: background
    view.append_frames(np.zeros((95, 4), dtype=np.float32))  # 95 more frames: the loud ones scroll left
    assert pixel(view, rect.right() - 2, rect.bottom() - 2).red() < 50
    assert pixel(view, rect.left() + 0.03 * rect.width(), rect.bottom() - 2).red() > 200
    assert view.values.shape == (4, 100) and not np.isnan(view.values).any()  # 105 frames fill all 100


def test_waveform_view_envelope_follows_the_signal(qtbot):
    view = shown(WaveformView(RATE, seconds=3.0), qtbot)
    t = np.arange(RATE) / RATE
    view.append(np.zeros(2 * RATE, dtype=np.float32))
    view.append((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    view.refresh()
    low, high = view.envelope
    newest, oldest = slice(-100, None), slice(0, 100)
    assert high[newest].max() == pytest.approx(0.5, abs=0.01) and low[newest].min() == pytest.approx(-0.5, abs=0.01)
    assert np.abs(high[oldest]).max() == 0.0
    lit = view.values[:, -1] > 0  # rows lit in the newest column: amplitudes -0.5 .. 0.5
    assert 0.45 < lit.mean() < 0.55


def test_bars_turn_green_above_the_threshold(qtbot):
    view = shown(BarsView(), qtbot, 300, 200)
    view.set_labels(["_silence_", "yes", "no"])
    view.set_threshold(0.6)
    view.set_values(np.array([0.1, 0.8, 0.3]))
    rect = view.plot_rect()
    row = rect.height() / 3
    x = rect.left() + 0.2 * rect.width()
    assert pixel(view, x, rect.top() + 1.5 * row) == QColor(LIGHT.good)  # "yes" 0.8 >= 0.6
    assert pixel(view, x, rect.top() + 2.5 * row) == QColor(LIGHT.bar)  # "no" 0.3
    assert pixel(view, rect.left() + 0.5 * rect.width(), rect.top() + 2.5 * row) == QColor(LIGHT.background)
    view.set_values(np.array([0.9, 0.05, 0.05]))  # background is never detected: never green
    assert pixel(view, x, rect.top() + 0.5 * row) == QColor(LIGHT.bar)


def test_bar_labels_never_overlap_and_each_bar_names_itself(qtbot):
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QFontMetrics, QHelpEvent
    from PySide6.QtWidgets import QToolTip

    words = [f"word{i}" for i in range(35)]  # a 35-word Speech Commands model in a short view
    view = shown(BarsView(), qtbot, 300, 260)
    view.set_labels(["_silence_", "_unknown_"] + words)
    rect, line = view.plot_rect(), QFontMetrics(view._small_font()).height()
    drawn = [view.y_to_px(value, rect) for value, _ in view.drawn_y_ticks()]
    row = rect.height() / len(view.labels)
    assert row < line  # too short for every label ...
    stride = int(np.ceil(line / row))
    assert len(view.labels) // stride <= len(drawn) < len(view.labels)  # ... so every stride-th one is drawn
    assert all(b - a >= line for a, b in zip(drawn, drawn[1:]))  # top to bottom, no two touching
    values = np.linspace(0, 1, len(view.labels))
    view.set_values(values)
    for index in (0, 7, 36):  # any bar, labelled or not, is named by its tooltip
        y = rect.top() + (index + 0.5) * row
        assert view.row_at(y) == index
    assert view.row_at(rect.top() - 2) is None
    view.setToolTip("Class probabilities")
    point = QPoint(rect.left() + 5, round(rect.top() + 7.5 * row))
    view.event(QHelpEvent(QEvent.Type.ToolTip, point, view.mapToGlobal(point)))
    assert QToolTip.text().startswith(f"word5: {values[7]:.2f}")


def test_a_roomy_bar_chart_labels_every_bar(qtbot):
    view = shown(BarsView(), qtbot, 300, 300)
    view.set_labels(["_silence_", "_unknown_", "zero", "one", "two", "three", "four", "five", "six", "seven",
                     "eight", "nine"])
    assert [text for _, text in view.drawn_y_ticks()] == view.labels
