"""The benchmark suite's short mode (what CI runs): every section executes and reports, no timing claims."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "assets" / "default_model.pt"


@pytest.mark.slow
def test_quick_bench_runs_every_section_and_writes_json_and_markdown(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["quick"] is True
    assert results["machine"]["versions"]["torch"]
    sections = results["sections"]
    assert set(sections) >= {"features", "training", "recognizer", "default_model", "stream_eval", "gates"}
    assert not [name for name, s in sections.items() if "error" in s]
    model_sections = {"default_model", "stream_eval", "peer"}
    peer_installed = importlib.util.find_spec("openwakeword") is not None
    for name, section in sections.items():
        if name == "peer" and not peer_installed:  # an optional bench dependency
            assert "openwakeword is not installed" in section["skipped"]
        elif name in model_sections and not DEFAULT_MODEL.is_file():
            assert "skipped" in section
        else:
            assert "skipped" not in section, (name, section.get("skipped"))

    features = sections["features"]
    assert features["frames_per_clip"]["ours"] == 98
    assert features["ours_clips_per_s"] > 0 and features["librosa_clips_per_s"] > 0
    assert {(r["device"], r["cell"].split(",")[0]) for r in sections["training"]["runs"]} >= {("cpu", "rnn"), ("cpu", "lstm"), ("cpu", "gru")}
    modes = {r["mode"] for r in sections["recognizer"]["runs"]}
    assert modes == {"stream", "window"}
    gates = sections["gates"]
    assert [r["cell"] for r in gates["runs"]] == ["rnn", "lstm", "gru"]
    for run in gates["runs"]:
        assert len(run["gradient"]["magnitude"]) == 98 and run["gradient"]["magnitude"][0] > 0
    assert Path(gates["plot"]).read_bytes()[:4] == b"\x89PNG"
    if DEFAULT_MODEL.is_file():
        assert sections["default_model"]["table"]["parameters"] > 0
        assert sections["stream_eval"]["summary"]["targets"] > 0
    if "skipped" not in sections["peer"]:  # two streams per noise: alone, and with words
        streams = sections["peer"]["streams"]
        assert [s["words"] > 0 for s in streams] == [False, True] * (len(streams) // 2)
        assert all(s[side]["cpu_us_per_10ms"] > 0 for s in streams for side in ("peer", "ours"))

    table = (tmp_path / "latest.md").read_text()
    for title in ("## Feature extraction", "## Training throughput", "## Streaming recognizer cost",
                  "## Why gates matter"):
        assert title in table
    assert "quick" in table and "| cell |" in table


# ------------------------------------------------------------------------------------ peer section
def _quick_context(tmp_path, quick: bool = True, data_root: Path | None = None):
    from bench.context import BenchContext

    return BenchContext(quick=quick, out_dir=tmp_path / "out", work_dir=tmp_path / "work", data_root=data_root)


def test_peer_section_is_skipped_with_the_reason_when_openwakeword_is_missing(tmp_path, monkeypatch):
    from bench.run import run_sections

    monkeypatch.setitem(sys.modules, "openwakeword", None)  # import openwakeword -> ImportError
    sections, ok = run_sections(_quick_context(tmp_path), ("peer",))
    assert ok
    assert "openwakeword is not installed" in sections["peer"]["skipped"]
    assert "pip install" in sections["peer"]["skipped"]


def test_peer_section_is_skipped_with_the_reason_without_shared_data(tmp_path, monkeypatch):
    import bench.peer
    from bench.run import run_sections

    if not DEFAULT_MODEL.is_file():
        pytest.skip("no bundled model: the section stops at that first")
    # whether or not openwakeword is installed here, the data check is what is tested
    monkeypatch.setattr(bench.peer, "_peer_models", lambda: (bench.peer.PEER_VERSION, [Path("alexa_v0.1.onnx")]))
    missing = tmp_path / "no_shared_data"
    sections, ok = run_sections(_quick_context(tmp_path, quick=False, data_root=missing), ("peer",))
    assert ok
    assert "no data root" in sections["peer"]["skipped"] and str(missing) in sections["peer"]["skipped"]


def test_peer_activations_count_once_per_activation_with_a_one_second_debounce():
    import math

    import numpy as np

    from bench.peer import DEBOUNCE_S, PEER_THRESHOLD, _activations

    frame_s = 0.08
    scores = np.zeros(100, dtype=np.float32)
    scores[10:14] = PEER_THRESHOLD  # one activation over four frames: one count
    scores[16] = 0.9  # 0.16 s later: the same activation, debounced
    gap = math.ceil(DEBOUNCE_S / frame_s) + 1
    scores[16 + gap] = 0.7  # quiet for longer than the debounce: a second activation
    scores[60] = PEER_THRESHOLD - 1e-3  # under the threshold: none
    scores[70:95] = 0.8  # two seconds over the threshold: still one activation
    assert _activations(scores, frame_s) == 3
    scores[16 + gap - 1] = 0.7  # a frame just inside the debounce window carries the activation on
    assert _activations(scores, frame_s) == 2
    assert _activations(np.zeros(0, dtype=np.float32), frame_s) == 0


def test_peer_driver_hears_a_spoken_wake_word_once_per_saying(tmp_path):
    """The openWakeWord side of the section can detect: a spoken "alexa", said three times, counts three."""
    import shutil

    import numpy as np

    pytest.importorskip("openwakeword")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from bench.peer import PCM_FULL_SCALE, PEER_SAMPLE_RATE_HZ, _peer_models, _run_peer
    from speechrnn.audio.io import load_audio

    wav = tmp_path / "alexa.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), "alexa"], check=True, capture_output=True)
    word = load_audio(wav, PEER_SAMPLE_RATE_HZ)
    pause = np.zeros(PEER_SAMPLE_RATE_HZ, dtype=np.float32)
    audio = np.tile(np.concatenate([pause, 0.5 * word / np.abs(word).max(), pause]), 3)
    _, models = _peer_models()
    counts = _run_peer(models, np.round(audio * PCM_FULL_SCALE).astype(np.int16))
    assert counts["false_accepts"] == 3
    assert counts["per_model"] == {"alexa_v0.1": 3}
    silence = _run_peer(models, np.zeros(5 * PEER_SAMPLE_RATE_HZ, dtype=np.int16))
    assert silence["false_accepts"] == 0


def test_the_custom_word_table_shows_how_little_a_few_words_tell():
    """bench.custom_word's table gives each rate its 95 % interval: 5 false accepts in 1,058 other
    words cannot be told from 1 per 100 (the target), 337 hits of 352 words can."""
    from bench.custom_word import table

    stream = {"hit_rate": 337 / 352, "hits": 337, "targets": 352, "false_accepts": 5, "non_target_words": 1058,
              "false_accepts_per_100_non_target_words": 100 * 5 / 1058, "false_accepts_per_hour": 3.75,
              "fired_on": {"right": 3}, "fired_clips": {"a.wav": 3}, "non_target_clips": 252}
    results = {"word": "lights", "takes": 8, "real_clips": 323, "similar_words": ["light"],
               "runs": [{"training": "with other words", "real words": stream, "similar words": stream}]}
    row = table(results).splitlines()[5]
    assert "95.7 % (337/352; 95 %: 93.1–97.4)" in row
    assert "0.5 (5/1058; 95 %: 0.2–1.1)" in row


def test_custom_word_validation_streams_refuse_a_network_that_trained_their_speakers(tmp_path, capsys):
    """A final build (``validation_speakers_train``) heard the validation speakers, and so does a custom
    word started from it: ``bench.custom_word --split validation`` refuses to call their streams unseen
    voices, before it reads any data; a model that never trained them passes the check."""
    import dataclasses

    from datapaths import WORD_MODEL

    from bench.custom_word import heard_the_validation_speakers, main
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint

    plain = load_checkpoint(WORD_MODEL)
    final = save_checkpoint(dataclasses.replace(plain, data={**plain.data, "recipe": {"validation_speakers_train": True}}),
                            tmp_path / "final.pt")
    custom = save_checkpoint(dataclasses.replace(plain, data={**plain.data, "started_from": {"path": str(final)}}),
                             tmp_path / "custom.pt")
    assert not heard_the_validation_speakers(WORD_MODEL)
    assert heard_the_validation_speakers(final) and heard_the_validation_speakers(custom)
    for model in (final, custom):
        with pytest.raises(SystemExit) as exited:
            main(["--data-root", str(tmp_path / "no data"), "--only", "with", "--split", "validation",
                  "--model", str(model)])
        assert exited.value.code == 2
        assert f"{model} trained on the validation speakers" in capsys.readouterr().err


def test_real_voice_takes_and_streams_are_test_speakers_the_network_never_heard(tmp_path):
    """``bench.custom_word --real-voices``: the takes are every clip of the word by one real speaker
    (the one with the most), the streams' word is every other speaker's; all of them are test speakers
    of the network the word starts from (its recorded recipe's split; validation speakers with
    ``--split validation``), none is in the bundled clips."""
    import numpy as np
    import soundfile as sf

    from bench.custom_word import REAL_VOICES_SOURCE, real_voices
    from speechrnn.checkpoint import load_checkpoint, save_checkpoint
    from speechrnn.data.layout import assign_split, speaker_of
    from speechrnn.negatives import bundled_negatives_dir
    from speechrnn.recipes import NOISE_DIR, SPEECH_COMMANDS_DIRS, Recipe

    recipe = Recipe.from_dict(load_checkpoint(REPO / "assets" / "commands_model.pt").data["recipe"],
                              data_root=str(tmp_path), work_dir=str(tmp_path))

    def split(speaker):
        return assign_split(speaker, recipe.validation_pct, recipe.testing_pct)

    candidates = [f"{n:08x}" for n in range(4000, 4400)]
    testing = [s for s in candidates if split(s) == "testing"][:3]
    trained = next(s for s in candidates if split(s) == "train")
    validation = [s for s in candidates if split(s) == "validation"][:2]
    bundled = next(speaker_of(p) for p in sorted((bundled_negatives_dir() / "happy").iterdir())
                   if split(speaker_of(p)) == "testing")

    def clip(folder, word, speaker, n):
        path = tmp_path / folder / word / f"{speaker}_nohash_{n}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.zeros(1600, dtype=np.float32), 16000)

    (tmp_path / NOISE_DIR).mkdir()
    for folder in SPEECH_COMMANDS_DIRS:  # every source of the recipe holds speech
        clip(folder, "yes", "ffffffff", 0)
    for speaker, count in {testing[0]: 2, testing[1]: 3, testing[2]: 1, trained: 4, bundled: 4,
                           validation[0]: 1, validation[1]: 2}.items():
        for n in range(count):
            clip(REAL_VOICES_SOURCE, "happy", speaker, n)

    takes, voiced = real_voices(tmp_path, "happy", "commands", 0)
    assert {speaker_of(p) for p in takes} == {testing[1]} and len(takes) == 3
    assert sorted(speaker_of(p) for p in voiced) == sorted([testing[0]] * 2 + [testing[2]])
    takes, voiced = real_voices(tmp_path, "happy", "commands", 1)  # the next speaker gives the takes
    assert {speaker_of(p) for p in takes} == {testing[0]} and len(voiced) == 4
    takes, voiced = real_voices(tmp_path, "happy", "commands", 0, take_speakers=2)  # two people's takes
    assert sorted(speaker_of(p) for p in takes) == sorted([testing[1]] * 3 + [testing[0]] * 2)
    assert [speaker_of(p) for p in voiced] == [testing[2]]

    # --split validation: the validation speakers, of a network that never heard them (not a final build)
    with pytest.raises(SystemExit, match="has 0 validation speakers"):  # the bundled model trained on them
        real_voices(tmp_path, "happy", "commands", 0, split="validation")
    before = load_checkpoint(REPO / "assets" / "commands_model.pt")
    before.data["recipe"]["validation_speakers_train"] = False
    save_checkpoint(before, tmp_path / "before.pt")
    takes, voiced = real_voices(tmp_path, "happy", str(tmp_path / "before.pt"), 0, split="validation")
    assert [speaker_of(p) for p in takes] == [validation[1]] * 2
    assert [speaker_of(p) for p in voiced] == [validation[0]]


def test_a_word_of_the_bundled_clips_is_left_out_of_them_as_a_new_word_would_be(tmp_path):
    """``bench.custom_word`` trains a word of the bundled clips ("happy") as a new word: its bundled
    clips are left out (else they would train as 40 more real speakers of it), every other word's stay."""
    from bench.custom_word import negatives_without
    from speechrnn.negatives import bundled_negatives_dir

    bundled = {p.name: len(list(p.iterdir())) for p in bundled_negatives_dir().iterdir() if p.is_dir()}
    kept = negatives_without("happy", tmp_path / "others")
    left = {p.name: len(list(p.iterdir())) for p in kept.iterdir()}
    assert left == {word: n for word, n in bundled.items() if word != "happy"}
    assert negatives_without("lights", tmp_path / "none") is None  # not a bundled word: nothing to leave out


