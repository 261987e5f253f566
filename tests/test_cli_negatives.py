"""`speechrnn train --words ...` trains with the bundled other words and noise; bad options are one line."""

from __future__ import annotations

import json

import pytest
import torch

from speechrnn import negatives as neg
from speechrnn.custom_word import DETECTION_THRESHOLD, class_share_pct
from speechrnn.negatives import NegativesConfig, bundled_negatives_dir, bundled_noise_dir
from test_cli_train import TINY, assert_one_line_error, cli
from test_train import make_tone_dataset


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_tone_dataset(tmp_path_factory.mktemp("negatives") / "data", speakers=6,
                             words={"lights": (300.0, 900.0), "alpha": (500.0, 500.0)})


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_data(run) -> dict:
    return json.loads((run / "config.json").read_text())["data"]


def test_custom_words_train_with_the_bundled_other_words_and_noise(tones, tmp_path, capsys):
    from speechrnn.synth import find_engines

    voices = ["--synth-voices", "2"] if find_engines() else []
    code, out, err = cli(capsys, "train", "--data", tones, "--words", "lights", "--confusables", "0", "--epochs", "1",
                         "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache", *voices, *TINY)
    assert code == 0, err
    data = run_data(tmp_path / "run")
    synth = tmp_path / "run" / "synthetic-voices"
    assert data["sources"] == [str(tones)] + ([str(synth)] if voices else []) + [str(bundled_negatives_dir())]
    assert data["noise_dirs"] == [str(bundled_noise_dir())] and data["unknown_pct"] == NegativesConfig().unknown_pct
    assert f"{bundled_negatives_dir().name}:" in out  # its clips are in the test split's report
    if voices:  # two voices say the word, one each of the other words (a quarter as many), split by take
        assert len(list((synth / "lights").glob("*.wav"))) == 2
        assert len(list((synth / "bed").glob("*.wav"))) == 1 and not (synth / "alpha").exists()
        assert (synth / "validation_list.txt").is_file()
        # a word of --words that the data lacks is learned from the voices alone, and the log says so
        code, _, err = cli(capsys, "train", "--data", tones, "--words", "lights,zebra", "--confusables", "0",
                           "--epochs", "1", "--out", tmp_path / "run", "--force", "--cache-dir", tmp_path / "cache",
                           "--synth-voices", "1", *TINY)
        assert code == 0, err
        assert "note: no clips of zebra in --data: learned from the synthetic voices alone" in err
        assert len(list((synth / "lights").glob("*.wav"))) == 1  # the earlier attempt's voices are gone


def test_a_custom_word_starts_from_the_bundled_commands_network(tones, tmp_path, capsys):
    from speechrnn.bundled import bundled_model_path
    from speechrnn.checkpoint import load_checkpoint

    base = load_checkpoint(bundled_model_path("commands"))
    small = TINY[TINY.index("--batch-size"):]  # no --hidden/--layers: the network is the commands model's
    code, out, err = cli(capsys, "train", "--data", tones, "--words", "lights", "--confusables", "0",
                         "--epochs", "1", "--init-from", "commands", "--out", tmp_path / "run",
                         "--cache-dir", tmp_path / "cache", "--synth-voices", "0", *small)
    assert code == 0, err
    run = load_checkpoint(tmp_path / "run" / "best.pt")
    assert run.feature_config == base.feature_config  # its features and network, not the defaults
    body = (base.model_config.cell, base.model_config.hidden, base.model_config.layers)
    assert (run.model_config.cell, run.model_config.hidden, run.model_config.layers) == body
    assert run.labels == ["_silence_", "_unknown_", "lights"]
    assert run.train_config["train"]["init_from"] == str(bundled_model_path("commands"))
    # a custom word as the Train panel trains it: the threshold measured on real strangers
    assert run.train_config["train"]["detection_threshold"] == DETECTION_THRESHOLD
    listen = f"listen: speechrnn listen {tmp_path / 'run' / 'best.pt'} (detection threshold {DETECTION_THRESHOLD:g}"
    assert listen in out
    code, out, err = cli(capsys, "info", tmp_path / "run" / "best.pt")
    assert code == 0, err
    started = next(line for line in out.splitlines() if line.strip().startswith("started from:"))
    assert str(bundled_model_path("commands")) in started and "speech_commands_sample (CC BY 4.0" in started

    code, _, err = cli(capsys, "train", "--data", tones, "--words", "lights", "--epochs", "1", "--init-from",
                       "commands", "--out", tmp_path / "other", "--cache-dir", tmp_path / "cache", *TINY)
    network = f"GRU {base.model_config.layers}x{base.model_config.hidden} on 13 mfcc"
    assert_one_line_error(code, err, "cannot start from this model", network, "GRU 1x16")


