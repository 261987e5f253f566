"""The bundled default model (or ``--model``, scored on the split of the recipe that built it): file size, load time, parameters, held-out accuracy per source,
clean and with held-out noise at 10 dB SNR (re-measured now, next to what the recipe recorded)."""

from __future__ import annotations

import time

from bench.context import BenchContext, Skipped
from bench.heldout import held_out, model_recipe

LOAD_REPEATS = 5  # best of this many loads
SNR_DB = 10.0


def _load_seconds(path) -> float:
    from speechrnn.checkpoint import load_model

    best = float("inf")
    for _ in range(LOAD_REPEATS):
        start = time.perf_counter()
        load_model(path)
        best = min(best, time.perf_counter() - start)
    return best


def run(ctx: BenchContext) -> dict:
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.events import run_to_end

    path = ctx.default_model
    if not path.is_file():
        raise Skipped(f"{path} does not exist (build it with python -m bench.build_default_model)")
    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    data = held_out(ctx, model_recipe(path))
    table = {
        "file size (kB)": path.stat().st_size / 1000,
        "load time (ms, best of 5)": 1000 * _load_seconds(path),
        "parameters": model.num_parameters(),
        "model": (f"ensemble of {len(ckpt.network_configs)}: " if ckpt.members else "") + ckpt.architecture(),
        "features": f"{ckpt.feature_config.kind} {ckpt.feature_config.feature_dim}, "
                    f"{ckpt.feature_config.f_min_hz:g}-{ckpt.feature_config.f_max_hz:g} Hz",
    }
    if data.spec is not None:
        from speechrnn.recipes import held_out_metrics

        metrics = run_to_end(held_out_metrics(path, data.spec, data.noise, SNR_DB, "testing", groups=data.groups))
    else:
        from speechrnn.evaluate import evaluate

        result = run_to_end(evaluate(path, data.words, noise_dirs=(str(data.noise),), snr_db=SNR_DB))
        metrics = {"clean": {"all": {"accuracy": result.accuracy, "clips": result.clips}, **result.per_source},
                   f"snr_{SNR_DB:g}db": {"all": {"accuracy": result.noisy["accuracy"], "clips": result.noisy["clips"]},
                                         **result.noisy["per_source"]}}
    for condition, label in (("clean", "accuracy"), (f"snr_{SNR_DB:g}db", f"accuracy at {SNR_DB:g} dB SNR")):
        for source, value in metrics[condition].items():
            table[f"{source} {label} ({value['clips']} clips)"] = value["accuracy"]
    recorded = ckpt.metrics.get("recipe", {}).get("testing")
    return {"note": f"Scored on {data.description}.", "table": table, "metrics": metrics,
            "recorded_by_recipe": recorded}
