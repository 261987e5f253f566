"""``speechrnn info MODEL``: what a checkpoint is (labels, features, model, metrics, data).

Without MODEL (or with ``--bundled``) it lists the bundled models: name, file, words, held-out accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text,
        description="Show a checkpoint's labels, feature settings, model, parameter count, training "
                    "settings, metrics, data sources and their licenses. Without MODEL: list the bundled models.")
    parser.add_argument("model", nargs="?", default=None,
                        help="checkpoint (.pt) or bundled model name (digits, commands); none: list the bundled models")
    parser.add_argument("--bundled", action="store_true", help="list the bundled models (names for --model)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.set_defaults(func=run)


def _line(name: str, value) -> None:
    print(f"{name:>12}: {value}")


def _fmt(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _as_trained(train: dict, metrics: dict) -> dict:
    """The training settings, with the batch size that was used where the run shrank it (min_steps)."""
    used = metrics.get("batch_size")
    if used is None or used == train.get("batch_size"):
        return train
    return {**train, "batch_size": f"{used} (asked {train.get('batch_size')}, shrunk by min_steps)"}


def _source_name(source: dict) -> str:
    """A source's name and, where it says more, its folder: "speech-commands:v2 at /data/sc" or "/data/fsdd".
    A folder of the machine that trained the model, not on this one, is left out (``--json`` keeps it)."""
    name, path = str(source.get("name", "")), str(source.get("path", ""))
    if not path or path == name or not Path(path).exists():
        return name
    if path.rstrip("/").endswith("/" + name):  # a folder source is named after its folder
        return path
    return f"{name} at {path}"


def _file_here(path: str) -> str:
    """A model file a checkpoint names: its path, or its name where the path is of another machine."""
    return path if Path(path).exists() else f"{Path(path).name} (a file of the machine that trained it)"


def list_bundled(as_json: bool) -> int:
    import json

    from speechrnn.bundled import BUNDLED_MODELS, asset_dirs, available_models, held_out_figures
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recognizer import is_background

    found = available_models()
    rows = []
    for name, path in found.items():
        checkpoint = load_checkpoint(path)
        rows.append({"name": name, "path": str(path), "labels": checkpoint.labels,
                     "held_out": held_out_figures(checkpoint.metrics)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no bundled models installed (looked for {', '.join(BUNDLED_MODELS.values())} in "
              f"{', '.join(str(d) for d in asset_dirs())})")
        return 0
    for row in rows:
        words = [label for label in row["labels"] if not is_background(label)]
        _line(row["name"], row["path"])
        _line("words", f"{len(words)}: {', '.join(words)}")
        _line("held out", row["held_out"] or "no held-out figures stored")
    missing = [name for name in BUNDLED_MODELS if name not in found]
    if missing:
        print(f"not installed here: {', '.join(missing)}")
    print("use one with: speechrnn listen --model NAME")
    return 0


def run(args: argparse.Namespace) -> int:
    import json

    from speechrnn.bundled import resolve_model
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recognizer import DEFAULT_THRESHOLD, recorded_threshold

    if args.bundled or args.model is None:
        return list_bundled(args.json)
    checkpoint = load_checkpoint(resolve_model(args.model))
    summary = checkpoint.summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    model = summary["model_config"]
    _line("file", checkpoint.path)
    _line("labels", f"{len(checkpoint.labels)}: {', '.join(checkpoint.labels)}")
    kind = (f"ensemble of {len(checkpoint.network_configs)} networks (log-probabilities averaged): "
            if checkpoint.members else "")
    running_mean = (f", input minus its running mean over {model['running_mean_frames']} frames"
                    if model.get("running_mean_frames") else "")
    _line("model", f"{kind}{checkpoint.architecture()}, pooling {model['pooling']}{running_mean}, "
                   f"{summary['parameters']:,} parameters")
    _line("features", _fmt(summary["feature_config"]))
    train = summary.get("train_config") or {}
    metrics = summary.get("metrics") or {}
    if train.get("train"):
        _line("training", _fmt(_as_trained(train["train"], metrics)))
    if train.get("augment"):
        _line("augment", _fmt(train["augment"]))
    recorded = recorded_threshold(train)
    _line("detection", f"threshold {recorded:g} (recorded by its training; --threshold sets another)" if recorded
          else f"threshold {DEFAULT_THRESHOLD:g} (the default; --threshold sets another)")
    if metrics:
        shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in metrics.items() if not isinstance(v, dict)}
        _line("metrics", _fmt(shown))
        for source, values in (metrics.get("test_per_source") or {}).items():
            _line("", f"test {source}: {100 * values['accuracy']:.2f} % ({values['clips']} clips)")
    data = summary.get("data") or {}
    for source in data.get("sources", []):
        license_text = (data.get("licenses") or {}).get(source.get("name"), "")
        speakers = source.get("speakers")
        _line("data", f"{_source_name(source)} ({source.get('clips')} clips, {speakers} speaker"
                      f"{'' if speakers == 1 else 's'})"
                      + (f"; license: {license_text}" if license_text else ""))
    base = data.get("started_from")
    if base:
        licenses = base.get("licenses") or {}
        owed = "; ".join(f"{name} ({licenses[name]})" if licenses.get(name) else name
                         for name in base.get("sources", []))
        _line("started from", _file_here(base["path"]) + (f", trained on {owed}" if owed else ""))
    for i, member in enumerate(summary.get("members", []), start=2):
        about = member.get("about") or {}
        licenses = (about.get("data") or {}).get("licenses") or {}
        owed = "; ".join(f"{name} ({text})" for name, text in licenses.items())
        _line(f"network {i}", f"{_file_here(about.get('path', '?'))}, created {about.get('created', '?')}"
                              + (f", trained on {owed}" if owed else ""))
    if summary.get("recipe"):
        _line("recipe", summary["recipe"])
    _line("created", f"{summary.get('created')} with speechrnn {summary.get('package_version')}")
    return 0
