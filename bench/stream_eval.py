"""LIVE's stream evaluation of the default model (or ``--model``): held-out words of the recipe that
built it over held-out noise at 10 dB SNR."""

from __future__ import annotations

from bench.context import BenchContext, Skipped
from bench.heldout import held_out, model_recipe

MINUTES = 10.0
QUICK_MINUTES = 0.3
SNR_DB = 10.0


def run(ctx: BenchContext) -> dict:
    from speechrnn.events import run_to_end
    from speechrnn.stream_eval import StreamConfig, stream_eval

    if not ctx.default_model.is_file():
        raise Skipped(f"{ctx.default_model} does not exist")
    data = held_out(ctx, model_recipe(ctx.default_model))
    config = StreamConfig(minutes=QUICK_MINUTES if ctx.quick else MINUTES, snr_db=SNR_DB, seed=ctx.seed)
    result = run_to_end(stream_eval(ctx.default_model, data.words, data.noise, config))
    summary = result.to_dict()
    table = {
        "stream": f"{result.hours * 60:.1f} min, {result.targets} words + {result.distractors} distractors, "
                  f"{SNR_DB:g} dB SNR",
        "hit rate": f"{100 * result.hit_rate:.1f} % ({result.hits}/{result.targets})",
        "misses": result.misses,
        "wrong label": result.wrong,
        "false accepts per hour": round(result.false_accepts_per_hour, 1),
        "latency median (ms after word end)": summary["latency_median_ms"],
        "latency p95 (ms)": summary["latency_p95_ms"],
        "real-time factor": summary["settings"].get("real_time_factor"),
    }
    return {"note": f"{data.description}; default detector settings.", "table": table, "summary": summary}
