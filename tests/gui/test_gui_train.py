"""Train panel: the form becomes library configs; training runs off the GUI thread; Use this model."""

from __future__ import annotations

import http.server
import shutil
import threading
import time

import pytest
from gui_support import SPEECH_COMMANDS, train_panel

from gui.settings import Settings


@pytest.fixture
def recordings(tmp_path):
    """A dataset folder like the Record panel makes: six words, two speakers."""
    folder = tmp_path / "recordings"
    shutil.copytree(SPEECH_COMMANDS, folder)
    return folder


def test_the_form_becomes_library_configs(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    assert "yes (2)" in panel.recordings_info.text()
    panel.cell_combo.setCurrentIndex(panel.cell_combo.findData("lstm"))
    panel.hidden_spin.setValue(64)
    panel.layers_spin.setValue(1)
    panel.epochs_spin.setValue(7)
    panel.aug_spec.setChecked(False)
    panel.silence_check.setChecked(False)
    panel.use_speech_commands.setChecked(True)
    panel.version_combo.setCurrentIndex(panel.version_combo.findData("v1"))
    request = panel.build_request()
    assert request.recordings == recordings
    assert request.data.sources == (str(recordings), "speech-commands:v1")
    assert request.data.words == ("nine", "no", "one", "three", "two", "yes")
    assert request.data.include_unknown is True and request.data.include_silence is False
    # six own words: _silence_ and _unknown_ each get about one word's worth of clips (not 10 % of all)
    assert request.data.unknown_pct == request.data.silence_pct == pytest.approx(100 / 6)
    assert (request.model.cell, request.model.hidden, request.model.layers) == ("lstm", 64, 1)
    assert request.train.epochs == 7
    assert request.augment.noise and request.augment.shift and not request.augment.spec_augment
    assert request.augment.room and request.augment.gain and not request.augment.speed  # AugmentConfig's defaults
    panel.aug_room.setChecked(False)
    panel.aug_speed.setChecked(True)  # every family is on the form
    assert not panel.build_request().augment.room and panel.build_request().augment.speed
    # named by its words, network and day (issue 12): nine+no+one+3-lstm1x64-20261201
    day = time.strftime("%Y%m%d")
    assert request.out_dir.parent == tmp_path / "runs" and request.out_dir.name == f"nine+no+one+3-lstm1x64-{day}"

    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("12"))
    assert panel.build_request().data.task == "12" and panel.build_request().data.words is None
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("typed"))
    panel.words_edit.setText("yes, no")
    assert panel.build_request().data.words == ("yes", "no")


def test_a_word_taken_by_one_speaker_asks_for_other_voices(qtbot, window, recordings, tmp_path):
    """Takes of a word all by one person are heard in far fewer new voices (measured: 66–69 against 79–84 %
    with three people's): the recordings line says so, and its tooltip says why; two speakers' takes
    (the fixture's) get no such note."""
    from gui.panels.train import ONE_SPEAKER_NOTE

    panel = train_panel(window, recordings, tmp_path)
    assert ONE_SPEAKER_NOTE not in panel.recordings_info.text() and not panel.recordings_info.toolTip()
    yes = sorted((recordings / "yes").glob("*.wav"))
    for path in yes[1:]:  # now only the first clip's speaker says "yes"
        path.unlink()
    panel._update_recordings()
    assert panel.recordings_info.text().endswith(ONE_SPEAKER_NOTE)
    assert "Speaker" in panel.recordings_info.toolTip() and "66–69 %" in panel.recordings_info.toolTip()
    (tmp_path / "empty").mkdir()
    panel.recordings_edit.setText(str(tmp_path / "empty"))
    panel._update_recordings()  # no takes: no note, and no tooltip left over
    assert ONE_SPEAKER_NOTE not in panel.recordings_info.text() and not panel.recordings_info.toolTip()


def test_other_speech_kept_from_listen_trains_as_unknown_not_as_a_word(qtbot, window, recordings, tmp_path):
    # Listen's "Wrong: keep as other speech" writes recordings/_unknown_/heard_nohash_N.wav
    (recordings / "_unknown_").mkdir()
    shutil.copy(next((recordings / "no").glob("*.wav")), recordings / "_unknown_" / "heard_nohash_0.wav")
    panel = train_panel(window, recordings, tmp_path)
    assert panel.recordings_info.text().endswith("; other speech to reject (1)")
    request = panel.build_request()
    assert request.data.words == ("nine", "no", "one", "three", "two", "yes")  # not "_unknown_"
    assert request.data.sources[0] == str(recordings)  # its _unknown_ folder trains as _unknown_


