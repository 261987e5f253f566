"""A new user's whole flow, through the window only: record ten takes of a new word, train a model
on them plus the synthetic voices the Train panel offers, use it, and say the word to it.

The "speaker" is a set of text-to-speech voices (espeak-ng / flite) that the Train panel's
synthetic data never uses; the takes reach the app through the microphone's ring buffer, as the
audio callback would write them (see ``RingMicrophone``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from gui.panels.record import State

pytestmark = pytest.mark.slow

WORD = "banana"
TAKES = 10
RATE = 16000
SYNTH_PER_WORD = 24  # synthetic clips of the new word; the 25 unknown words get a quarter of that each
EPOCHS = 60  # small data makes short epochs (~0.2 s here): 60 of them take ~15 s on one core
HIDDEN = 64
CHUNK_MS = 40  # what the test "microphone" delivers at a time while the Listen panel listens
# A limit for a hang, not a speed goal: the whole test took 130 s on a 2-core AMD machine, where
# synthesis + training once ran past the 120 s this limit used to be
TRAIN_TIMEOUT_MS = 600_000


def user_voices(count: int, avoid: set[str]):
    """``count`` voices, both engines, none of them in ``avoid`` (the Train panel's synthetic voices)."""
    from speechrnn.synth import list_voices, voice_order

    voices = [v for v in voice_order(list_voices(), seed=12345) if v.voice_id not in avoid]
    flite = [v for v in voices if v.engine == "flite"]
    espeak = [v for v in voices if v.engine != "flite"]
    mixed = [v for pair in zip(espeak, flite) for v in pair] + espeak[len(flite):] + flite[len(espeak):]
    return mixed[:count]


def spoken(voice, take: int) -> np.ndarray:
    """``WORD`` said by ``voice`` at a natural level, with room around it (what the mic hears)."""
    import tempfile
    from pathlib import Path

    from speechrnn.synth import SynthConfig, render_clip

    config = SynthConfig(words=(WORD,), seed=777, peak_dbfs_range=(-8.0, -4.0))
    with tempfile.TemporaryDirectory() as tmp:
        clip, _ = render_clip(voice, WORD, take, config, Path(tmp))
    nonzero = np.flatnonzero(np.abs(clip) > 1e-4)
    word = clip[nonzero[0] : nonzero[-1] + 1] if nonzero.size else clip
    rng = np.random.default_rng(take)
    before = RATE // 4
    after = max(RATE // 2, round(1.8 * RATE) - before - word.size)  # a take records 1.5 s: fill it
    room = rng.standard_normal(before + word.size + after).astype(np.float32) * 1e-3  # a quiet room
    room[before : before + word.size] += word
    return room


def panel_synth_voices(per_word: int) -> set[str]:
    """The voices the Train panel's synthetic data uses for the new word and the unknown words."""
    from speechrnn.synth import SynthConfig, list_voices, plan

    voices = list_voices()
    ids = {v.voice_id for v, _ in plan(SynthConfig(words=(WORD,), per_word=per_word), voices)}
    return ids | {v.voice_id for v, _ in plan(SynthConfig(words=("x",), per_word=max(1, per_word // 4)), voices)}


def test_record_a_new_word_train_use_and_hear_it(qtbot, ring_microphone, fast_countdown, window, monkeypatch):
    import gui.panels.train as train_module

    monkeypatch.setattr(train_module, "training_threads", lambda: 1)  # the app leaves one core to the window
    started = time.monotonic()
    held_out = 2  # takes the model never trains on, said to the Listen panel at the end
    voices = user_voices(TAKES + held_out, panel_synth_voices(SYNTH_PER_WORD))
    takes = [spoken(voice, i) for i, voice in enumerate(voices)]

    # ---------------------------------------------------------------- Record: ten takes, default folder
    window.show_panel("record")
    record = window.panels["record"]
    folder = record.folder
    assert record.folder_edit.text() and record.takes_spin.value() == TAKES  # defaults a new user keeps
    record.words_edit.setText(WORD)
    assert record.auto_check.isChecked()
    record.start_button.click()
    mic = ring_microphone()
    for take in takes[:TAKES]:
        qtbot.waitUntil(lambda: record.state == State.RECORDING, timeout=10000)
        mic.write(take)
        qtbot.waitUntil(lambda: record.state != State.RECORDING, timeout=10000)
        assert record.last_path is not None, record.detail_label.text()  # the take had speech: saved
    qtbot.waitUntil(lambda: record.state == State.IDLE, timeout=10000)
    assert record.prompt_label.text() == "Done!"
    saved = sorted((folder / WORD).glob("*.wav"))
    assert len(saved) == TAKES
    assert record.tree.topLevelItem(0).text(0) == WORD and record.tree.topLevelItem(0).text(1) == str(TAKES)

    # ---------------------------------------------------------------- Train: recordings + synthetic voices
    window.show_panel("train")
    train = window.panels["train"]
    assert train.recordings_edit.text() == str(folder)  # the Record panel's folder, nothing to type
    assert f"{WORD} ({TAKES})" in train.recordings_info.text()
    assert train.use_recordings.isChecked() and train.use_synth.isChecked()  # what the panel offers
    assert train.vocab_combo.currentData() == "recorded" and train.unknown_check.isChecked()
    assert train.start_combo.currentData() == "commands"  # by default the word learns on that network ...
    # ... a GRU 2x128; a small new network keeps this test short (~15 s of training on one core)
    train.start_combo.setCurrentIndex(train.start_combo.findData(""))
    train.synth_spin.setValue(SYNTH_PER_WORD)
    train.hidden_spin.setValue(HIDDEN)
    train.layers_spin.setValue(1)
    train.epochs_spin.setValue(EPOCHS)
    # Without a noise folder or Speech Commands, noise mixing uses generated white/pink noise at
    # 0-20 dB SNR: too hard for ~100 clips in 60 short epochs (the network stays at chance).
    train.aug_noise.setChecked(False)
    train.start_button.click()
    assert train.running, window.last_error
    qtbot.waitUntil(lambda: not train.running, timeout=TRAIN_TIMEOUT_MS)
    assert window.last_error is None, window.last_error
    assert train.result is not None and train.run_view.use_button.isVisible()
    from speechrnn.checkpoint import load_checkpoint

    trained = load_checkpoint(train.result.best_path).data["per_source"]["train"]
    assert trained.get(Path(folder).name, 0) >= TAKES // 2  # my takes train: split by take, not by speaker
    trained_s = time.monotonic() - started

    # ---------------------------------------------------------------- Use this model -> Listen
    with qtbot.waitSignal(window.ctx.model.changed, timeout=30000):
        train.run_view.use_button.click()
    assert window.current_key == "listen"
    listen = window.panels["listen"]
    qtbot.waitUntil(lambda: listen.recognizer is not None and WORD in listen.recognizer.labels, timeout=30000)
    assert listen.recognizer.labels == window.ctx.model.labels
    assert set(listen.recognizer.labels) == {"_silence_", "_unknown_", WORD}
    assert WORD in listen.vocab_label.text() and "(1 word)" in window.model_label.text()
    assert listen.listening and listen.reader is not None

    # ---------------------------------------------------------------- say the word (held-out voices)
    word_index = listen.recognizer.labels.index(WORD)
    peaks = []
    chunk = RATE * CHUNK_MS // 1000
    for take in takes[TAKES:]:
        best = 0.0
        for start in range(0, take.size + RATE // 2, chunk):  # in real time, as a microphone delivers it
            piece = take[start : start + chunk]
            mic.write(piece if piece.size == chunk else np.zeros(chunk, np.float32))
            qtbot.wait(CHUNK_MS)
            best = max(best, float(listen.recognizer.posteriors[word_index]))
        peaks.append(best)
    heard = [d.label for d in listen.detections]
    # The word must win for a held-out voice: detected, or at least the most probable of the three
    # classes (above 0.5) at some moment.
    assert WORD in heard or max(peaks) > 0.5, (heard, peaks)
    assert all(label == WORD for label in heard), heard  # and nothing else is reported
    if WORD in heard:
        assert listen.word_label.text() == WORD
    print(f"trained in {trained_s:.1f} s; held-out peaks {peaks}; detections {heard}")
