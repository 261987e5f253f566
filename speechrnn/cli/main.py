"""Entry point: ``speechrnn <command> ...``.

Each command lives in its own module ``speechrnn.cli.<name>`` exposing
``register(subparsers)`` (adds its parser and sets ``func``) and a ``run(args) -> int``.
Commands are imported lazily so that ``speechrnn --help`` stays fast.
A :class:`SpeechRNNError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from speechrnn import __version__
from speechrnn.errors import SpeechRNNError

# module name -> one-line help (the order is the order shown in --help)
COMMANDS = {
    "download": "download Speech Commands (v1, v2, v2 test set) into the cache",
    "train": "train an RNN / LSTM / GRU classifier",
    "evaluate": "accuracy, per-class metrics and confusion matrix on a folder",
    "predict": "top-k labels for audio files",
    "export": "export a checkpoint to ONNX (streaming step) and TorchScript",
    "info": "show a checkpoint's labels, features, parameters and metrics",
    "devices": "list audio input devices",
    "listen": "recognize words live from the microphone (or a long file)",
    "record": "record takes of your own words into a dataset folder",
    "stream-eval": "hits, misses, false accepts/hour and latency on a synthetic stream",
    "synth": "synthesize training clips for custom words with local TTS voices",
    "gradients": "how far back gradients reach: the vanishing-gradient plot of a model",
}


def module_name(command: str) -> str:
    return "speechrnn.cli." + command.replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speechrnn",
        description="Speech-command recognition with recurrent neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, help_text in COMMANDS.items():
        try:
            module = importlib.import_module(module_name(command))
        except ModuleNotFoundError as exc:
            if exc.name == module_name(command):
                continue  # command not built into this installation
            raise
        module.register(subparsers, command, help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpeechRNNError as exc:
        print(f"speechrnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"speechrnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