def test_new_words_start_from_the_commands_network_by_default_and_it_fixes_cell_and_size(
        qtbot, window, recordings, tmp_path):
    from gui.panels.train import DEFAULT_START_FROM
    from speechrnn.custom_word import DETECTION_THRESHOLD, SYNTH_VOICES_PER_WORD
    from speechrnn.bundled import bundled_model_path
    from speechrnn.checkpoint import load_checkpoint

    panel = train_panel(window, recordings, tmp_path)
    base = load_checkpoint(bundled_model_path(DEFAULT_START_FROM))
    assert DEFAULT_START_FROM == "commands" and window.ctx.settings.train_form.get("start_from") is None
    panel._restore_form()  # a first start: nothing remembered
    assert panel.start_combo.currentData() == "commands"
    assert not panel.cell_combo.isEnabled() and not panel.hidden_spin.isEnabled()
    assert (panel.cell_combo.currentData(), panel.hidden_spin.value(), panel.layers_spin.value()) == ("gru", 128, 2)
    request = panel.build_request()
    assert request.features == base.feature_config and request.train.init_from == str(base.path)
    assert (request.model.cell, request.model.hidden, request.model.input_dim) == ("gru", 128, 13)
    # a custom word as it was measured (on this network, with other words) records its threshold
    assert panel.use_negatives.isChecked() and request.train.detection_threshold == DETECTION_THRESHOLD == 0.7
    assert panel.synth_spin.value() == SYNTH_VOICES_PER_WORD == 40
    panel.use_negatives.setChecked(False)
    assert panel.build_request().train.detection_threshold is None  # not measured: the recognizer's default
    panel.use_negatives.setChecked(True)

    panel.start_combo.setCurrentIndex(panel.start_combo.findData(""))  # a new network
    assert panel.cell_combo.isEnabled() and panel.hidden_spin.isEnabled() and panel.layers_spin.isEnabled()
    panel.hidden_spin.setValue(64)
    request = panel.build_request()
    assert request.features.n_mfcc == 40 and not request.train.init_from and request.model.hidden == 64
    assert request.train.detection_threshold is None
    panel.shutdown()
    assert Settings().train_form["start_from"] == ""  # remembered


def test_a_new_network_can_have_the_spectral_front_end_and_a_bundled_one_keeps_its_own(
        qtbot, window, recordings, tmp_path):
    """The front-end the Commands model was rebuilt with (stop 44) is a choice for a new network, on
    unless the form saved says otherwise (measured: more of a custom word heard, half as many other words
    taken); starting from a bundled network shows that network's, greyed."""
    import torch

    from speechrnn.bundled import bundled_model_path
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.model import SPECTRAL_CONV_CHANNELS, RNNClassifier

    panel = train_panel(window, recordings, tmp_path)  # a new network, after the Commands one was shown
    assert panel.spectral_check.isEnabled() and panel.spectral_check.isChecked()
    panel.spectral_check.setChecked(False)
    assert panel.build_request().model.spectral_conv_channels == 0
    panel.spectral_check.setChecked(True)
    request = panel.build_request()
    assert request.model.spectral_conv_channels == SPECTRAL_CONV_CHANNELS == 16
    assert request.model.spectral_bands == request.features.n_mels
    network = RNNClassifier(request.model)  # a valid network, its GRU fed the MFCC and the front-end's outputs
    assert network.spectral is not None and request.model.rnn_input_dim > request.features.feature_dim
    logits, _ = network(torch.zeros(1, 30, request.features.feature_dim))
    assert logits.shape == (1, request.model.num_classes)
    panel.shutdown()
    assert Settings().train_form["spectral"] is True  # remembered
    panel.spectral_check.setChecked(False)
    panel._restore_form()
    assert panel.spectral_check.isChecked()
    panel.ctx.settings.train_form = {"start_from": ""}  # a new network in a form saved before the box existed
    panel._restore_form()
    assert panel.start_combo.currentData() == "" and panel.spectral_check.isChecked()
    panel.ctx.settings.train_form = {"start_from": "", "spectral": False}
    panel._restore_form()
    assert not panel.spectral_check.isChecked() and panel.build_request().model.spectral_conv_channels == 0

    base = load_checkpoint(bundled_model_path("commands")).model_config
    assert base.spectral_conv_channels  # the Commands network has one: shown checked and fixed
    panel.start_combo.setCurrentIndex(panel.start_combo.findData("commands"))
    assert panel.spectral_check.isChecked() and not panel.spectral_check.isEnabled()
    assert panel.build_request().model.spectral_conv_channels == base.spectral_conv_channels
    if panel.start_combo.findData("digits") >= 0:  # the digits network has none
        panel.start_combo.setCurrentIndex(panel.start_combo.findData("digits"))
        assert not panel.spectral_check.isChecked() and not panel.spectral_check.isEnabled()
        assert panel.build_request().model.spectral_conv_channels == 0


