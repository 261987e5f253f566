"""Training on small generated data: every cell learns, seeds repeat, runs resume, run folders are safe.

``make_tone_dataset`` (also used by the evaluate, export and CLI tests) writes "words" made of two
tones in Speech Commands layout, one pitch pair per word, each speaker slightly detuned, so a
speaker-disjoint split has something to generalise across.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.checkpoint import load_checkpoint
from speechrnn.data.augment import AugmentConfig, sped_length
from speechrnn.data.spec import DataSpec
from speechrnn.errors import SpeechRNNError
from speechrnn.events import CancelToken, Cancelled, EpochEnd, Finished, Message, Progress, run_to_end
from speechrnn.features import FeatureConfig, FeatureExtractor
from speechrnn.model import ModelConfig
from speechrnn.training import BEST_NAME, LAST_NAME, TrainConfig, train
from speechrnn.training.clip_batches import epoch_batches
from speechrnn.training.config import METRICS_NAME, PLOT_NAME
from speechrnn.training.schedule import lr_factor

RATE_HZ = 16000
TONE_S = 0.4  # each word: two tones with a short gap, about 0.85 s in a 1 s clip
WORD_TONES_HZ = {"alpha": (300, 500), "bravo": (700, 900), "charlie": (1100, 1300), "delta": (1500, 1700)}
SPEAKERS = 24
DETUNE = 0.1  # each speaker's pitch within +-10 %
FEATURES = FeatureConfig()
SPLIT = dict(validation_pct=20.0, testing_pct=20.0)
TINY_MODEL = dict(hidden=32, layers=1, dropout=0.0)
# Small batches: enough optimizer steps in a few epochs of ~60 clips (about 5 s per run on one core).
TINY_TRAIN = dict(batch_size=8, lr=1e-2, threads=1, objective="clip")  # the stream objective: see below
EPOCHS_TO_LEARN = 12


def tone_word(low_hz: float, high_hz: float, pitch: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(TONE_S * RATE_HZ)) / RATE_HZ
    gap = np.zeros(int(0.05 * RATE_HZ))
    wave = np.concatenate([np.sin(2 * np.pi * low_hz * pitch * t), gap, np.sin(2 * np.pi * high_hz * pitch * t)])
    return (0.4 * wave + 0.005 * rng.standard_normal(wave.size)).astype(np.float32)


def make_tone_dataset(root: Path, speakers: int = SPEAKERS, words: dict = WORD_TONES_HZ, seed: int = 0,
                      prefix: str = "spk") -> Path:
    """ROOT/<word>/<prefix><n>_nohash_0.wav for each speaker and word."""
    rng = np.random.default_rng(seed)
    for s in range(speakers):
        pitch = 1 + DETUNE * rng.uniform(-1, 1)
        for word, (low, high) in words.items():
            path = Path(root) / word / f"{prefix}{s:03d}_nohash_0.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, tone_word(low, high, pitch, rng), RATE_HZ, subtype="PCM_16")
    return Path(root)


def spec_of(*roots: Path, **options) -> DataSpec:
    return DataSpec(tuple(str(r) for r in roots), **{**SPLIT, **options})


def run_training(root: Path, out: Path, cache: Path, epochs: int = 2, cell: str = "gru",
                 augment: AugmentConfig | None = None, cancel: CancelToken | None = None, **train_options):
    config = TrainConfig(epochs=epochs, **{**TINY_TRAIN, **train_options})
    model = ModelConfig(num_classes=2, cell=cell, **TINY_MODEL)
    events = list(train(spec_of(root), FEATURES, model, augment or AugmentConfig(), config, out, cache_dir=cache,
                        cancel=cancel))
    return events, events[-1].result


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return make_tone_dataset(tmp_path_factory.mktemp("tones") / "data")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


# ------------------------------------------------------------------------------------ learning
@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_each_cell_learns_the_words_of_unseen_speakers(cell, tones, cache, tmp_path):
    events, result = run_training(tones, tmp_path / "run", cache, epochs=EPOCHS_TO_LEARN, cell=cell)
    chance = 1 / len(WORD_TONES_HZ)
    assert result.metrics["best_val_acc"] >= 0.6 > 2 * chance
    assert result.metrics["test_accuracy"] >= 0.5 and result.metrics["test_clips"] >= 12
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, EPOCHS_TO_LEARN + 1))
    assert epochs[-1].metrics["train_loss"] < epochs[0].metrics["train_loss"]
    progress = [e for e in events if isinstance(e, Progress) and e.stage == "train"]
    assert progress and {"loss", "acc", "samples/s"} <= set(progress[-1].metrics)

    best = load_checkpoint(result.best_path)
    assert best.labels == sorted(WORD_TONES_HZ)
    assert best.model_config.cell == cell and best.model_config.num_classes == len(WORD_TONES_HZ)
    assert best.metrics["test_accuracy"] == result.metrics["test_accuracy"]
    assert best.metrics["epoch"] == result.metrics["best_epoch"]
    # normalisation statistics of the training features are part of the weights
    assert best.state_dict["feature_std"].min() > 0 and best.state_dict["feature_mean"].abs().max() > 1
    assert best.data["licenses"] and best.train_config["train"]["epochs"] == EPOCHS_TO_LEARN
    assert best.extra == {}  # best.pt is for use; the resume state lives in last.pt


def test_run_folder_holds_config_metrics_plot_and_checkpoints(tones, cache, tmp_path):
    _, result = run_training(tones, tmp_path / "run", cache, epochs=2)
    run = tmp_path / "run"
    for name in (BEST_NAME, LAST_NAME, METRICS_NAME, PLOT_NAME, "config.json", "results.json"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / METRICS_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0 <= r["val_acc"] <= 1 and r["train_loss"] > 0 and r["samples_per_s"] > 0 for r in rows)
    assert (run / PLOT_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    settings = json.loads((run / "config.json").read_text())
    assert settings["model"]["hidden"] == TINY_MODEL["hidden"] and settings["train"]["batch_size"] == 8
    assert settings["model"]["num_classes"] == len(WORD_TONES_HZ)
    last = load_checkpoint(run / LAST_NAME)
    assert last.extra["resume"]["run"]["epoch"] == 2
    assert result.metrics["epochs"] == 2


def test_few_validation_clips_keep_the_final_weights_and_many_keep_the_best_epoch(tones, cache, tmp_path):
    events, result = run_training(tones, tmp_path / "auto", cache, epochs=4)  # ~19 validation clips
    notes = [e.text for e in events if isinstance(e, Message)]
    assert any("too few to tell epochs apart: best.pt keeps the final weights" in text for text in notes)
    assert [e.kept_epoch for e in events if isinstance(e, EpochEnd)] == [1, 2, 3, 4]
    assert all(e.keeps_final for e in events if isinstance(e, EpochEnd))  # the GUI's overfitting note says so
    assert result.metrics["best_epoch"] == 4
    best, last = _weights(tmp_path / "auto" / BEST_NAME), _weights(tmp_path / "auto" / LAST_NAME)
    assert all(torch.equal(best[name], last[name]) for name in best)

    events, result = run_training(tones, tmp_path / "best", cache, epochs=4, keep="best")
    rows = [{"epoch": e.epoch, **e.metrics} for e in events if isinstance(e, EpochEnd)]
    assert not any("final weights" in e.text for e in events if isinstance(e, Message))
    for seen, event in enumerate((e for e in events if isinstance(e, EpochEnd)), start=1):
        want = max(rows[:seen], key=lambda row: (row["val_acc"], -row["val_loss"]))["epoch"]
        assert event.kept_epoch == want and not event.keeps_final
    assert load_checkpoint(result.best_path).metrics["epoch"] == result.metrics["best_epoch"] == want


# ------------------------------------------------------------------------------- determinism
def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).state_dict


def test_same_seed_gives_the_same_model_and_another_seed_does_not(tones, cache, tmp_path):
    _, first = run_training(tones, tmp_path / "a", cache, epochs=2, seed=3)
    _, second = run_training(tones, tmp_path / "b", cache, epochs=2, seed=3)
    _, other = run_training(tones, tmp_path / "c", cache, epochs=2, seed=4)
    a, b, c = _weights(first.last_path), _weights(second.last_path), _weights(other.last_path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_after_cancel_continues_exactly_where_it_stopped(tones, cache, tmp_path):
    _, whole = run_training(tones, tmp_path / "whole", cache, epochs=3)

    token = CancelToken()
    seen = []
    config = TrainConfig(epochs=3, **TINY_TRAIN)
    model = ModelConfig(num_classes=2, **TINY_MODEL)
    stream = train(spec_of(tones), FEATURES, model, AugmentConfig(), config, tmp_path / "cut", cache_dir=cache,
                   cancel=token)
    with pytest.raises(Cancelled):
        for event in stream:
            seen.append(event)
            if isinstance(event, Progress) and event.stage == "train" and event.metrics["epoch"] == 2 \
                    and event.done == 2:
                token.cancel()  # mid-epoch, after two batches of epoch 2
    assert any(isinstance(e, Message) and "--resume" in e.text for e in seen)
    state = load_checkpoint(tmp_path / "cut" / LAST_NAME).extra["resume"]["run"]
    assert (state["epoch"], state["batch"]) == (1, 2)

    resumed = run_to_end(train(spec_of(tones), FEATURES, model, AugmentConfig(), config, tmp_path / "cut",
                               resume=True, cache_dir=cache))
    assert resumed.metrics["epochs"] == 3
    rows = [json.loads(x) for x in (tmp_path / "cut" / METRICS_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    a, b = _weights(whole.last_path), _weights(resumed.last_path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics["val_acc"] == whole.metrics["val_acc"]


def test_resuming_a_finished_run_changes_nothing(tones, cache, tmp_path):
    _, done = run_training(tones, tmp_path / "run", cache, epochs=1)
    before = _weights(done.last_path)
    config = TrainConfig(epochs=1, **TINY_TRAIN)
    events = list(train(spec_of(tones), FEATURES, ModelConfig(num_classes=2), AugmentConfig(), config,
                        tmp_path / "run", resume=True, cache_dir=cache))
    assert not any(isinstance(e, EpochEnd) for e in events)
    assert any(isinstance(e, Message) and "already finished" in e.text for e in events)
    after = _weights(done.last_path)
    assert all(torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------------------ run folders
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_existing_run_is_refused_and_left_untouched(tones, cache, tmp_path):
    run_training(tones, tmp_path / "run", cache, epochs=1)
    before = _snapshot(tmp_path / "run")
    with pytest.raises(SpeechRNNError, match="already holds a training run.*--resume.*--force"):
        run_training(tones, tmp_path / "run", cache, epochs=1)
    assert _snapshot(tmp_path / "run") == before


def test_force_replaces_an_existing_run(tones, cache, tmp_path):
    run_training(tones, tmp_path / "run", cache, epochs=2)
    config = TrainConfig(epochs=1, **TINY_TRAIN)
    result = run_to_end(train(spec_of(tones), FEATURES, ModelConfig(num_classes=2, **TINY_MODEL), AugmentConfig(),
                              config, tmp_path / "run", force=True, cache_dir=cache))
    rows = (tmp_path / "run" / METRICS_NAME).read_text().splitlines()
    assert len(rows) == 1 and result.metrics["epochs"] == 1


def test_resume_without_a_run_is_an_error(tmp_path):
    with pytest.raises(SpeechRNNError, match="no run to resume"):
        run_to_end(train(spec_of(tmp_path), FEATURES, ModelConfig(num_classes=2), AugmentConfig(),
                         TrainConfig(), tmp_path / "nothing", resume=True))


# ------------------------------------------------------------------------------- data paths
def test_without_waveform_augmentation_the_feature_cache_is_used_and_silence_still_varies(tones, cache, tmp_path):
    augment = AugmentConfig(noise=False, shift=False, room=False, gain=False, speed=False, spec_augment=False)
    config = TrainConfig(epochs=1, **TINY_TRAIN)
    events = list(train(spec_of(tones, include_silence=True), FEATURES, ModelConfig(num_classes=2, **TINY_MODEL),
                        augment, config, tmp_path / "run", cache_dir=cache))
    assert any(e.name == "features" for e in events if hasattr(e, "name") and hasattr(e, "description"))
    assert load_checkpoint(events[-1].result.best_path).labels[0] == "_silence_"
    assert any(p.name.startswith("features-") for p in cache.iterdir())


def test_unreadable_files_are_skipped_with_a_count(tones, cache, tmp_path):
    data = tmp_path / "data"
    make_tone_dataset(data, speakers=8)
    (data / "alpha" / "broken_nohash_0.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    (data / "bravo" / "empty_nohash_0.wav").write_bytes(b"")
    events, result = run_training(data, tmp_path / "run", tmp_path / "cache", epochs=1)
    warnings = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert any("skipped 2 unreadable" in w for w in warnings)
    assert result.best_path.is_file()


def test_batches_are_sharded_evenly_and_a_short_tail_is_dropped():
    order = torch.arange(20)
    assert [len(b) for b in epoch_batches(order, 8, 1)] == [8, 8]
    assert [len(b) for b in epoch_batches(torch.arange(5), 8, 1)] == [5]  # one short batch is kept
    assert epoch_batches(torch.arange(1), 8, 2) == []  # nothing to share between two ranks


def test_small_data_gets_smaller_batches_and_sources_can_be_balanced():
    from speechrnn.data.sampling import label_source_weights
    from speechrnn.training import effective_batch_size, epoch_order

    assert effective_batch_size(TrainConfig(batch_size=256), 100_000) == 256
    assert effective_batch_size(TrainConfig(batch_size=256), 1_300) == 65  # 20 steps per epoch
    assert effective_batch_size(TrainConfig(batch_size=256), 100) == 16  # never below 16
    assert effective_batch_size(TrainConfig(batch_size=256, min_steps=0), 100) == 256
    sources = ["big"] * 90 + ["small"] * 10 + [""] * 5
    weights = label_source_weights([1] * 100 + [0] * 5, sources)
    assert weights[:90].sum() == pytest.approx(weights[90:100].sum()) == pytest.approx(50.0)
    assert weights[100:].sum() == 5.0  # generated silence keeps its share
    drawn = epoch_order(len(sources), 0, 1, weights)
    small_share = float(((drawn >= 90) & (drawn < 100)).float().mean())
    assert 0.3 < small_share < 0.65 and len(drawn) == len(sources)


def test_other_words_can_be_balanced_word_by_word():
    from speechrnn.data.sampling import label_source_weights, other_word_keys

    # _unknown_ (class 0): a big source of two words (bed 80, cat 10) and a small one of three (2 each);
    # the word class 1 has one source; generated silence (class 2) has no word
    sources = ["v1"] * 90 + ["v2"] * 6 + ["words"] * 20 + [""] * 4
    words = ["bed"] * 80 + ["cat"] * 10 + ["on", "on", "off", "off", "left", "left"] + ["yes"] * 20 + [None] * 4
    targets = [0] * 96 + [1] * 20 + [2] * 4
    by_source = label_source_weights(targets, sources)
    assert by_source[:90].sum() == pytest.approx(by_source[90:96].sum()) == pytest.approx(48.0)
    weights = label_source_weights(targets, other_word_keys(sources, targets, words, unknown=0))
    shares = [float(weights[[i for i, w in enumerate(words) if w == word]].sum()) for word in ("bed", "cat", "on")]
    assert shares == pytest.approx([96 / 5] * 3)  # each (source, word) of _unknown_ as often as any other
    assert torch.equal(weights[96:], by_source[96:])  # the other classes are balanced by source, as before


def test_learning_rate_warms_up_then_decays_to_the_floor():
    factors = [lr_factor(step, 10, 100, 0.02) for step in range(101)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[100] == pytest.approx(0.02)


def test_fused_gru_gradients_equal_torch_gru():
    from speechrnn.fused_rnn import fused_gru_forward

    torch.manual_seed(0)
    rnn = torch.nn.GRU(12, 16, 2, batch_first=True)
    x = torch.randn(3, 9, 12, requires_grad=True)
    h0 = torch.randn(2, 3, 16, requires_grad=True)
    weights = torch.randn(3, 9, 16), torch.randn(2, 3, 16)

    def grads(forward, dtype=None):
        for p in [*rnn.parameters(), x, h0]:
            p.grad = None
        out, last = forward(rnn, x, h0) if dtype is None else forward(rnn, x, h0, dtype)
        ((out * weights[0]).sum() + (last * weights[1]).sum()).backward()
        return [out.detach(), last.detach()] + [p.grad.clone() for p in [*rnn.parameters(), x, h0]]

    reference = grads(lambda r, a, b: r(a, b))
    for got, want in zip(grads(fused_gru_forward), reference):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads(fused_gru_forward, torch.bfloat16), reference):  # mixed precision: ~1 %
        assert (got - want).abs().max() <= 0.02 * want.abs().max()


def test_fused_gru_only_changes_training_on_cpu():
    from speechrnn.fused_rnn import FusedGRU, use_fused_rnn
    from speechrnn.model import RNNClassifier

    model = RNNClassifier(ModelConfig(num_classes=3, hidden=8))
    keys = list(model.state_dict())
    assert use_fused_rnn(model) and isinstance(model.rnn, FusedGRU)
    assert list(model.state_dict()) == keys
    frames = torch.randn(2, 6, 40)
    model.eval()
    with torch.no_grad():
        assert not model.rnn._fused_applies(frames, None)
    model.train()
    assert model.rnn._fused_applies(frames, None)
    assert not use_fused_rnn(RNNClassifier(ModelConfig(num_classes=3, cell="lstm")))


def test_chrono_init_sets_the_memory_gate_biases():
    from speechrnn.model import RNNClassifier
    from speechrnn.training import chrono_init

    model = RNNClassifier(ModelConfig(num_classes=3, cell="lstm", hidden=8, layers=2))
    assert chrono_init(model, 98, torch.Generator().manual_seed(0))
    forget = model.rnn.bias_ih_l1[8:16]
    assert forget.min() >= 0.0 and forget.max() <= np.log(97) and forget.std() > 0
    assert model.rnn.bias_hh_l1[8:16].abs().max() == 0
    assert not chrono_init(RNNClassifier(ModelConfig(num_classes=3, cell="rnn")), 98)


def test_bad_train_settings_are_value_errors():
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError):
        TrainConfig(precision="float8")
    with pytest.raises(ValueError):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="keep"):
        TrainConfig(keep="latest")


def test_throughput_measurement_runs_the_training_step():
    from speechrnn.training import measure_training_throughput

    rate = measure_training_throughput("gru", hidden=16, layers=1, batch_size=8, seconds=0.2, warmup_batches=1)
    assert rate > 0


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    os.environ.pop("WORLD_SIZE", None)


# --------------------------------------------------------------- a trained model for other tests
@functools.cache
def trained_tone_model(base: Path) -> tuple[Path, Path]:
    """(data folder, best.pt) of a small GRU that knows the tone words; trained once per session."""
    data = make_tone_dataset(base / "tone_model" / "data")
    run_training(data, base / "tone_model" / "run", base / "tone_model" / "cache", epochs=EPOCHS_TO_LEARN)
    return data, base / "tone_model" / "run" / BEST_NAME


# ------------------------------------------------------------------------------ stream objective
def test_stream_segments_place_every_clip_once_with_targets_at_the_word_end():
    from speechrnn.training.stream_batches import StreamBatches

    rng = np.random.default_rng(0)
    clips = 12
    waves = np.zeros((clips, RATE_HZ), dtype=np.float32)
    for row in range(clips):  # a 0.4 s tone at 0.3 s of each clip: speech ends at 0.7 s
        waves[row, int(0.3 * RATE_HZ) : int(0.7 * RATE_HZ)] = 0.3 * np.sin(np.arange(int(0.4 * RATE_HZ)) * 0.2)
    targets = torch.tensor([1 + row % 3 for row in range(clips)])
    silence = torch.zeros(clips, dtype=torch.bool)
    silence[-2:] = True  # generated silence rows are never placed: silence is the background
    extractor = FeatureExtractor(FEATURES)
    batches = StreamBatches(torch.from_numpy(waves).half(), targets, silence, extractor, FEATURES,
                            AugmentConfig(room=False, speed=True),
                            [torch.from_numpy(0.01 * rng.standard_normal(RATE_HZ * 5))],
                            torch.device("cpu"), segment_s=3.0, target_ms=200.0, target_lead_ms=100.0,
                            background_class=0, other_word_classes=(), hum_prob=0.0, hum_level_db=(0.0, 0.0))
    generator = torch.Generator().manual_seed(0)
    plan = batches.plan_epoch(torch.randperm(clips, generator=generator), lanes=4, generator=generator)
    placed = [p.clip for step in plan for lane in step for p in lane]
    assert sorted(placed) == list(range(clips - 2))
    frames, frame_targets, word_ids = batches.render(plan[0], generator, fill=torch.zeros(FEATURES.feature_dim))
    assert frames.shape == (4, FEATURES.num_frames(3 * RATE_HZ), FEATURES.feature_dim)
    speeds = {p.speed for step in plan for lane in step for p in lane}
    assert len(speeds) > 1 and all(0.9 <= s <= 1.1 for s in speeds)  # AugmentConfig's speed range
    for lane, placements in enumerate(plan[0]):
        for placement in placements:  # a faster word ends sooner
            end_frame = round((placement.start + sped_length(int(0.4 * RATE_HZ), placement.speed)) / FEATURES.hop_samples)
            window = frame_targets[lane, end_frame - 10 : end_frame + 10]  # 100 ms before to 100 ms after
            assert (window == targets[placement.clip]).all()
            assert frame_targets[lane, end_frame - 25] == 0 and frame_targets[lane, end_frame + 12] == 0
        assert ((word_ids[lane] >= 0) == (frame_targets[lane] != 0)).all()


def test_stream_lanes_are_heard_through_their_vocal_tract_warp():
    from speechrnn.training.stream_batches import StreamBatches

    rng = np.random.default_rng(0)
    waves = torch.from_numpy((0.1 * rng.standard_normal((6, RATE_HZ))).astype(np.float32)).half()
    noise = [torch.from_numpy(0.01 * rng.standard_normal(RATE_HZ * 5))]
    extractor = FeatureExtractor(FEATURES)

    def first_step(**vtlp) -> torch.Tensor:
        augment = AugmentConfig(room=False, spec_augment=False, **vtlp)
        batches = StreamBatches(waves, torch.tensor([1, 2, 3, 1, 2, 3]), torch.zeros(6, dtype=torch.bool), extractor,
                                FEATURES, augment, noise, torch.device("cpu"), segment_s=3.0, target_ms=200.0, target_lead_ms=100.0,
                                background_class=0, other_word_classes=(), hum_prob=0.0, hum_level_db=(0.0, 0.0))
        generator = torch.Generator().manual_seed(0)
        plan = batches.plan_epoch(torch.arange(6), lanes=2, generator=generator)
        return batches.render(plan[0], generator, fill=torch.zeros(FEATURES.feature_dim))[0]

    plain = first_step()
    # a warp of exactly 1 hears what no warp hears: the warp is drawn after everything else of the mix
    torch.testing.assert_close(first_step(vtlp=True, vtlp_min=1.0, vtlp_max=1.0), plain, atol=1e-3, rtol=1e-4)
    assert (first_step(vtlp=True, vtlp_min=1.1, vtlp_max=1.1) - plain).abs().max() > 1.0
    # so are the missing mel bands: masks of no band hear the same mix, masks of some do not
    torch.testing.assert_close(first_step(mel_masks=2, mel_mask_bands=0), plain, atol=1e-3, rtol=1e-4)
    assert (first_step(mel_masks=2, mel_mask_bands=6) - plain).abs().max() > 1.0


def test_stream_words_can_be_heard_narrowband():
    from speechrnn.training.stream_batches import StreamBatches

    rng = np.random.default_rng(0)
    waves = torch.from_numpy((0.1 * rng.standard_normal((6, RATE_HZ))).astype(np.float32)).half()
    noise = [torch.from_numpy(0.01 * rng.standard_normal(RATE_HZ * 5))]

    def words(prob: float) -> torch.Tensor:
        augment = AugmentConfig(room=False, spec_augment=False, band_limit_prob=prob, band_limit_hz=4000.0)
        batches = StreamBatches(waves, torch.tensor([1, 2, 3, 1, 2, 3]), torch.zeros(6, dtype=torch.bool),
                                FeatureExtractor(FEATURES), FEATURES, augment, noise, torch.device("cpu"), segment_s=3.0,
                                target_ms=200.0, target_lead_ms=100.0, background_class=0, other_word_classes=(),
                                hum_prob=0.0, hum_level_db=(0.0, 0.0))
        generator = torch.Generator().manual_seed(0)
        plan = batches.plan_epoch(torch.arange(6), lanes=2, generator=generator)
        return batches._words(plan[0], generator)

    def upper_share(speech: torch.Tensor) -> float:
        spectrum = torch.fft.rfft(speech).abs().square()
        hz = torch.fft.rfftfreq(speech.shape[-1], 1 / RATE_HZ)
        return float(spectrum[:, hz > 4300.0].sum() / spectrum.sum())

    assert upper_share(words(0.0)) > 0.4  # white noise "words": half their power lies above 4 kHz
    assert upper_share(words(1.0)) < 1e-4


def test_babble_is_made_of_the_other_words_whether_lumped_or_by_word():
    from speechrnn.training.stream_batches import MIN_BABBLE_CLIPS, StreamBatches

    rng = np.random.default_rng(0)
    clips = 4 * MIN_BABBLE_CLIPS
    waves = torch.from_numpy(0.1 * rng.standard_normal((clips, RATE_HZ)).astype(np.float32)).half()
    targets = torch.arange(clips) % 4  # 0 silence, 1 a vocabulary word, 2 and 3 two other words

    def pool(other_word_classes: tuple[int, ...]) -> set[int]:
        batches = StreamBatches(waves, targets, targets == 0, FeatureExtractor(FEATURES), FEATURES,
                                AugmentConfig(room=False), [], torch.device("cpu"), segment_s=1.0,
                                target_ms=200.0, target_lead_ms=100.0, background_class=0,
                                other_word_classes=other_word_classes, hum_prob=0.0, hum_level_db=(0.0, 0.0))
        return set(targets[batches.babble_clips].tolist())

    assert pool((2,)) == {2}
    assert pool((2, 3)) == {2, 3}
    assert pool(()) == {1, 2, 3}  # no other words: every word (never generated silence)


def test_stream_lanes_hear_hum_as_often_and_as_loud_as_configured():
    from speechrnn.training.stream_batches import StreamBatches

    rng = np.random.default_rng(0)
    waves = torch.from_numpy(0.1 * rng.standard_normal((40, RATE_HZ)).astype(np.float32)).half()
    noise = [torch.from_numpy(0.01 * rng.standard_normal(RATE_HZ * 5).astype(np.float32))]

    def background(prob: float, level_db: float) -> torch.Tensor:
        batches = StreamBatches(waves, torch.ones(40, dtype=torch.long), torch.zeros(40, dtype=torch.bool),
                                FeatureExtractor(FEATURES), FEATURES, AugmentConfig(room=False), noise,
                                torch.device("cpu"), segment_s=1.0, target_ms=200.0, target_lead_ms=100.0,
                                background_class=0, other_word_classes=(), hum_prob=prob,
                                hum_level_db=(level_db, level_db))
        return batches._background(16, torch.Generator().manual_seed(0))

    quiet, loud, none = background(1.0, -30.0), background(1.0, 20.0), background(0.0, 20.0)
    added = (loud - none).square().mean(-1) / none.square().mean(-1)
    # every lane got a hum 20 dB over its noise (babble in some lanes is the same in both)
    assert (10 * torch.log10(added) > 12.0).all()
    assert ((quiet - none).square().mean(-1) / none.square().mean(-1) < 0.01).all()
    with pytest.raises(ValueError, match="stream_hum_prob"):
        TrainConfig(stream_hum_prob=1.5)
    with pytest.raises(ValueError, match="stream_hum_min_db"):
        TrainConfig(stream_hum_min_db=10.0, stream_hum_max_db=0.0)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_stream_training_carries_state_and_learns_per_frame_targets(precision, tones, cache, tmp_path):
    options = dict(TINY_TRAIN, objective="stream", precision=precision, stream_segment_s=2.0)
    config = TrainConfig(epochs=6, **options)
    model = ModelConfig(num_classes=2, **TINY_MODEL)
    events = list(train(spec_of(tones, include_silence=True), FEATURES, model, AugmentConfig(), config,
                        tmp_path / "run", cache_dir=cache))
    result = events[-1].result
    best = load_checkpoint(result.best_path)
    assert best.model_config.objective == "stream" and best.model_config.pooling == "last"
    assert best.labels[best.model_config.background_class] == "_silence_"
    assert best.train_config["train"]["precision"] == precision
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert epochs[-1].metrics["train_loss"] < epochs[0].metrics["train_loss"]
    from speechrnn.checkpoint import load_model

    loaded, _ = load_model(result.best_path)
    frames = torch.zeros(1, 50, FEATURES.feature_dim)
    scores, _ = loaded(frames)
    assert scores.shape == (1, len(best.labels)) and bool((scores <= 0).all())  # clip read-out: log-probabilities


def test_the_bfloat16_probe_says_whether_an_lstm_can_train_in_bfloat16_here():
    """On AMD EPYC (no AVX-512/AMX) oneDNN has no bfloat16 LSTM: the probe must know, on any CPU."""
    from speechrnn.model import RNNClassifier
    from speechrnn.training.runtime import bfloat16_runs

    cpu = torch.device("cpu")
    lstm = RNNClassifier(ModelConfig(num_classes=2, cell="lstm", input_dim=FEATURES.feature_dim, **TINY_MODEL))
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.randn(2, 20, FEATURES.feature_dim))
        works = True
    except RuntimeError:
        works = False
    assert bfloat16_runs(lstm, cpu) == works
    for cell in ("gru", "rnn"):
        model = RNNClassifier(ModelConfig(num_classes=2, cell=cell, input_dim=FEATURES.feature_dim, **TINY_MODEL))
        assert bfloat16_runs(model, cpu)


def test_an_lstm_asked_to_train_in_bfloat16_where_it_cannot_trains_in_float32(tones, cache, tmp_path, monkeypatch):
    import speechrnn.training.session as session

    monkeypatch.setattr(session, "bfloat16_runs", lambda model, device: False)  # an AMD EPYC, on any CPU
    events, result = run_training(tones, tmp_path / "run", cache, epochs=1, cell="lstm", precision="bfloat16")
    warnings = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert any("no bfloat16 kernels for the LSTM" in text and "float32" in text for text in warnings), warnings
    assert any(isinstance(e, Message) and "(float32)" in e.text for e in events)
    assert load_checkpoint(result.best_path).model_config.cell == "lstm"


def test_the_stream_objective_needs_a_background_class(tones, cache, tmp_path):
    config = TrainConfig(epochs=1, **dict(TINY_TRAIN, objective="stream"))
    with pytest.raises(SpeechRNNError, match="needs a _silence_ or _unknown_ class"):
        list(train(spec_of(tones), FEATURES, ModelConfig(num_classes=2, **TINY_MODEL), AugmentConfig(), config,
                   tmp_path / "run", cache_dir=cache))


def test_other_speakers_recording_chains_need_the_stream_objective(tones, cache, tmp_path):
    with pytest.raises(SpeechRNNError, match="channel_prob .* use objective stream"):
        run_training(tones, tmp_path / "run", cache, epochs=1, augment=AugmentConfig(channel_prob=0.5))
    assert not (tmp_path / "run" / BEST_NAME).exists()


def test_a_run_can_start_from_a_finished_model(tones, cache, tmp_path):
    _, first = run_training(tones, tmp_path / "first", cache, epochs=1)
    events, second = run_training(tones, tmp_path / "second", cache, epochs=1, init_from=str(first.best_path))
    assert any(isinstance(e, Message) and "its network and head" in e.text for e in events)
    assert load_checkpoint(second.best_path).train_config["train"]["init_from"] == str(first.best_path)
    with pytest.raises(SpeechRNNError, match="cannot start from this model: its network or features differ"):
        run_training(tones, tmp_path / "third", cache, epochs=1, init_from=str(first.best_path), cell="lstm")


def test_frozen_layers_keep_the_weights_they_start_from_while_the_layers_above_learn(tones, cache, tmp_path):
    two_layers = ModelConfig(num_classes=2, **dict(TINY_MODEL, layers=2))

    def run(out: str, **options):
        config = TrainConfig(epochs=1, **{**TINY_TRAIN, **options})
        return list(train(spec_of(tones), FEATURES, two_layers, AugmentConfig(), config, tmp_path / out,
                          cache_dir=cache))

    first = load_checkpoint(run("first")[-1].result.best_path).state_dict
    events = run("second", init_from=str(tmp_path / "first" / "best.pt"), frozen_layers=1)
    assert any(isinstance(e, Message) and "lowest 1 recurrent layer(s) keep their weights" in e.text for e in events)
    second = load_checkpoint(events[-1].result.best_path)
    assert second.train_config["train"]["frozen_layers"] == 1
    for name, value in first.items():
        if name.startswith("rnn.") and name.endswith("_l0"):
            assert torch.equal(second.state_dict[name], value), name  # the lowest layer: as it started
        elif name.startswith(("rnn.", "head.")) and name.endswith(("_l1", "weight")):
            assert not torch.equal(second.state_dict[name], value), name  # the layer above and the head learn
    with pytest.raises(SpeechRNNError, match="frozen_layers is 3, but the network has 2 recurrent layers"):
        run("third", init_from=str(tmp_path / "first" / "best.pt"), frozen_layers=3)
    with pytest.raises(ValueError, match="needs init_from"):
        TrainConfig(frozen_layers=1)


def test_new_words_start_from_another_models_network_and_its_shared_head_rows(tones, cache, tmp_path):
    from speechrnn.model import RNNClassifier
    from speechrnn.training.base_network import initial_weights

    _, first = run_training(tones, tmp_path / "first", cache, epochs=1)
    base = load_checkpoint(first.best_path)
    labels = ["echo", base.labels[1], "foxtrot"]  # one label shared with the base, two new ones
    model = ModelConfig(num_classes=3, input_dim=FEATURES.feature_dim, **TINY_MODEL)
    fresh = RNNClassifier(model).state_dict()
    weights, shared = initial_weights(base, labels, model, FEATURES, fresh)
    assert shared == [base.labels[1]]
    for name, value in base.state_dict.items():
        if not name.startswith(("head.", "attention.")):
            assert torch.equal(weights[name], value), name  # the network and its normalisation
    assert torch.equal(weights["head.weight"][1], base.state_dict["head.weight"][1])
    assert torch.equal(weights["head.weight"][[0, 2]], fresh["head.weight"][[0, 2]])
    assert not torch.equal(weights["head.weight"][0], base.state_dict["head.weight"][0])
    assert torch.equal(weights["attention.weight"], fresh["attention.weight"])

    other = make_tone_dataset(tmp_path / "other", words={"echo": (400, 800), "foxtrot": (1000, 600)})
    events, result = run_training(other, tmp_path / "new", cache, epochs=1, init_from=str(first.best_path))
    assert any(isinstance(e, Message) and "its network; a new head" in e.text for e in events)
    trained = load_checkpoint(result.best_path)
    assert trained.labels == ["echo", "foxtrot"]
    owed = trained.data["started_from"]  # the checkpoint says whose weights it started from, and their data
    assert owed["path"] == str(first.best_path) and owed["labels"] == base.labels
    assert owed["sources"] == [source["name"] for source in base.data["sources"]]
    wider = dict(TINY_MODEL, hidden=48)
    with pytest.raises(SpeechRNNError, match=r"GRU 1x32 on 40 mfcc, 20-7600 Hz vs GRU 1x48"):
        initial_weights(base, labels, ModelConfig(num_classes=3, input_dim=FEATURES.feature_dim, **wider),
                        FEATURES, fresh)


# ------------------------------------------------------------------------ source adversary
def test_the_source_adversary_learns_sources_while_the_network_gets_the_reversed_gradient():
    from speechrnn.training.source_adversary import SourceAdversary, reversal_scale

    torch.manual_seed(0)
    adversary = SourceAdversary(width=6, num_classes=3, num_sources=2)
    outputs = torch.randn(10, 6, requires_grad=True)
    classes, sources = torch.randint(0, 2, (10,)), torch.randint(0, 2, (10,))  # words of classes 0 and 1
    loss, correct = adversary.loss(outputs, classes, sources, scale=0.3)
    loss.backward()
    # the same loss without the reversal: the adversary's gradient is the same, the network's is -0.3 times it
    plain = outputs.detach().clone().requires_grad_(True)
    rows = adversary.classify(plain).view(10, 3, 2)[torch.arange(10), classes]
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(rows, sources))
    adversary_grad = adversary.classify.weight.grad.clone()
    adversary.zero_grad()
    torch.nn.functional.cross_entropy(rows, sources).backward()
    assert torch.allclose(adversary.classify.weight.grad, adversary_grad)
    assert torch.allclose(outputs.grad, -0.3 * plain.grad)
    assert correct == float((rows.argmax(-1) == sources).sum())
    # each class has its own row of sources: class 2's row learns nothing from words of the others
    assert adversary.classify.weight.grad.view(3, 2, 6)[2].abs().sum() == 0
    ramp = [reversal_scale(p, 0.3) for p in (0.0, 0.1, 0.5, 1.0)]
    assert ramp[0] == 0.0 and ramp == sorted(ramp) and 0.29 < ramp[-1] <= 0.3


def test_a_source_adversary_trains_beside_a_stream_model_and_stays_out_of_it(tones, cache, tmp_path):
    other = make_tone_dataset(tmp_path / "other", speakers=12, seed=1, prefix="mic")  # a second source folder
    options = dict(TINY_TRAIN, objective="stream", stream_segment_s=2.0)
    model = ModelConfig(num_classes=2, **TINY_MODEL)
    spec = spec_of(tones, other, include_silence=True)

    def run(out: str, epochs: int, cancel: CancelToken | None = None, **extra):
        return train(spec, FEATURES, model, AugmentConfig(), TrainConfig(epochs=epochs, **{**options, **extra}),
                     tmp_path / out, cache_dir=cache, cancel=cancel)

    events = list(run("adversary", 2, source_adversary_weight=0.5))
    assert any(isinstance(e, Message) and "source adversary (up to 0.5) over 2 sources: data, other" in e.text
               for e in events)
    rows = [json.loads(x) for x in (tmp_path / "adversary" / METRICS_NAME).read_text().splitlines()]
    assert all(0.0 < r["source_acc"] <= 1.0 for r in rows)
    plain = list(run("plain", 1))
    rows = [json.loads(x) for x in (tmp_path / "plain" / METRICS_NAME).read_text().splitlines()]
    assert "source_acc" not in rows[0]
    adversarial = load_checkpoint(events[-1].result.best_path)
    assert adversarial.state_dict.keys() == load_checkpoint(plain[-1].result.best_path).state_dict.keys()
    assert adversarial.train_config["train"]["source_adversary_weight"] == 0.5
    # last.pt keeps the adversary for a resumed run, which goes on from it
    token = CancelToken()
    with pytest.raises(Cancelled):
        for event in run("cut", 2, token, source_adversary_weight=0.5):
            if isinstance(event, EpochEnd):
                token.cancel()
    saved = load_checkpoint(tmp_path / "cut" / LAST_NAME).extra["resume"]["adversary"]
    assert saved["weights"]["classify.weight"].shape == (5 * 2, TINY_MODEL["hidden"])  # 5 classes x 2 sources
    resumed = run_to_end(train(spec, FEATURES, model, AugmentConfig(), TrainConfig(epochs=2, **options),
                               tmp_path / "cut", resume=True, cache_dir=cache))
    assert resumed.metrics["epochs"] == 2
    with pytest.raises(SpeechRNNError, match="at least two source folders"):
        list(train(spec_of(tones, include_silence=True), FEATURES, model, AugmentConfig(),
                   TrainConfig(epochs=1, **options, source_adversary_weight=0.5), tmp_path / "one", cache_dir=cache))
    with pytest.raises(ValueError, match="stream objective"):
        TrainConfig(objective="clip", source_adversary_weight=0.5)
    with pytest.raises(ValueError, match="must not be negative"):
        TrainConfig(source_adversary_weight=-1.0)


# ---------------------------------------------------------------------------- distillation
def test_a_teacher_carries_its_own_state_and_its_loss_pulls_the_student_to_its_posteriors():
    from speechrnn.model import RNNClassifier
    from speechrnn.training.distillation import Teacher

    torch.manual_seed(0)
    config = ModelConfig(num_classes=3, input_dim=FEATURES.feature_dim, objective="stream", pooling="last",
                         background_class=0, **TINY_MODEL)
    teacher = Teacher(RNNClassifier(config), temperature=2.0)
    assert not any(p.requires_grad for p in teacher.model.parameters())
    frames = torch.randn(2, 40, FEATURES.feature_dim)
    whole = teacher.soft_targets(frames, None)
    teacher.state = None
    first, second = teacher.soft_targets(frames[:, :25], None), teacher.soft_targets(frames[:, 25:], torch.ones(2))
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)  # the state goes on between segments
    teacher.state = None
    teacher.soft_targets(frames[:, :25], None)
    reset = teacher.soft_targets(frames[:, 25:], torch.tensor([0.0, 1.0]))  # lane 0 reset with the student's
    teacher.state = None
    fresh = teacher.soft_targets(frames[:, 25:], None)
    assert torch.allclose(reset[0], fresh[0], atol=1e-5) and torch.allclose(reset[1], second[1], atol=1e-5)
    assert not torch.allclose(reset[0], second[0], atol=1e-3)
    # a student saying what the teacher says costs nothing; another is pulled toward it
    background = torch.full(whole.shape[:2], -1)  # no word window: a plain mean over the frames
    assert float(teacher.loss(whole * teacher.temperature, whole, background)) < 1e-5
    student = torch.zeros_like(whole, requires_grad=True)
    loss = teacher.loss(student, whole, background)
    loss.backward()
    assert float(loss.detach()) > 0
    assert float(teacher.loss(student.detach() - 0.5 * student.grad, whole, background)) < float(loss.detach())
    # with word windows, the words' frames weigh as much as all the background's
    word_ids = background.clone()
    word_ids[:, 30:32] = 0
    per_frame = (whole.exp() * (whole - torch.log_softmax(student.detach() / 2.0, -1))).sum(-1) * 4.0
    expected = per_frame[word_ids < 0].mean() + per_frame[word_ids >= 0].mean()
    assert torch.isclose(teacher.loss(student.detach(), whole, word_ids), expected)


def test_a_student_learns_the_teachers_posteriors_and_the_teacher_stays_as_it_was(tones, cache, tmp_path):
    from speechrnn.checkpoint import load_model
    from speechrnn.training.distillation import Teacher

    options = dict(TINY_TRAIN, objective="stream", stream_segment_s=2.0, precision="float32")  # the same on any CPU
    model = ModelConfig(num_classes=2, **TINY_MODEL)
    spec = spec_of(tones, include_silence=True)

    def run(out: str, epochs: int, **extra):
        return list(train(spec, FEATURES, model, AugmentConfig(), TrainConfig(epochs=epochs, **{**options, **extra}),
                          tmp_path / out, cache_dir=cache))

    teacher_path = run("teacher", 6)[-1].result.best_path
    before = teacher_path.read_bytes()
    plain = run("plain", 6, seed=1)[-1].result.best_path
    events = run("student", 6, seed=1, distill_from=str(teacher_path), distill_weight=5.0)
    assert any(isinstance(e, Message) and "posteriors at every frame (weight 5, temperature 2)" in e.text for e in events)
    assert teacher_path.read_bytes() == before
    # on the tone words, the distilled network's posteriors are nearer the teacher's than the plain one's
    waves = torch.stack([torch.from_numpy(sf.read(path, dtype="float32")[0][:RATE_HZ])
                         for path in sorted(tones.glob("*/*.wav"))[:32]])
    frames = FeatureExtractor(FEATURES)(torch.nn.functional.pad(waves, (0, RATE_HZ - waves.shape[-1])))
    teacher = Teacher(load_model(teacher_path)[0], temperature=1.0)
    targets = teacher.soft_targets(frames, None)

    def distance(path: Path) -> float:
        logits, _ = load_model(path)[0].forward_frames(frames)
        return float(teacher.loss(logits.detach(), targets, torch.full(targets.shape[:2], -1)))

    assert distance(events[-1].result.best_path) < 0.6 * distance(plain)  # measured: a third
    with pytest.raises(SpeechRNNError, match="cannot teach this run: its labels"):
        list(train(spec_of(tones, include_silence=True, words=("alpha", "bravo")), FEATURES, model, AugmentConfig(),
                   TrainConfig(epochs=1, **options, distill_from=str(teacher_path)), tmp_path / "other", cache_dir=cache))
    with pytest.raises(ValueError, match="stream objective"):
        TrainConfig(objective="clip", distill_from=str(teacher_path))


def test_the_source_probe_reads_a_microphones_whistle_back_from_the_network_and_not_a_second_folder_of_the_same(tmp_path):
    """bench.source_probe: the folder a word came from, read from the network's output at the word."""
    from bench.source_probe import probe

    room = make_tone_dataset(tmp_path / "room", speakers=12, seed=0, prefix="room")
    mic = make_tone_dataset(tmp_path / "mic", speakers=12, seed=1, prefix="mic")
    same = make_tone_dataset(tmp_path / "same", speakers=12, seed=1, prefix="other")
    for path in mic.glob("*/*.wav"):  # this "microphone" adds a steady 3 kHz whistle to every word
        wave, rate = sf.read(path, dtype="float32")
        whistle = 0.1 * np.sin(2 * np.pi * 3000.0 * np.arange(len(wave)) / rate)
        sf.write(path, (wave + whistle).astype(np.float32), rate, subtype="PCM_16")
    options = dict(TINY_TRAIN, objective="stream", stream_segment_s=2.0, precision="float32")
    groups = {"room": "room", "mic": "mic", "same": "other"}
    read = {}
    for name, roots in (("whistle", (room, mic)), ("same", (room, same))):
        events = list(train(spec_of(*roots, include_silence=True), FEATURES, ModelConfig(num_classes=2, **TINY_MODEL),
                            AugmentConfig(), TrainConfig(epochs=4, **options), tmp_path / name,
                            cache_dir=tmp_path / "cache"))
        read[name] = probe(str(events[-1].result.best_path), groups, str(tmp_path / "cache"))
    assert read["whistle"]["chance"] == read["same"]["chance"] == 0.5
    assert read["whistle"]["balanced_accuracy"] >= 0.9  # measured: 1.0
    assert read["same"]["balanced_accuracy"] <= 0.8  # measured: 0.44
