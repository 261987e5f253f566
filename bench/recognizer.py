"""Streaming recognizer cost: microseconds per 10 ms frame and real-time factor on one thread,
carried-state streaming vs re-running a 1 s window every hop (LIVE's measuring functions)."""

from __future__ import annotations

from dataclasses import asdict

from bench.context import BenchContext

CELL, HIDDEN, LAYERS = "gru", 128, 2  # the size the live issue's goal is stated for
NUM_LABELS = 12  # ten words + silence + unknown
AUDIO_S = 30.0  # seconds of audio timed per setting
QUICK_AUDIO_S = 1.0
CHUNK_MS = 100.0  # push size (a typical audio callback batch); results do not depend on it


def _name(result) -> str:
    if result.mode == "window":
        return f"re-run 1 s window every {result.window_stride_ms:g} ms ({result.engine})"
    lanes = f"{result.lanes} lanes" if result.lanes > 1 else "1 carried state"
    return f"streaming, {lanes} ({result.engine})"


def _bundled_runs(audio_s: float, reference: float) -> list[dict]:
    """The bundled models as they ship (an ensemble runs all of its networks)."""
    from speechrnn.bundled import available_models
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.stream_eval import measure_recognizer_speed

    runs = []
    for name, path in available_models().items():
        checkpoint = load_checkpoint(path)
        result = measure_recognizer_speed(path, audio_s=audio_s, chunk_ms=CHUNK_MS)
        runs.append({"name": f"bundled {name} model ({checkpoint.architecture()})", **asdict(result),
                     "relative": result.us_per_frame / reference})
    return runs


def run(ctx: BenchContext) -> dict:
    import torch

    from speechrnn.model import ModelConfig, RNNClassifier
    from speechrnn.recognizer import DetectorConfig
    from speechrnn.stream_eval import compare_recognizer_speeds, measure_recognizer_speed

    torch.manual_seed(ctx.seed)
    model = RNNClassifier(ModelConfig(num_classes=NUM_LABELS, cell=CELL, hidden=HIDDEN, layers=LAYERS)).eval()
    audio_s = QUICK_AUDIO_S if ctx.quick else AUDIO_S
    results = compare_recognizer_speeds(model, audio_s=audio_s, chunk_ms=CHUNK_MS)
    stream_trained = RNNClassifier(ModelConfig(num_classes=NUM_LABELS, cell=CELL, hidden=HIDDEN, layers=LAYERS,
                                               pooling="last", objective="stream", background_class=0)).eval()
    results.append(measure_recognizer_speed(stream_trained, audio_s=audio_s, chunk_ms=CHUNK_MS,
                                            config=DetectorConfig(engine="onnx")))
    streaming = [r for r in results if r.mode == "stream"]
    reference = min(r.us_per_frame for r in streaming)
    runs = [{"name": _name(r) + (" - stream-trained model (the default)" if r is results[-1] else ""),
             **asdict(r), "relative": r.us_per_frame / reference} for r in results]
    runs += _bundled_runs(audio_s, reference)
    return {
        "note": f"{LAYERS}×{HIDDEN} {CELL}, {NUM_LABELS} labels, one CPU thread, {CHUNK_MS:g} ms pushes, "
                "features and detection included; relative = µs per frame / fastest streaming setting.",
        "model": f"{CELL} {LAYERS}x{HIDDEN}",
        "runs": runs,
    }
