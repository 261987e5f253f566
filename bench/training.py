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
        # (cell, fast_rnn, precision, kernel measured): the training default first (on CPU the GRU
        # kernel is chosen by measurement), then on CPU both GRU kernels forced, in float32 (what a
        # CPU without AMX trains in) and in the default precision where that is bfloat16
        settings = [(cell, True, "auto", True) for cell in CELLS]
        if device == "cpu":
            precisions = dict.fromkeys(("float32", resolve_precision("auto", torch.device(device))))
            settings += [("gru", fast, precision, False) for precision in precisions for fast in (True, False)]
        for cell, fast, precision, measured in settings:
            rate = measure_training_throughput(cell=cell, hidden=hidden, layers=LAYERS, batch_size=batch,
                                               seconds=seconds, fast_rnn=fast, device=device, precision=precision,
                                               measure_kernel=measured)
            params = RNNClassifier(ModelConfig(num_classes=12, cell=cell, hidden=hidden, layers=LAYERS)).num_parameters()
            resolved = resolve_precision(precision, torch.device(device))
            forced = "" if measured or device != "cpu" else (" (fused kernel)" if fast else " (plain nn.GRU)")
            label = f"{cell}, {resolved}" + (" (kernel chosen by measurement)" if measured and cell == "gru"
                                             and device == "cpu" else forced)
            runs.append({"device": device, "cell": label, "hidden": hidden, "layers": LAYERS, "batch": batch,
                         "parameters": params, "samples_per_s": rate, "fast_rnn": fast, "precision": resolved})
    return {
        "note": f"Batch {batch}, 1 s clips from memory, every default augmentation on (noise, shift, room, gain, "
                f"SpecAugment), attention pooling, {seconds:g} s timed per row, torch threads {torch.get_num_threads()}; "
                "precision 'auto' is the training default (bfloat16 matrix products on CPUs with AMX); so is the "
                "GRU's CPU kernel, fused or nn.GRU's, whichever a short timing on this machine found faster.",
        "runs": runs,
    }
