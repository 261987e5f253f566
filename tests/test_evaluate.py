"""Evaluation of a trained checkpoint on folders: metrics, per source, noisy scoring, label mapping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from datapaths import NOISE
from speechrnn.errors import AudioError, CheckpointError, DataError, SpeechRNNError
from speechrnn.evaluate import (
    classification_metrics,
    evaluate,
    label_mapping,
    plot_confusion,
    predict_files,
    write_json_atomic,
)
from speechrnn.events import run_to_end
from speechrnn.features import FeatureConfig
from test_train import WORD_TONES_HZ, make_tone_dataset, trained_tone_model


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    return trained_tone_model(tmp_path_factory.getbasetemp())


def scored(model: Path, data, tmp_path: Path, **options):
    return run_to_end(evaluate(model, data, cache_dir=tmp_path / "cache", **options))


def test_metrics_agree_with_the_confusion_matrix_and_the_wrong_list(tone_model, tmp_path):
    data, model = tone_model
    result = scored(model, data, tmp_path)
    confusion = torch.tensor(result.confusion)
    assert result.clips == confusion.sum() == len(WORD_TONES_HZ) * 24  # a folder is scored whole
    assert result.accuracy == pytest.approx(float(confusion.trace() / confusion.sum()))
    assert result.accuracy > 0.75
    assert len(result.wrong) == result.clips - int(confusion.trace())
    for i, label in enumerate(result.labels):
        stats = result.per_class[label]
        assert stats["support"] == int(confusion[i].sum())
        assert stats["recall"] == pytest.approx(float(confusion[i, i] / confusion[i].sum()))
    for path, true, predicted, score in result.wrong:
        assert Path(path).parent.name == true != predicted and 0 < score <= 1
    assert set(result.per_source) == {data.name}

    out = write_json_atomic(tmp_path / "eval.json", result.to_dict())
    payload = json.loads(out.read_text())
    assert payload["accuracy"] == result.accuracy and payload["confusion"] == result.confusion
    assert {"path", "true", "predicted", "score"} <= set(payload["wrong"][0]) if payload["wrong"] else True
    assert plot_confusion(result, tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_each_source_is_reported_separately(tone_model, tmp_path):
    data, model = tone_model
    other = make_tone_dataset(tmp_path / "other_voices", speakers=6, seed=5, prefix="voice")
    result = scored(model, [data, other], tmp_path)
    assert set(result.per_source) == {"data", "other_voices"}
    assert result.per_source["other_voices"]["clips"] == 6 * len(WORD_TONES_HZ)


def test_noisy_scoring_is_repeatable_and_needs_a_noise_folder(tone_model, tmp_path):
    data, model = tone_model
    first = scored(model, data, tmp_path, noise_dirs=[str(NOISE)], snr_db=-5.0, seed=1)
    second = scored(model, data, tmp_path, noise_dirs=[str(NOISE)], snr_db=-5.0, seed=1)
    assert first.noisy["snr_db"] == -5.0
    assert first.noisy["accuracy"] == second.noisy["accuracy"]
    assert first.noisy["confusion"] == second.noisy["confusion"]
    assert first.accuracy == second.accuracy  # the clean score is untouched by the noisy one
    with pytest.raises(SpeechRNNError, match="--noise-dir"):
        scored(model, data, tmp_path, snr_db=10.0)


def test_a_folder_of_one_word_is_scored(tone_model, tmp_path):
    """A user's takes of one word are a fair test set, though one word cannot train a classifier."""
    data, model = tone_model
    folder = tmp_path / "one_word"
    shutil.copytree(data / "alpha", folder / "alpha")
    result = scored(model, folder, tmp_path)
    assert result.clips == len(list((folder / "alpha").iterdir())) > 0
    assert result.per_class["alpha"]["support"] == result.clips and result.accuracy > 0.75


def test_a_label_the_model_does_not_know_is_a_clear_error(tone_model, tmp_path):
    data, model = tone_model
    folder = tmp_path / "mixed"
    shutil.copytree(data, folder)
    shutil.copytree(folder / "alpha", folder / "echo")
    with pytest.raises(DataError, match="echo not known to the model"):
        scored(model, folder, tmp_path)


def test_unknown_labels_map_to_unknown_when_the_model_has_it():
    assert label_mapping(["alpha", "zulu"], ["_silence_", "_unknown_", "alpha"], "data") == [2, 1]
    with pytest.raises(DataError, match="zulu"):
        label_mapping(["alpha", "zulu"], ["alpha", "bravo"], "data")


def test_a_checkpoint_with_other_features_is_refused(tone_model, tmp_path):
    data, model = tone_model
    with pytest.raises(CheckpointError, match="n_mfcc=40 vs 13"):
        scored(model, data, tmp_path, feature_config=FeatureConfig(n_mfcc=13))


def test_missing_folder_is_a_data_error(tone_model, tmp_path):
    _, model = tone_model
    with pytest.raises(DataError, match="does not exist"):
        scored(model, tmp_path / "nowhere", tmp_path)


def test_predict_ranks_labels_and_refuses_unreadable_files(tone_model, tmp_path):
    from speechrnn.checkpoint import load_model

    data, path = tone_model
    model, checkpoint = load_model(path)
    files = [data / "alpha" / "spk000_nohash_0.wav", data / "delta" / "spk001_nohash_0.wav"]
    predictions = predict_files(model, checkpoint, files, top_k=3)
    assert [p.top[0][0] for p in predictions] == ["alpha", "delta"]
    for prediction in predictions:
        probabilities = [p for _, p in prediction.top]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1.0 + 1e-6
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="broken.wav"):
        predict_files(model, checkpoint, [files[0], broken], top_k=1)


def test_classification_metrics_on_a_known_case():
    targets = torch.tensor([0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0])
    metrics = classification_metrics(targets, predicted, ["a", "b", "c"])
    assert metrics["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert metrics["per_class"]["c"]["f1"] == 0.0


def test_the_testing_split_is_the_one_training_held_out(tone_model, tmp_path):
    from speechrnn.checkpoint import load_checkpoint

    data, model = tone_model
    result = scored(model, data, tmp_path, split="testing")
    trained = load_checkpoint(model).metrics
    assert result.clips == trained["test_clips"]
    assert result.accuracy == pytest.approx(trained["test_accuracy"])


def test_macro_f1_counts_a_class_that_was_only_predicted():
    # yes: 1 of 2 heard (precision 1, recall 0.5); no: 2 of 2; "up" has no clips but took a "yes"
    metrics = classification_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 1]), ["yes", "no", "up", "down"])
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)  # "down": neither clips nor predictions
