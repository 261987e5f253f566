"""Live recognition of the default model (or ``--model``) as a user meets it, in numbers.

Held-out speakers of the recipe that built the model say its words, with other words of those
speakers as distractors, at 10 dB SNR over every held-out noise recording and over babble and a
steady hum made from held-out speech: one 10-minute stream per noise (a row each), then one hour
of each noise alone (every detection there is a false accept). ``stream_drift`` runs one 8-hour
stream and compares the hit rate of its first and last hour.
"""

from __future__ import annotations

from bench.context import BenchContext, Skipped
from bench.heldout import held_out, model_recipe

MINUTES = 10.0  # per noise
QUICK_MINUTES = 0.3
NOISE_ONLY_HOURS = 1.0  # per noise
QUICK_NOISE_ONLY_HOURS = 0.01
DRIFT_MINUTES = 480.0  # one 8-hour stream over all noises
SNR_DB = 10.0


def _room_noise_folder(ctx: BenchContext, data, vocabulary: set[str]):
    from speechrnn.data.background import with_room_noises

    return with_room_noises(data.noise, data.words, ctx.work_dir / "stream_noise", ctx.seed, vocabulary)


def run(ctx: BenchContext) -> dict:
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.events import run_to_end
    from speechrnn.stream_eval import StreamConfig, stream_eval

    if not ctx.default_model.is_file():
        raise Skipped(f"{ctx.default_model} does not exist")
    data = held_out(ctx, model_recipe(ctx.default_model))
    noise = _room_noise_folder(ctx, data, set(load_checkpoint(ctx.default_model).labels))
    config = StreamConfig(minutes=QUICK_MINUTES if ctx.quick else MINUTES, snr_db=SNR_DB, seed=ctx.seed,
                          noise_only_hours=QUICK_NOISE_ONLY_HOURS if ctx.quick else NOISE_ONLY_HOURS)
    result = run_to_end(stream_eval(ctx.default_model, data.words, noise, config))
    summary = result.to_dict()
    table = {
        "streams": f"{len(result.per_noise)} noises x {config.minutes:g} min: {result.targets} words + "
                   f"{result.distractors} distractors, {SNR_DB:g} dB SNR",
        "hit rate": f"{100 * result.hit_rate:.1f} % ({result.hits}/{result.targets})",
        "misses": result.misses,
        "wrong label": result.wrong,
        "false accepts per hour (with words)": round(result.false_accepts_per_hour, 1),
        "false accepts on distractor words": result.false_accepts_on_distractors,
        "false accepts per hour, noise alone": round(result.noise_only_false_accepts_per_hour, 2),
        "duplicates": result.duplicates,
        "latency median (ms after word end)": summary["latency_median_ms"],
        "latency p95 (ms)": summary["latency_p95_ms"],
        "real-time factor": summary["settings"].get("real_time_factor"),
    }
    per_noise = {name: {"hit rate %": round(100 * row["hit_rate"], 1),
                        "FA/h with words": round(row["false_accepts_per_hour"], 1),
                        "FA on distractors": row["false_accepts_on_distractors"],
                        "FA/h noise alone": (round(result.noise_only[name]["false_accepts"]
                                                   / result.noise_only[name]["hours"], 2)
                                             if name in result.noise_only else None)}
                 for name, row in result.per_noise.items()}
    return {"note": f"{data.description}, plus babble and hum made from held-out speech; default detector "
                    "settings.", "table": table, "per_noise": per_noise, "summary": summary}


def run_drift(ctx: BenchContext) -> dict:
    """One long stream (8 h; quick: a few minutes) over all noises, whose last hour replays its first
    (the same words over the same noise): the hit rate of the two. A model whose carried state
    drifts would lose hits late."""
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.events import run_to_end
    from speechrnn.stream_eval import StreamConfig, stream_eval

    if not ctx.default_model.is_file():
        raise Skipped(f"{ctx.default_model} does not exist")
    data = held_out(ctx, model_recipe(ctx.default_model))
    noise = _room_noise_folder(ctx, data, set(load_checkpoint(ctx.default_model).labels))
    minutes = QUICK_MINUTES if ctx.quick else DRIFT_MINUTES
    span_s = 60.0 * minutes / 2 if ctx.quick else 3600.0
    config = StreamConfig(minutes=minutes, snr_db=SNR_DB, seed=ctx.seed, per_noise=False, drift_hour_s=span_s)
    result = run_to_end(stream_eval(ctx.default_model, data.words, noise, config))
    drift = result.drift(span_s) or {}
    return {"note": f"one {minutes / 60:g}-hour stream, all noises looped, its last span the first replayed; "
                    f"{data.description}",
            "table": {"hours": round(result.hours, 2), "targets": result.targets,
                      "hit rate, first span %": round(100 * drift.get("first_hit_rate", float("nan")), 1),
                      "hit rate, last span %": round(100 * drift.get("last_hit_rate", float("nan")), 1),
                      "words replayed": drift.get("words"), "hit early, missed late": drift.get("lost"),
                      "missed early, hit late": drift.get("gained"),
                      "detections of the replay the same as the first span's (label, time within 10 ms)":
                          "{same} of {late} (first span: {early})".format(**drift["detections"])
                          if drift.get("detections") else None,
                      "span (s)": span_s, "false accepts per hour": round(result.false_accepts_per_hour, 2)},
            "summary": result.to_dict()}
