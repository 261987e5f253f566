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
    from speechrnn.train import measure_training_throughput

    hidden = QUICK_HIDDEN if ctx.quick else HIDDEN
    batch = QUICK_BATCH if ctx.quick else BATCH
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    runs = []
    for device in devices:
        settings = [(cell, True) for cell in CELLS]
        if device == "cpu":
            settings.append(("gru", False))  # plain nn.GRU: what the fused CPU kernel is compared with
        for cell, fast in settings:
            rate = measure_training_throughput(cell=cell, hidden=hidden, layers=LAYERS, batch_size=batch,
                                               seconds=seconds, fast_rnn=fast, device=device)
            params = RNNClassifier(ModelConfig(num_classes=12, cell=cell, hidden=hidden, layers=LAYERS)).num_parameters()
            label = cell if fast or device != "cpu" else f"{cell} (plain nn.GRU)"
            runs.append({"device": device, "cell": label, "hidden": hidden, "layers": LAYERS, "batch": batch,
                         "parameters": params, "samples_per_s": rate, "fast_rnn": fast})
    return {
        "note": f"Batch {batch}, 1 s clips from memory, noise + shift + SpecAugment on, {seconds:g} s timed per row, "
                f"torch threads {torch.get_num_threads()}.",
        "runs": runs,
    }
