"""Results -> the markdown table of BENCHMARKS.md (one section per benchmark)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 ** (digits - 1) else f"{value:.{digits}g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _machine(m: dict) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    return [
        f"- date: {m.get('date')}  (commit {m.get('commit')})",
        f"- machine: {m.get('host')} — {m.get('os')}",
        f"- CPU: {m.get('cpu')}, {m.get('cpu_cores')} cores, torch threads {m.get('torch_threads')}; "
        f"GPU: {m.get('gpu') or 'none'}",
        f"- versions: Python {m.get('python')}, {versions}",
    ]


def _features(r: dict) -> list[str]:
    rows = [
        ["speechrnn FeatureExtractor, batch of " + str(r["batch_clips"]), _num(r["ours_clips_per_s"]), "1.0"],
        ["torchaudio.transforms.MFCC, same batch", _num(r["torchaudio_mfcc_clips_per_s"]),
         _num(r["torchaudio_mfcc_clips_per_s"] / r["ours_clips_per_s"])],
        ["librosa.feature.mfcc, one clip per call", _num(r["librosa_clips_per_s"]),
         _num(r["librosa_clips_per_s"] / r["ours_clips_per_s"])],
    ]
    return [f"Settings: {r['settings']}.", ""] + _table(["feature extraction", "clips/s", "relative"], rows) + [
        "", f"**Ours vs librosa per clip: {r['speedup_vs_librosa']:.1f}×**; vs torchaudio MFCC: "
        f"{r['speedup_vs_torchaudio_mfcc']:.1f}×."]


def _training(r: dict) -> list[str]:
    rows = [[m["device"], m["cell"], f"{m['layers']}×{m['hidden']}", m.get("parameters", "—"),
             _num(m["samples_per_s"])] for m in r["runs"]]
    return [r.get("note", "")] + [""] + _table(["device", "cell", "size", "parameters", "training samples/s"], rows)


def _recognizer(r: dict) -> list[str]:
    rows = [[m["name"], _num(m.get("us_per_frame")), _num(m.get("real_time_factor")),
             _num(m.get("relative"), 3)] for m in r["runs"]]
    return [r.get("note", "")] + [""] + _table(["method", "µs per 10 ms frame", "real-time factor", "cost vs streaming"], rows)


def _stream_eval(r: dict) -> list[str]:
    rows = [[k, _num(v) if isinstance(v, float) else v] for k, v in r["table"].items()]
    lines = [r.get("note", "")] + [""] + _table(["stream-eval", "value"], rows)
    if r.get("per_noise"):
        columns = list(next(iter(r["per_noise"].values())))
        lines += [""] + _table(["noise", *columns], [[name, *[_num(row[c]) if isinstance(row[c], float) else row[c]
                                                               for c in columns]]
                                                      for name, row in sorted(r["per_noise"].items())])
    return lines


def _default_model(r: dict) -> list[str]:
    rows = [[k, _pct(v) if k.endswith("accuracy") or "accuracy" in k else _num(v)] for k, v in r["table"].items()]
    return [r.get("note", "")] + [""] + _table(["default model", "value"], rows)


def _gates(r: dict, base: Path) -> list[str]:
    rows = [[m["cell"], f"{m['layers']}×{m['hidden']}", m["parameters"], _pct(m["accuracy"]),
             _pct(m.get("accuracy_noisy")), f"{m['reach_ms']:.0f} ms" if m.get("reach_ms") is not None else "beyond clip"]
            for m in r["runs"]]
    lines = [r.get("note", "")] + [""] + _table(
        ["cell", "size", "parameters", "held-out accuracy", "at 10 dB SNR", "gradient reach (<1 %)"], rows)
    if r.get("plot"):
        lines += ["", f"![gradient vs distance]({os.path.relpath(r['plot'], base)})"]
    return lines


def _synthetic(r: dict) -> list[str]:
    rows = [[m["training"], *(f"{_pct(m[t]['accuracy'])} ({m[t]['clips']})" for t in r["tests"])] for m in r["runs"]]
    return [r.get("note", "")] + [""] + _table(["trained on", *r["tests"]], rows)


def _data_scale(r: dict) -> list[str]:
    mib = 2**20
    rows = [[f"{name}: all {r[name]['clips']:,} clips", _num(r[name]["clips_per_s"]), f"{r[name]['seconds']:.1f} s",
             f"{r[name]['cpu_seconds']:.1f} s", f"{r[name]['peak_rss_bytes'] / mib:,.0f} MiB"] for name in ("cold", "warm")]
    rows += [[f"cold, decoding {d['source']} ({d['clips']:,} clips)", _num(d["clips"] / d["seconds"]),
              f"{d['seconds']:.1f} s", "", ""] for d in r["cold"]["decode"]]
    v2 = r["full_v2"]
    rows.append([f"full Speech Commands v2 ({v2['clips']:,} clips), extrapolated",
                 f"cold {v2['cold_minutes']:.1f} min ({v2['cold_minutes_idle_cpus']:.1f} min on idle cores), "
                 f"warm {v2['warm_seconds']:.0f} s", "", "",
                 f"{v2['peak_rss_bytes'] / mib:,.0f} MiB (estimate_peak_ram_bytes: "
                 f"{v2['estimate_peak_ram_bytes'] / mib:,.0f} MiB)"])
    return [r.get("note", "")] + [""] + _table(["prepare_data", "clips/s", "time", "CPU s", "peak RSS"], rows)


RENDERERS: dict[str, tuple[str, Callable[[dict], list[str]]]] = {
    "features": ("Feature extraction", _features),
    "training": ("Training throughput", _training),
    "recognizer": ("Streaming recognizer cost", _recognizer),
    "stream_eval": ("Stream evaluation of the default model", _stream_eval),
    "stream_drift": ("Drift: the first and the last hour of an 8-hour stream", _stream_eval),
    "default_model": ("Default model", _default_model),
    "gates": ("Why gates matter: rnn / lstm / gru at equal size", _gates),
    "synthetic": ("Synthetic voices: alone, and added to a few real takes", _synthetic),
    "data_scale": ("Data path at scale: decoding and caching all shared clips", _data_scale),
}


def render(results: dict, base: Path) -> str:
    """The whole markdown report of one run, for a file in folder ``base`` (image links are relative)."""
    mode = "quick (correctness only: toy sizes, numbers mean nothing)" if results.get("quick") else "full"
    lines = ["# speechrnn benchmarks", "", f"Mode: {mode}. Command: `{results.get('command')}`", ""]
    lines += _machine(results.get("machine", {}))
    for key, (title, renderer) in RENDERERS.items():
        if key not in results.get("sections", {}):
            continue
        section = results["sections"][key]
        lines += ["", f"## {title}", ""]
        if "skipped" in section:
            lines.append(f"_skipped: {section['skipped']}_")
        elif "error" in section:
            lines.append(f"_failed: {section['error']}_")
        else:
            lines += renderer(section, base) if key == "gates" else renderer(section)
        if "seconds" in section:
            lines += ["", f"<sub>section took {section['seconds']:.0f} s</sub>"]
    return "\n".join(lines) + "\n"