def test_take_copies_are_voice_scaled_copies_of_the_training_takes_only(tmp_path):
    """``bench.custom_word --take-copies``: each take that trains gets one copy per scale, a speaker of
    its own, its pitch times the scale and its length divided by it; validation and test takes get none."""
    import numpy as np
    import soundfile as sf

    from bench.custom_word import scaled_takes
    from speechrnn.data.layout import scan_folder, split_clips
    from speechrnn.data.spec import DataSpec

    rate, tone_hz, seconds = 16000, 400.0, 0.5
    recordings = tmp_path / "takes"
    (recordings / "lights").mkdir(parents=True)
    t = np.arange(int(rate * seconds)) / rate
    for take in range(20):
        sf.write(recordings / "lights" / f"me_nohash_{take}.wav", 0.3 * np.sin(2 * np.pi * tone_hz * t), rate)
    clips = scan_folder(recordings)
    spec = DataSpec(sources=(str(recordings),))
    splits = dict(zip((c.path.stem for c in clips), split_clips(clips, recordings, spec.validation_pct,
                                                                   spec.testing_pct)))
    assert set(splits.values()) == {"train", "validation", "testing"}  # 20 takes: every split has some

    out = scaled_takes(recordings, (0.9, 1.1), tmp_path / "copies", spec)
    copies = scan_folder(out)
    trained = sorted(stem for stem, split in splits.items() if split == "train")
    assert sorted(c.path.stem.partition("_nohash_")[2] for c in copies) == sorted(trained * 2)
    assert {c.speaker for c in copies} == {"me-vs90", "me-vs110"}
    assert (out / "validation_list.txt").read_text() == "" and (out / "testing_list.txt").read_text() == ""
    for copy in copies:
        scale = 1.1 if copy.speaker == "me-vs110" else 0.9
        samples, copy_rate = sf.read(copy.path)
        assert copy_rate == rate and len(samples) == pytest.approx(rate * seconds / scale, abs=2)
        peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * rate / len(samples)
        assert peak_hz == pytest.approx(tone_hz * scale, abs=rate / len(samples))


