"""Train panel: custom words get the bundled other words and noise by default (issue 12, item 1)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from gui_support import SPEECH_COMMANDS, train_panel


@pytest.fixture
def panel(window, tmp_path):
    folder = tmp_path / "recordings"
    shutil.copytree(SPEECH_COMMANDS, folder)
    return train_panel(window, folder, tmp_path)


def test_the_noise_field_defaults_to_the_bundled_noise(panel):
    from speechrnn.negatives import bundled_noise_dir

    assert panel.noise_edit.text() == str(bundled_noise_dir())
    assert panel.build_request().data.noise_dirs == (str(bundled_noise_dir()),)


def test_other_words_are_ticked_and_reach_the_training_data(panel):
    from speechrnn.events import Finished
    from speechrnn.negatives import NegativesConfig, bundled_negatives_dir

    assert panel.use_negatives.isChecked()
    request = panel.build_request()
    assert isinstance(request.negatives, NegativesConfig)
    request = dataclasses.replace(request, negatives=dataclasses.replace(request.negatives, confusables_per_word=0))
    events = list(request.data_events(None))
    data = events[-1].result
    assert isinstance(events[-1], Finished)
    assert data.sources == request.data.sources + (str(bundled_negatives_dir()),)
    assert data.unknown_pct == NegativesConfig().unknown_pct  # several times as many other words as words


def test_other_words_can_be_switched_off_and_only_apply_to_own_words(panel):
    panel.use_negatives.setChecked(False)
    request = panel.build_request()
    assert request.negatives is None
    assert list(request.data_events(None))[-1].result == request.data
    panel.use_negatives.setChecked(True)
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("all"))
    assert panel.build_request().negatives is None  # not a vocabulary of the user's words
    panel.shutdown()
    from gui.settings import Settings

    assert Settings().train_form["negatives"] is True