def test_the_command_line_trains_a_custom_word_as_the_panel_does(qtbot, window, recordings, tmp_path, monkeypatch):
    """`speechrnn train --data TAKES --words ... --init-from commands` is the panel's measured recipe:
    the same voices, other words, class shares, epochs, network and recorded threshold."""
    from speechrnn.cli import train as cli_train
    from speechrnn.cli.main import build_parser
    from speechrnn.custom_word import SYNTH_VOICES_PER_WORD

    monkeypatch.setattr("speechrnn.synth.find_engines", lambda *a: ["espeak-ng"])  # the voices' default needs one
    panel = train_panel(window, recordings, tmp_path)
    panel._restore_form()  # a first start: the defaults
    panel.use_synth.setEnabled(True)
    panel.use_synth.setChecked(True)
    request = panel.build_request()
    words = ",".join(request.data.words)
    args = build_parser().parse_args(["train", "--data", str(recordings), "--words", words, "--init-from", "commands",
                                      "--out", str(tmp_path / "cli-run")])
    data, features, model, augment, config, synth, negatives = cli_train._configs(args)

    assert data.sources == (str(recordings), str(synth.out_dir))
    assert request.data.sources == (str(recordings), str(request.synth.out_dir))
    for field in ("words", "silence_enabled", "unknown_enabled", "silence_pct", "unknown_pct"):
        assert getattr(data, field) == getattr(request.data, field), field
    assert (synth.words, synth.per_word, synth.unknown_words) == (
        request.synth.words, request.synth.per_word, request.synth.unknown_words)
    assert synth.per_word == SYNTH_VOICES_PER_WORD
    assert (features, model, augment) == (request.features, request.model, request.augment)
    for field in ("epochs", "init_from", "detection_threshold", "objective", "lr", "batch_size", "seed"):
        assert getattr(config, field) == getattr(request.train, field), field
    assert config.detection_threshold is not None and config.epochs == panel.epochs_spin.value()
    for field in ("bundled", "confusables_per_word", "clips_per_confusable", "unknown_pct"):
        assert getattr(negatives, field) == getattr(request.negatives, field), field
    # the panel names the noise folder (its Noise field), the command line adds the same bundled one
    from speechrnn.negatives import bundled_noise_dir

    assert request.data.noise_dirs == (str(bundled_noise_dir()),) and negatives.noise and not data.noise_dirs
    # from a new network (no --init-from): the same features, network (front-end included) and epochs
    panel.start_combo.setCurrentIndex(panel.start_combo.findData(""))
    request = panel.build_request()
    args = build_parser().parse_args(["train", "--data", str(recordings), "--words", words,
                                      "--out", str(tmp_path / "cli-new")])
    _, features, model, _, config, _, _ = cli_train._configs(args)
    assert (features, model) == (request.features, request.model) and model.spectral_conv_channels
    assert config.epochs == request.train.epochs and not config.init_from and not request.train.init_from