def test_soak_growth_is_the_slope_of_the_second_half_in_mib_per_hour():
    from bench.listen_soak import growth_per_hour

    filling_then_flat = [(t, min(600.0 + t / 10, 660.0)) for t in range(0, 1201, 30)]  # full after 600 s
    assert growth_per_hour(filling_then_flat) == pytest.approx(0.0, abs=1e-9)
    leaking = [(t, 600.0 + t / 60) for t in range(0, 1201, 30)]  # 1 MiB a minute
    assert growth_per_hour(leaking) == pytest.approx(60.0)
    assert growth_per_hour([(30.0, 600.0), (60.0, 601.0)]) is None  # too few samples to tell


def test_the_soak_stream_is_words_over_babble():
    import numpy as np

    from bench.listen_soak import NOISE_PEAK, stream_samples

    rate = 16000
    stream = stream_samples(rate, minutes=0.5)
    assert stream.size == 30 * rate and stream.dtype == np.float32
    frame_peaks = np.abs(stream[: stream.size // 1600 * 1600]).reshape(-1, 1600).max(axis=1)  # per 100 ms
    assert frame_peaks[:10].max() <= NOISE_PEAK + 1e-6  # the first second is babble alone
    words = frame_peaks > 2 * NOISE_PEAK
    onsets = int(np.sum(words[1:] & ~words[:-1]))
    assert 6 <= onsets <= 20  # a word every 1-3 s, not one long blur


@pytest.mark.audio
@pytest.mark.slow
def test_the_soak_reads_a_listeners_memory_and_cpu_while_it_hears_words(tmp_path, virtual_mic):
    from bench.listen_soak import soak

    result = soak("cli", "digits", minutes=0.4, every_s=5.0, work=tmp_path, mic=virtual_mic)
    assert len(result["samples"]) >= 4
    assert result["rss_mib_first"] > 50  # python, torch and the model: a real process was read
    assert result["cpu_percent_of_one_core"] > 0
    assert "detected" in (tmp_path / "listener.log").read_text()  # it heard the looped stream's words


def test_a_speaker_subset_keeps_every_held_out_speaker_and_a_nested_share_of_the_training_ones(tmp_path):
    from bench.speaker_subset import write_subset
    from speechrnn.errors import DataError
    from speechrnn.recipes import NOISE_DIR, CommandsRecipe, speaker_splits

    root = tmp_path / "data"
    for source in CommandsRecipe.SOURCES:
        for number in range(60):
            clip = root / source / "yes" / f"{number:04x}beef_nohash_0.wav"
            clip.parent.mkdir(parents=True, exist_ok=True)
            clip.write_bytes(b"RIFF")  # only names matter: speakers and splits come from them
        (root / source / "LICENSE").write_text("CC BY 4.0")
    (root / NOISE_DIR).mkdir()
    recipe = CommandsRecipe(data_root=str(root), work_dir=str(tmp_path / "work"))
    full = speaker_splits(recipe)
    trained = {s for s, split in full.items() if split == "train"}

    def subset(pct: float) -> tuple[dict, dict]:
        out = tmp_path / f"subset{pct:g}"
        kept = write_subset(recipe, pct, out)
        assert (out / NOISE_DIR).is_dir() and (out / CommandsRecipe.SOURCES[0] / "LICENSE").read_text() == "CC BY 4.0"
        return kept, speaker_splits(CommandsRecipe(data_root=str(out), work_dir=str(tmp_path / "work")))

    kept, half = subset(50.0)
    assert {s: v for s, v in half.items() if v != "train"} == {s: v for s, v in full.items() if v != "train"}
    chosen = {s for s, split in half.items() if split == "train"}
    assert 0.25 * len(trained) < len(chosen) < 0.75 * len(trained)
    assert kept == {source: (len(chosen), len(trained)) for source in CommandsRecipe.SOURCES}  # same people in each
    quarter = {s for s, split in subset(25.0)[1].items() if split == "train"}
    assert quarter < chosen  # a smaller share is part of a larger one
    with pytest.raises(DataError, match="within"):
        write_subset(recipe, 0.0, tmp_path / "none")
    with pytest.raises(DataError, match="not a speaker subset"):
        write_subset(recipe, 50.0, root)  # a folder it did not write is never replaced
    assert (root / NOISE_DIR).is_dir()
    write_subset(recipe, 50.0, tmp_path / "subset50")  # its own is


class FixedVerifier:
    """A verifier that always names ``label``, and keeps the windows it was given."""

    def __init__(self, label):
        self.label, self.windows = label, []

    def top(self, audio):
        self.windows.append(audio.size)
        return self.label


def test_a_verifier_keeps_renames_or_drops_a_stream_models_detections(stream_word_model, word_model):
    from collections import Counter

    from datapaths import NOISE, SPEECH_COMMANDS

    from bench.verifier_streams import Verifier, verified_recognizers
    from speechrnn.events import run_to_end
    from speechrnn.recognizer import Recognizer
    from speechrnn.stream_eval import StreamConfig, stream_eval

    config = StreamConfig(minutes=1.0, snr_db=20.0, seed=3)
    alone = run_to_end(stream_eval(stream_word_model, SPEECH_COMMANDS, NOISE, config))
    assert alone.hits >= 10 and len(alone.detections) >= alone.hits

    def verified(verifier, mode):
        counts = Counter()
        with verified_recognizers(verifier, mode, counts):
            result = run_to_end(stream_eval(stream_word_model, SPEECH_COMMANDS, NOISE, config))
        return result, counts

    background = FixedVerifier("_silence_")
    dropped, counts = verified(background, "agree")
    assert dropped.detections == [] and sum(counts.values()) == len(alone.detections)
    assert set(background.windows) == {16000}  # 1 s of the stream around each word
    kept, _ = verified(FixedVerifier("_silence_"), "name")  # a background verdict drops nothing in "name"
    assert [(d["label"], d["time_s"]) for d in kept.detections] == [(d["label"], d["time_s"]) for d in alone.detections]
    renamed, counts = verified(FixedVerifier("yes"), "relabel")
    assert {d["label"] for d in renamed.detections} == {"yes"} and len(renamed.detections) == len(alone.detections)
    assert renamed.hits < alone.hits  # every word is "yes" now
    assert type(Recognizer.from_checkpoint(stream_word_model)) is Recognizer  # the swap ends with the block

    # a real clip classifier, given the window around each word, agrees with the hits (28 of 28 here)
    checked, counts = verified(Verifier(word_model), "agree")
    assert counts["kept"] == len(checked.detections) and checked.hits >= 0.8 * alone.hits
