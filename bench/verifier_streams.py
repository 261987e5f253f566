"""A second-pass verifier on a recipe's streams (stop 54's measurement; not adopted).

``python -m bench.verifier_streams STREAM_MODEL VERIFIER --mode agree|relabel|name [recipe_streams options]``

Every detection of the stream-trained model is read again by a clip classifier (e.g. a bidirectional
GRU trained with ``--set objective=clip``) on the 1 s of audio centred on the detected word (only what
was pushed: a window that would reach past it ends where the audio ends). ``--mode``:

- ``agree``: keep the detection only when the verifier's top class is the detection's word;
- ``relabel``: the verifier's word is reported; where it says ``_unknown_`` / ``_silence_``, nothing;
- ``name``: the verifier's word is reported where it names another word, and nothing is dropped.

The streams, scoring and table are ``bench.recipe_streams``'s; the harness swaps in
:class:`VerifiedRecognizer` for the recognizer ``stream_eval`` builds. Results: assets/README.md,
"A second-pass verifier".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from speechrnn.recognizer import Recognizer

MODES = ("agree", "relabel", "name")
WINDOW_S = 1.0  # what the clip classifier was trained on
CPU = torch.device("cpu")


class Verifier:
    """A clip classifier's top class for 1 s of audio."""

    def __init__(self, path: Path):
        from speechrnn.checkpoint import load_model
        from speechrnn.features import FeatureExtractor

        self.model, checkpoint = load_model(path)
        self.extractor = FeatureExtractor(checkpoint.feature_config)
        self.labels = list(checkpoint.labels)

    def top(self, audio: np.ndarray) -> str:
        from speechrnn.evaluate import clip_logits

        waves = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        return self.labels[int(clip_logits(self.model, self.extractor, waves, CPU)[0].argmax())]


class VerifiedRecognizer(Recognizer):
    """A :class:`Recognizer` whose detections pass the verifier first (``verify_mode``: see the module)."""

    verifier: Verifier
    verify_mode: str
    counts: Counter

    def _verified(self, detections: list) -> list:
        kept = []
        rate = self.sample_rate_hz
        width = round(WINDOW_S * rate)
        for detection in detections:
            centre = 0.5 * (detection.start_s + detection.end_s)
            end = min(round((centre + WINDOW_S / 2) * rate), self._samples_seen)
            audio = self._audio.span(max(0, end - width), end)
            top = self.verifier.top(np.pad(audio, (width - audio.size, 0)))
            background = top.startswith("_")
            if top == detection.label or (self.verify_mode == "name" and background):
                self.counts["kept"] += 1
                kept.append(detection)
            elif self.verify_mode in ("relabel", "name") and not background:
                self.counts[f"{detection.label}->{top}"] += 1
                kept.append(dataclasses.replace(detection, label=top))
            else:
                self.counts[f"dropped {detection.label}->{top}"] += 1
        return kept

    def push(self, samples: np.ndarray) -> list:
        return self._verified(super().push(samples))

    # flush() pushes silence through push(): its detections are verified there, once


@contextmanager
def verified_recognizers(verifier: Verifier, mode: str, counts: Counter):
    """Within the block, ``Recognizer.from_checkpoint`` (what stream_eval calls) builds VerifiedRecognizers."""
    original = Recognizer.__dict__["from_checkpoint"]

    def build(cls, path, config=None):
        recognizer = original.__func__(VerifiedRecognizer, path, config)
        recognizer.verifier, recognizer.verify_mode, recognizer.counts = verifier, mode, counts
        return recognizer

    Recognizer.from_checkpoint = classmethod(build)
    try:
        yield
    finally:
        Recognizer.from_checkpoint = original


def main(argv: list[str] | None = None) -> int:
    from bench.recipe_streams import main as recipe_streams_main

    parser = argparse.ArgumentParser(prog="python -m bench.verifier_streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the stream-trained model")
    parser.add_argument("verifier", type=Path, help="the clip classifier that reads each detection again")
    parser.add_argument("--mode", choices=MODES, default="agree")
    args, rest = parser.parse_known_args(argv)
    counts: Counter = Counter()
    with verified_recognizers(Verifier(args.verifier), args.mode, counts):
        code = recipe_streams_main([str(args.model), *rest])
    print("verifier:", ", ".join(f"{key} {value}" for key, value in counts.most_common()))
    return code


if __name__ == "__main__":
    sys.exit(main())