def test_takes_of_a_models_own_words_adapt_that_model_to_the_voice(qtbot, window, recordings, tmp_path, monkeypatch):
    """Takes of words the start model already knows (here digits, from the Digits network) adapt it:
    no synthetic voices or similar words, the adaptation's epochs and rate, the model's own threshold;
    the panel says so, and `speechrnn train` with the same words builds the same run. Any other word
    in the vocabulary makes it a custom-word run again."""
    from speechrnn.cli import train as cli_train
    from speechrnn.cli.main import build_parser
    from speechrnn.custom_word import DETECTION_THRESHOLD, START_FROM_EPOCHS
    from speechrnn.training.base_network import base_network
    from speechrnn.voice_adaptation import ADAPT_EPOCHS, ADAPT_LR

    monkeypatch.setattr("speechrnn.synth.find_engines", lambda *a: ["espeak-ng"])  # voices would be on
    for word in ("yes", "no"):
        shutil.rmtree(recordings / word)
    panel = train_panel(window, recordings, tmp_path)
    panel._restore_form()
    panel._synth_engines = True
    panel.use_synth.setChecked(True)
    panel.start_combo.setCurrentIndex(panel.start_combo.findData("digits"))
    panel._update_recordings()
    assert panel.vocabulary_words() == ("nine", "one", "three", "two")
    assert not panel.adapt_note.isHidden() and "the Digits model already knows" in panel.adapt_note.text()
    assert not panel.use_synth.isEnabled() and panel.epochs_spin.value() == ADAPT_EPOCHS
    assert "adapts it to your voice" in panel.use_synth.toolTip()
    request = panel.build_request()
    base = base_network("digits")
    assert request.synth is None and request.data.sources == (str(recordings),)
    assert request.negatives.bundled and request.negatives.confusables_per_word == 0
    assert (request.train.epochs, request.train.lr, request.train.init_from) == (ADAPT_EPOCHS, ADAPT_LR, str(base.path))
    assert request.train.detection_threshold == base.detection_threshold  # the model's own (None: the default)

    args = build_parser().parse_args(["train", "--data", str(recordings), "--words", "nine,one,three,two",
                                      "--init-from", "digits", "--out", str(tmp_path / "cli-run")])
    data, features, model, augment, config, synth, negatives = cli_train._configs(args)
    assert synth is None and data.sources == request.data.sources and data.words == request.data.words
    assert (features, model) == (request.features, request.model)
    for field in ("epochs", "lr", "init_from", "detection_threshold"):
        assert getattr(config, field) == getattr(request.train, field), field
    assert (negatives.bundled, negatives.confusables_per_word) == (True, 0)

    # a word the Digits model does not know: a custom-word run, as before
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("typed"))
    panel.words_edit.setText("one, lights")
    assert panel.adapt_note.isHidden() and panel.use_synth.isEnabled()
    assert "adapts" not in panel.use_synth.toolTip()
    assert panel.epochs_spin.value() == START_FROM_EPOCHS
    request = panel.build_request()
    assert request.synth is not None and request.negatives.confusables_per_word > 0
    assert request.train.detection_threshold == DETECTION_THRESHOLD and request.train.lr != ADAPT_LR
    args = build_parser().parse_args(["train", "--data", str(recordings), "--words", "one,lights",
                                      "--init-from", "digits", "--out", str(tmp_path / "cli-run2")])
    *_, config, synth, negatives = cli_train._configs(args)
    assert synth is not None and negatives.confusables_per_word > 0 and config.epochs == START_FROM_EPOCHS


def test_a_form_saved_before_the_voices_default_changed_takes_the_new_default(qtbot, window, recordings, tmp_path):
    """Every form is saved on quitting: 120 voices in a form of version 1 was the old default, not a choice."""
    from gui.panels.train import FORM_VERSION, OLD_SYNTH_VOICES_DEFAULT
    from speechrnn.custom_word import SYNTH_VOICES_PER_WORD

    panel = train_panel(window, recordings, tmp_path)
    for saved, shown in (({"synth_per_word": OLD_SYNTH_VOICES_DEFAULT}, SYNTH_VOICES_PER_WORD),
                         ({"synth_per_word": 80}, 80),  # a choice: kept
                         ({"synth_per_word": OLD_SYNTH_VOICES_DEFAULT, "form_version": FORM_VERSION},
                          OLD_SYNTH_VOICES_DEFAULT)):  # chosen since: kept
        window.ctx.settings.train_form = saved
        panel._restore_form()
        assert panel.synth_spin.value() == shown, saved
    assert panel.form()["form_version"] == FORM_VERSION and panel.form()["synth_per_word"] == 120  # a choice
    panel.synth_spin.setValue(SYNTH_VOICES_PER_WORD)
    assert "synth_per_word" not in panel.form()  # the default is not saved: it follows a new default


def test_synthetic_voices_add_my_words_and_unknown_words(qtbot, window, recordings, tmp_path):
    from speechrnn.recipes import UNKNOWN_WORDS

    panel = train_panel(window, recordings, tmp_path)
    panel.use_synth.setChecked(True)
    request = panel.build_request()
    assert request.synth.words == ("nine", "no", "one", "three", "two", "yes")
    assert str(request.synth.out_dir) in request.data.sources
    assert "yes" not in request.synth.unknown_words and "bed" in request.synth.unknown_words
    assert set(request.synth.unknown_words) < set(UNKNOWN_WORDS)
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("digits"))
    panel.start()
    assert window.last_error is not None and "synthetic voices" in window.last_error[1]


def test_missing_choices_are_explained(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    panel.use_recordings.setChecked(False)
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("all"))
    panel.start_button.click()
    assert panel.task is None
    assert window.last_error[0] == "Cannot start training" and "source" in window.last_error[1]
    panel.recordings_edit.setText(str(tmp_path / "empty"))
    panel._update_recordings()
    panel.use_recordings.setChecked(True)
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("recorded"))
    panel.start_button.click()
    assert "record some words" in window.last_error[1]


