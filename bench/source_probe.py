"""How much of a word's recording source a network's output still tells: a linear probe.

Issue 10 names "microphones that act as a label": where a class comes mostly from one folder, the
folder's sound is a cue to the class. If a network leans on it, the folder can be read back from
its output. This fits a logistic regression from the network's output (the head's input) at the
frame where each training clip's own word scores highest to the clip's source group, on one half
of the training speakers (a hash of the speaker id), and scores it on the other half: balanced
accuracy, chance 1 / number of groups. Only clips of the vocabulary's words count (not
``_unknown_`` or ``_silence_``), so the probe asks "which recording of a *seven* is this?".

    python -m bench.source_probe MODEL --group fsdd=fsdd \\
        --group speech_commands=speech_commands_sample,speech_commands_v2_testset_half --group synthetic=synth_digits

The data are the model's own training data (the sources its checkpoint names, cached by the
recipe's work folder: pass that folder's ``cache`` as ``--cache-dir``); sources in no group are
left out. The probe's own split is fixed (the same figures every run on one machine).
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from speechrnn.data.spec import SILENCE, UNKNOWN

BATCH_CLIPS = 256
PROBE_HALVES = 2  # speakers hashed into a half the probe is fit on and a half it is scored on
PROBE_MAX_ITER = 2000


def word_end_outputs(model, extractor, waves: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """The network's output (the head's input) at the frame where each clip's own class scores highest."""
    kept: dict[str, torch.Tensor] = {}
    hook = model.head.register_forward_pre_hook(lambda module, inputs: kept.__setitem__("h", inputs[0]))
    tail = model.config.tail_samples(extractor.config.sample_rate_hz)
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(waves), BATCH_CLIPS):
                frames = extractor(F.pad(waves[start:start + BATCH_CLIPS].float(), (0, tail)))
                logits, _ = model.forward_frames(frames)
                target = targets[start:start + BATCH_CLIPS].view(-1, 1, 1).expand(-1, logits.shape[1], 1)
                peak = logits.log_softmax(-1).gather(2, target).squeeze(-1).argmax(1)
                outputs.append(kept["h"][torch.arange(len(peak)), peak].numpy())
    finally:
        hook.remove()
    return np.concatenate(outputs)


def probe(path: str, groups: dict[str, str], cache_dir: str | None) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    from speechrnn.checkpoint import load_checkpoint, load_model
    from speechrnn.data.cache import prepare_data
    from speechrnn.data.spec import DataSpec
    from speechrnn.events import Finished
    from speechrnn.features import FeatureExtractor

    checkpoint = load_checkpoint(path)
    model, _ = load_model(path)
    model.eval()
    spec = DataSpec.from_dict(checkpoint.train_config["data"])
    prepared = next(e.result for e in prepare_data(spec, checkpoint.feature_config, Path(cache_dir) if cache_dir else None)
                    if isinstance(e, Finished))
    train = prepared.train
    rows = [i for i, clip in enumerate(train.clips) if clip is not None
            and prepared.labels[int(train.targets[i])] not in (UNKNOWN, SILENCE) and Path(clip.source).name in groups]
    names = sorted({groups[Path(train.clips[i].source).name] for i in rows})
    if len(names) < 2:
        raise SystemExit(f"{path}: the training clips of the vocabulary fall in fewer than two of the groups "
                         f"({', '.join(sorted(set(groups.values())))})")
    outputs = word_end_outputs(model, FeatureExtractor(checkpoint.feature_config), train.waves[rows], train.targets[rows])
    group = np.array([names.index(groups[Path(train.clips[i].source).name]) for i in rows])
    half = np.array([zlib.crc32(train.clips[i].speaker.encode()) % PROBE_HALVES for i in rows])
    fitted = LogisticRegression(max_iter=PROBE_MAX_ITER, class_weight="balanced").fit(outputs[half == 0], group[half == 0])
    accuracy = balanced_accuracy_score(group[half == 1], fitted.predict(outputs[half == 1]))
    clips = {name: int((group == k).sum()) for k, name in enumerate(names)}
    return {"model": str(path), "balanced_accuracy": float(accuracy), "chance": 1 / len(names), "clips": clips}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.source_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="checkpoints (each probed on its own training data)")
    parser.add_argument("--group", action="append", required=True, metavar="NAME=FOLDER[,FOLDER]",
                        help="a source group: the source folders (by name) whose clips count as NAME")
    parser.add_argument("--cache-dir", default=None, help="the decoded-clip cache (a recipe's WORK/cache)")
    args = parser.parse_args(argv)
    groups = {}
    for text in args.group:
        name, _, folders = text.partition("=")
        groups.update({folder: name for folder in folders.split(",") if folder})
    torch.set_num_threads(1)
    for path in args.models:
        result = probe(path, groups, args.cache_dir)
        clips = ", ".join(f"{name} {count}" for name, count in result["clips"].items())
        print(f"{path}: the source read back {100 * result['balanced_accuracy']:.1f} % of the time "
              f"(balanced, chance {100 * result['chance']:.0f} %; {clips} clips)")


if __name__ == "__main__":
    main()
