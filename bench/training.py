"""Training throughput (samples/s) of rnn / lstm / gru at 2×128 on CPU (and GPU when present),
measured with TRAIN's ``measure_training_throughput`` (the real per-batch path: float16 waves ->
augmentation -> features -> model -> loss -> backward -> AdamW)."""

from __future__ import annotations

from bench.context import BenchContext

CELLS = ("rnn", "lstm", "gru")
HIDDEN, LAYERS, BATCH = 128, 2, 256
QUICK_HIDDEN, QUICK_BATCH = 16, 16
SECONDS = 20.0  # timed seconds per configuration
QUICK_SECONDS = 0.2


def run(ctx: BenchContext) -> dict:
    import torch

    from speechrnn.model import ModelConfig, RNNClassifier
    from speechrnn.training import measure_training_throughput, resolve_precision

    hidden = QUICK_HIDDEN if ctx.quick else HIDDEN
    batch = QUICK_BATCH if ctx.quick else BATCH
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    runs = []
    for device in devices:
        settings = [(cell, True, "auto") for cell in CELLS]
        if device == "cpu":
            settings.append(("gru", True, "float32"))  # the default precision's gain, where it is bfloat16
            settings.append(("gru", False, "float32"))  # plain nn.GRU: what the fused CPU kernel is compared with
        for cell, fast, precision in settings:
            rate = measure_training_throughput(cell=cell, hidden=hidden, layers=LAYERS, batch_size=batch,
                                               seconds=seconds, fast_rnn=fast, device=device, precision=precision)
            params = RNNClassifier(ModelConfig(num_classes=12, cell=cell, hidden=hidden, layers=LAYERS)).num_parameters()
            resolved = resolve_precision(precision, torch.device(device))
            label = f"{cell}, {resolved}" + ("" if fast or device != "cpu" else " (plain nn.GRU)")
            runs.append({"device": device, "cell": label, "hidden": hidden, "layers": LAYERS, "batch": batch,
                         "parameters": params, "samples_per_s": rate, "fast_rnn": fast, "precision": resolved})
    return {
        "note": f"Batch {batch}, 1 s clips from memory, every default augmentation on (noise, shift, room, gain, "
                f"SpecAugment), attention pooling, {seconds:g} s timed per row, torch threads {torch.get_num_threads()}; "
                "precision 'auto' is the training default (bfloat16 matrix products on CPUs with AMX).",
        "runs": runs,
    }