def test_the_form_is_checked_as_it_is_when_start_is_pressed(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    # a typed word is a folder name: "../x" would write the voices' clips outside the runs folder
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("typed"))
    panel.use_synth.setChecked(True)
    panel.words_edit.setText("lights, ../x")
    panel.start_button.click()
    assert panel.task is None and "'../x': a word may hold letters" in window.last_error[1]
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs").exists()
    panel.words_edit.setText("lights on, music")
    assert panel.build_request().data.words == ("lights_on", "music")  # a phrase is its folder name
    # a recordings folder typed (or emptied on disk) since it was counted: refused now, not after synthesis
    panel.recordings_edit.setText(str(tmp_path / "nowhere"))  # no editingFinished: the count is stale
    panel.start_button.click()
    assert panel.task is None and window.last_error[1].endswith("nowhere: no recordings in this folder")
    panel.recordings_edit.setText(str(recordings))
    panel.noise_edit.setText(str(tmp_path / "no_noise"))
    panel.start_button.click()
    assert panel.task is None and window.last_error[1].endswith("no_noise: noise folder does not exist")


def test_a_run_that_fails_before_any_epoch_leaves_no_synthetic_clips(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    panel.use_synth.setChecked(True)
    panel.synth_spin.setValue(panel.synth_spin.minimum())
    panel.hidden_spin.setValue(16)
    panel.layers_spin.setValue(1)
    request = panel.build_request()
    shutil.rmtree(recordings)  # gone by the time the data is read: the run fails after the voices spoke
    panel.run_request(request)
    qtbot.waitUntil(lambda: not panel.running, timeout=120000)
    assert window.last_error[0] == "Training failed" and "does not exist" in window.last_error[1]
    assert request.synth is not None and not request.synth.out_dir.exists()


def test_epochs_follow_the_size_of_the_data_until_chosen(qtbot, window, recordings, tmp_path):
    from gui.panels.train import DEFAULT_EPOCHS
    from speechrnn.custom_word import SMALL_DATA_EPOCHS, START_FROM_EPOCHS

    panel = train_panel(window, recordings, tmp_path)
    assert panel.epochs_spin.value() == SMALL_DATA_EPOCHS  # my words only: short epochs, many of them
    panel.start_combo.setCurrentIndex(panel.start_combo.findData("commands"))
    assert panel.epochs_spin.value() == START_FROM_EPOCHS  # on the Commands network: more of them
    panel.start_combo.setCurrentIndex(panel.start_combo.findData(""))
    assert panel.epochs_spin.value() == SMALL_DATA_EPOCHS
    panel.use_speech_commands.setChecked(True)
    assert panel.epochs_spin.value() == DEFAULT_EPOCHS
    assert panel.run_view.acc_plot.viewRange()[0][1] >= DEFAULT_EPOCHS  # the empty curves span the run
    panel.epochs_spin.setValue(7)
    panel.use_speech_commands.setChecked(False)
    assert panel.epochs_spin.value() == 7  # the user's choice stays


def test_augmentation_boxes_start_as_augment_config_defaults_and_cover_every_family(qtbot, window):
    from dataclasses import fields

    from speechrnn.data.augment import AugmentConfig

    panel = window.panel("train")
    defaults = AugmentConfig()
    assert {field: check.isChecked() for field, check in panel.aug_checks.items()} == {
        field: getattr(defaults, field) for field in panel.aug_checks}
    switches = {f.name for f in fields(AugmentConfig) if f.type in (bool, "bool")}
    assert switches == set(panel.aug_checks)  # a new augmentation family gets a box


def test_choices_are_remembered(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    panel.cell_combo.setCurrentIndex(panel.cell_combo.findData("rnn"))
    panel.epochs_spin.setValue(3)
    panel.folder_list.addItem(str(tmp_path))
    panel.aug_speed.setChecked(True)
    panel.shutdown()
    form = Settings().train_form
    assert form["cell"] == "rnn" and form["epochs"] == 3 and form["folders"] == [str(tmp_path)]
    assert form["aug_speed"] is True


@pytest.mark.slow
def test_training_finishes_and_use_this_model_switches_listen(qtbot, no_microphone, window, recordings, tmp_path):
    """Train on a tiny dataset from the panel, keep the window responsive, then use the model."""
    window.show_panel("listen")
    listen = window.panels["listen"]
    qtbot.waitUntil(lambda: listen.recognizer is not None, timeout=30000)
    panel = train_panel(window, recordings, tmp_path)
    panel.hidden_spin.setValue(16)
    panel.layers_spin.setValue(1)
    panel.epochs_spin.setValue(3)
    epochs = []
    panel.start_button.click()
    assert panel.running and not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    panel.task.epoch.connect(epochs.append)
    ticks = []  # the GUI thread keeps running its timers while the worker trains
    listen.timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    qtbot.waitUntil(lambda: not panel.running, timeout=300000)
    assert window.last_error is None, window.last_error
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert len(ticks) > 10
    assert panel.run_view.loss_plot.series["train_loss"][1] == [1, 2, 3]
    assert panel.result is not None and panel.result.best_path.exists()
    assert panel.run_view.result_frame.isVisible() and str(panel.result.best_path) in panel.run_view.result_label.text()
    assert "epoch 3/3" in panel.run_view.log_view.toPlainText()
    # the stream objective scores training on frames and validation on clips: the curves and the log say so
    assert "━ train (frames)" in panel.run_view.acc_plot.legend_html() and "━ val (clips)" in panel.run_view.loss_plot.legend_html()
    assert "every 10 ms frame" in panel.run_view.acc_plot.toolTip()
    log = panel.run_view.log_view.toPlainText().replace("\u00a0", " ").replace("\u2060", "")
    assert "frames: loss " in log and "val clips: loss " in log and "frames/s" in log
    # listed among the recent models (Models panel, the model choosers) before "Use this model"
    assert window.ctx.settings.recent_models[0] == str(panel.result.best_path.resolve())
    window.show_panel("models")
    assert window.panels["models"].recent.item(0).toolTip().startswith(str(panel.result.best_path.resolve()))
    window.show_panel("train")

    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        panel.run_view.use_button.click()
    assert window.ctx.model.path == panel.result.best_path
    assert window.current_key == "listen"
    qtbot.waitUntil(lambda: listen.bars.labels == ["_silence_", "_unknown_", "nine", "no", "one", "three",
                                                   "two", "yes"], timeout=30000)
    assert listen.recognizer.labels == window.ctx.model.labels


@pytest.mark.slow
def test_cancelling_training_keeps_a_resumable_checkpoint(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    panel.hidden_spin.setValue(16)
    panel.layers_spin.setValue(1)
    panel.epochs_spin.setValue(500)
    panel.start()
    qtbot.waitUntil(lambda: bool(panel.run_view.loss_plot.series["train_loss"][1]), timeout=300000)  # an epoch is done
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    assert "Cancelled" in panel.run_view.stage_label.text() and panel.result is None
    run = next((tmp_path / "runs").glob("*-gru1x16-*"))  # named by words, network and day
    assert (run / "last.pt").exists()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()


class _SlowArchive(http.server.BaseHTTPRequestHandler):
    """Serves an endless slow download (the cancel button must stop it)."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        try:
            for _ in range(10000):
                self.wfile.write(b"\0" * 65536)
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_speech_commands_download_shows_progress_and_cancels(qtbot, window, recordings, tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowArchive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SPEECHRNN_DOWNLOAD_URL", f"http://127.0.0.1:{server.server_address[1]}/")
        monkeypatch.setenv("SPEECHRNN_DATA_DIR", str(tmp_path / "data"))
        panel = train_panel(window, recordings, tmp_path)
        assert panel.download_status.text() == "not downloaded yet" and panel.download_button.isVisibleTo(panel)
        panel.download_button.click()
        assert panel.download_progress.isVisibleTo(panel) and panel.download_cancel.isVisibleTo(panel)
        qtbot.waitUntil(lambda: panel.download_progress.value() > 0 and "MB" in panel.download_progress.format(),
                        timeout=30000)
        panel.download_cancel.click()
        qtbot.waitUntil(lambda: panel.download_task is None, timeout=30000)
        assert not panel.download_progress.isVisibleTo(panel)
        assert panel.download_status.text() == "not downloaded yet"
        assert list((tmp_path / "data").glob("*.part"))  # kept: the next download resumes from here
    finally:
        server.shutdown()


# ------------------------------------------------------------------------------ issue 12, section 3
def test_a_run_is_named_by_its_words_network_and_day(qtbot, window, recordings, tmp_path):
    from gui.panels.train import run_name

    from speechrnn.bundled import bundled_model_path
    from speechrnn.checkpoint import load_checkpoint

    base = load_checkpoint(bundled_model_path("commands")).model_config  # custom words start from its network
    network = f"gru{base.layers}x{base.hidden}"
    panel = train_panel(window, recordings, tmp_path)
    day = time.strftime("%Y%m%d")
    panel.vocab_combo.setCurrentIndex(panel.vocab_combo.findData("typed"))
    panel.words_edit.setText("lights")
    assert panel.build_request().out_dir.name == f"lights-{network}-{day}"
    (tmp_path / "runs" / f"lights-{network}-{day}").mkdir(parents=True)  # trained earlier today: a new folder
    assert panel.build_request().out_dir.name == f"lights-{network}-{day}-2"
    assert run_name((), "12", "lstm", 1, 64, "20261201") == "commands12-lstm1x64-20261201"
    assert run_name(("a", "b"), "typed", "rnn", 3, 32, "20261201") == "a+b-rnn3x32-20261201"


def _epochs(val_losses, train_losses, val_accs):
    """EpochEnd rows; kept_epoch as the library's "best" rule keeps it (highest accuracy, then lower loss)."""
    rows = [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_acc": a}
            for i, (v, t, a) in enumerate(zip(val_losses, train_losses, val_accs))]
    for i, row in enumerate(rows):
        row["kept_epoch"] = max(rows[: i + 1], key=lambda r: (r["val_acc"], -r["val_loss"]))["epoch"]
    return rows


def test_overfitting_is_called_from_the_epoch_metrics():
    from gui.panels.train_run import overfitting_note

    rising = _epochs([0.9, 0.5, 0.7, 1.0, 1.5], [1.0, 0.6, 0.4, 0.2, 0.1], [0.6, 0.85, 0.86, 0.84, 0.8])
    assert overfitting_note(rising) == "overfitting after epoch 2: kept epoch 3"
    assert overfitting_note(rising[:4]) == ""  # only two epochs past the lowest point: too early to say
    still_learning = _epochs([0.9, 0.7, 0.6, 0.55, 0.5], [1.0, 0.8, 0.6, 0.5, 0.4], [0.6] * 5)
    assert overfitting_note(still_learning) == ""
    both_rising = _epochs([0.9, 0.5, 0.7, 1.0, 1.5], [1.0, 0.6, 0.7, 0.8, 0.9], [0.6] * 5)  # not overfitting:
    assert overfitting_note(both_rising) == ""  # training diverges too
    assert overfitting_note([{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 9)]) == ""  # no validation
    final = [{**row, "kept_epoch": row["epoch"], "keeps_final": True} for row in rising]  # TrainConfig.keep="final"
    assert overfitting_note(final) == ("overfitting after epoch 2: kept the last epoch, 5, "
                                       "since too few validation clips tell epochs apart")
    best_is_last = [{**row, "kept_epoch": row["epoch"]} for row in rising]  # validation accuracy still rising
    assert overfitting_note(best_is_last) == "overfitting after epoch 2: kept epoch 5"


def test_the_panel_says_when_it_overfits(qtbot, window, recordings, tmp_path):
    from speechrnn.events import EpochEnd

    panel = train_panel(window, recordings, tmp_path)
    for row in _epochs([0.9, 0.5, 0.7, 1.0, 1.5], [1.0, 0.6, 0.4, 0.2, 0.1], [0.6, 0.85, 0.86, 0.84, 0.8]):
        metrics = {k: v for k, v in row.items() if k not in ("epoch", "kept_epoch")}
        panel.run_view.add_epoch(EpochEnd(row["epoch"], 5, metrics, kept_epoch=row["kept_epoch"]))
    assert panel.run_view.overfit_label.isVisibleTo(panel)
    assert panel.run_view.overfit_label.text() == ("⚠ Overfitting after epoch 2 (validation loss rising while training loss falls): "
                                          "kept epoch 3.")
    assert panel.run_view.log_view.toPlainText().count("overfitting after epoch 2") == 1

    panel.run_view.history.clear()  # a run whose validation set is too small to choose an epoch by
    for row in _epochs([0.9, 0.5, 0.7, 1.0, 1.5], [1.0, 0.6, 0.4, 0.2, 0.1], [0.6, 0.85, 0.86, 0.84, 0.8]):
        metrics = {k: v for k, v in row.items() if k not in ("epoch", "kept_epoch")}
        panel.run_view.add_epoch(EpochEnd(row["epoch"], 5, metrics, kept_epoch=row["epoch"], keeps_final=True))
    assert panel.run_view.overfit_label.text().endswith(": kept the last epoch, 5, since too few validation clips tell "
                                               "epochs apart.")


def test_long_status_lines_and_warnings_do_not_move_the_layout(qtbot, window, recordings, tmp_path):
    from PySide6.QtWidgets import QPlainTextEdit, QSplitter

    panel = train_panel(window, recordings, tmp_path)
    window.resize(900, 600)
    qtbot.wait(50)
    splitter = panel.findChild(QSplitter)
    before = splitter.sizes()
    panel.run_view.stage_label.setText("Preparing data from " + ", ".join(f"/a/very/long/folder/{i}" for i in range(30)))
    panel.run_view.result_label.setText("<b>Finished — 97.0 % validation accuracy.</b><br>" + "/deep" * 60 + "/best.pt")
    panel.run_view.result_frame.show()
    panel.run_view.log("⚠ " + "a long warning " * 40)
    qtbot.wait(50)
    assert splitter.sizes() == before  # the form keeps its width
    assert panel.run_view.log_view.lineWrapMode() == QPlainTextEdit.LineWrapMode.WidgetWidth
    assert panel.run_view.log_view.horizontalScrollBar().maximum() == 0  # the warning wraps: nothing off the right edge


def test_the_legend_does_not_cover_the_curves(qtbot, window, recordings, tmp_path):
    panel = train_panel(window, recordings, tmp_path)
    for plot in (panel.run_view.loss_plot, panel.run_view.acc_plot):
        assert plot.plotItem.legend is None  # no legend box over the plot area
        assert "train" in plot.plotItem.titleLabel.text and "validation" in plot.plotItem.titleLabel.text


def test_the_accuracy_axis_labels_never_run_together(qtbot):
    from gui.theme import LIGHT
    from gui.widgets.plots import MIN_VALUE_LABEL_PX, CurvePlot

    plot = CurvePlot("Accuracy", "%", y_range=(0.0, 100.0))
    qtbot.addWidget(plot)
    plot.apply_colors(LIGHT)
    plot.show()
    shown = {}
    for height_px in (90, 240, 480):  # a 900x600 window's squeezed chart, then roomier ones
        plot.resize(320, height_px)
        qtbot.wait(20)
        axis = plot.getAxis("left")
        (low, high) = plot.getViewBox().viewRange()[1]
        labelled = [v for v in axis.tickValues(low, high, axis.height())[0][1] if 0 <= v <= 100]
        assert {0.0, 100.0} <= set(labelled)
        assert any(0 < v < 100 for v in labelled)  # a label inside: the ends' labels are cut at the edges
        spacing_px = plot.getViewBox().height() / (len(labelled) - 1)
        assert spacing_px >= MIN_VALUE_LABEL_PX or len(labelled) == 3  # finer only where it fits
        shown[height_px] = len(labelled)
    assert shown[90] == 3 and shown[240] > 3 and shown[480] > shown[240]  # as fine as the height allows


def test_a_wrapped_epoch_line_breaks_only_between_its_parts(qapp):
    from gui.panels.train_run import epoch_summary
    from speechrnn.events import TRAIN_ON_FRAMES, EpochEnd

    metrics = {"train_loss": 0.344, "val_loss": 1.576, "train_acc": 0.902, "val_acc": 0.25, "lr": 0.001,
               "samples_per_s": 38682}
    clip_parts = ["loss 0.344 / val 1.576", "accuracy 90.2 % / val 25.0 %", "lr 0.001", "38,682 clips/s"]
    frame_parts = ["frames: loss 0.344, accuracy 90.2 %", "val clips: loss 1.576, accuracy 25.0 %", "lr 0.001",
                   "38,682 frames/s"]  # the stream objective: what each side counts, never side by side
    _check_wrapped_parts("17:06:40  epoch 29/30  " + epoch_summary(EpochEnd(29, 30, metrics)), clip_parts, (30, 40, 55))
    framed = EpochEnd(29, 30, metrics, train_scored_on=TRAIN_ON_FRAMES)
    _check_wrapped_parts("17:06:40  epoch 29/30  " + epoch_summary(framed), frame_parts, (40, 55))


def _check_wrapped_parts(line: str, parts: list[str], widths_chars: tuple[int, ...]) -> None:
    from PySide6.QtGui import QFont, QFontMetricsF, QTextLayout, QTextOption

    font = QFont()
    for width_chars in widths_chars:  # a narrow log, as in a 900x600 window
        layout = QTextLayout(line, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        layout.beginLayout()
        rows = []
        while True:
            row = layout.createLine()
            if not row.isValid():
                break
            row.setLineWidth(width_chars * QFontMetricsF(font).averageCharWidth())
            rows.append(line[row.textStart() : row.textStart() + row.textLength()])
        layout.endLayout()
        shown = [" ".join(row.replace("\u00a0", " ").replace("\u2060", "").split()) for row in rows]
        assert len(rows) > 1
        for part in parts:  # each part lies whole on one row
            assert any(part in row for row in shown), (part, shown)