def test_takes_of_the_digits_models_own_words_adapt_it(tmp_path, capsys, monkeypatch):
    """Takes of words the start model knows adapt that model: a note says so, and the run has no synthetic
    voices or similar words (even where a synthesizer is installed), the adaptation's rate, the model's
    labels for those words and its own threshold."""
    from speechrnn.bundled import bundled_model_path
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.voice_adaptation import ADAPT_LR

    monkeypatch.setattr("speechrnn.synth.find_engines", lambda *a: ["espeak-ng"])  # the voices' default would be on
    takes = make_tone_dataset(tmp_path / "takes", speakers=4, words={"one": (300.0, 900.0), "two": (500.0, 500.0)})
    small = TINY[TINY.index("--batch-size"):]
    code, out, err = cli(capsys, "train", "--data", takes, "--words", "one,two", "--epochs", "1", "--init-from",
                         "digits", "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache", *small)
    assert code == 0, err
    assert "note: adapting digits to the voices of your takes of one, two" in err
    assert run_data(tmp_path / "run")["sources"] == [str(takes), str(bundled_negatives_dir())]
    assert not (tmp_path / "run" / "synthetic-voices").exists()
    run = load_checkpoint(tmp_path / "run" / "best.pt")
    assert run.labels == ["_silence_", "_unknown_", "one", "two"]
    train = run.train_config["train"]
    assert (train["lr"], train["init_from"]) == (ADAPT_LR, str(bundled_model_path("digits")))
    assert train["detection_threshold"] is None  # the digits model's: the recognizer's default
    assert "detection threshold" not in out.split("listen:")[-1]

    # a model of your own (here a copy of the digits model) keeps the custom-word recipe it learned with
    import shutil

    from speechrnn.cli import train as cli_train
    from speechrnn.cli.main import build_parser

    own = tmp_path / "my_digits.pt"
    shutil.copy(bundled_model_path("digits"), own)
    args = build_parser().parse_args(["train", "--data", str(takes), "--words", "one,two", "--init-from", str(own),
                                      "--out", str(tmp_path / "own-run")])
    *_, config, synth, negatives = cli_train._configs(args)
    assert synth is not None and negatives.confusables_per_word > 0 and config.lr != ADAPT_LR


def test_negatives_none_and_a_noise_folder_leave_only_what_was_given(tones, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--data", tones, "--words", "lights", "--negatives", "none",
                       "--noise-dir", tones / "alpha", "--epochs", "1", "--out", tmp_path / "run",
                       "--cache-dir", tmp_path / "cache", "--synth-voices", "0", *TINY)
    assert code == 0, err
    data = run_data(tmp_path / "run")
    assert data["sources"] == [str(tones)] and data["noise_dirs"] == [str(tones / "alpha")]
    assert data["unknown_pct"] == data["silence_pct"] == class_share_pct(1) == 100.0  # one word's worth each
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"].get("detection_threshold") is None


def test_every_folder_as_a_class_still_gets_the_bundled_noise_only(tones, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--data", tones, "--epochs", "1", "--out", tmp_path / "run",
                       "--cache-dir", tmp_path / "cache", *TINY)
    assert code == 0, err
    data = run_data(tmp_path / "run")
    assert data["sources"] == [str(tones)] and data["noise_dirs"] == [str(bundled_noise_dir())]


@pytest.mark.parametrize("case", ["no-words", "bad-mode", "negative-count", "confusables-without", "missing-assets"])
def test_bad_negative_options_are_one_clear_line(case, tones, tmp_path, capsys, monkeypatch):
    base = ["train", "--data", tones, "--epochs", "1", "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache",
            *TINY]
    if case == "no-words":
        code, _, err = cli(capsys, *base, "--negatives", "bundled")
        fragments = ["--negatives bundled", "--words"]
    elif case == "bad-mode":
        with pytest.raises(SystemExit) as exit_info:
            cli(capsys, *base, "--negatives", "some")
        code, err = exit_info.value.code, capsys.readouterr().err
        fragments = ["--negatives", "invalid choice"]
    elif case == "negative-count":
        code, _, err = cli(capsys, *base, "--words", "lights", "--confusables", "-1")
        fragments = ["--confusables must be 0 or more"]
    elif case == "confusables-without":
        code, _, err = cli(capsys, *base, "--words", "lights", "--negatives", "none", "--confusables", "3")
        fragments = ["--confusables needs --negatives bundled"]
    else:
        monkeypatch.setattr(neg, "_asset_candidates", lambda name: [tmp_path / "gone" / name])
        code, _, err = cli(capsys, *base, "--words", "lights", "--confusables", "0")
        fragments = ["bundled other-word clips are missing", "--negatives none"]
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "run" / "best.pt").exists()


def test_synthetic_voices_are_one_clear_line_when_they_cannot_be_rendered(tones, tmp_path, capsys, monkeypatch):
    base = ["train", "--data", tones, "--epochs", "1", "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache",
            "--force", *TINY]
    code, _, err = cli(capsys, *base, "--synth-voices", "3")
    assert_one_line_error(code, err, "--synth-voices speaks the words of --words")
    code, _, err = cli(capsys, *base, "--words", "lights", "--synth-voices", "-1")
    assert_one_line_error(code, err, "--synth-voices must be 0 or more")
    monkeypatch.setattr("speechrnn.synth.find_engines", lambda *a: [])
    code, _, err = cli(capsys, *base, "--words", "lights", "--synth-voices", "3")
    assert_one_line_error(code, err, "--synth-voices", "no text-to-speech engine found")
    code, _, err = cli(capsys, *base, "--words", "lights", "--confusables", "0")  # not asked for: a note
    assert code == 0 and "note: training without synthetic voices: no text-to-speech engine found" in err
    assert run_data(tmp_path / "run")["sources"] == [str(tones), str(bundled_negatives_dir())]
    monkeypatch.setattr("speechrnn.synth.find_engines", lambda *a: ["espeak-ng"])
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun: one folder, several processes
    code, _, err = cli(capsys, *base, "--words", "lights", "--synth-voices", "3")
    assert_one_line_error(code, err, "under torchrun the voices are not rendered", "speechrnn synth")
