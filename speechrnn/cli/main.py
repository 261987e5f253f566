"""Entry point: ``speechrnn <command> ...``.

Each command lives in its own module ``speechrnn.cli.<name>`` exposing
``register(subparsers)`` (adds its parser and sets ``func``) and a ``run(args) -> int``.
Commands are imported lazily so that ``speechrnn --help`` stays fast.
A :class:`SpeechRNNError` becomes one line on stderr and exit status 2. Output into a pipe that
closes early (``speechrnn info M | head -1``) ends quietly with the status of a process killed by
SIGPIPE; SIGTERM ends like Ctrl-C (``train`` saves a resumable checkpoint first).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import warnings

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
    "ensemble": "combine stream-trained models of the same words into one that averages them",
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


EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, what the shell reports for a process killed by SIGPIPE
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
# Library warnings a user can do nothing about (librosa/audioread falling back to another decoder,
# deprecations inside torch and its exporters); a file that cannot be read is still an error.
QUIET_WARNING_CATEGORIES = (UserWarning, FutureWarning, DeprecationWarning)


class Terminated(BaseException):
    """SIGTERM arrived (not an Exception: cleanup code that catches errors lets it pass)."""


def _raise_terminated(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated()


def _handle_sigterm():
    """SIGTERM unwinds like Ctrl-C, so that temporary files are removed (``train`` sets its own).

    Returns the previous handler (None where signals cannot be set: not the main thread).
    """
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (main() called from a worker): keep the default
        return None


def _quiet_stdout_after_broken_pipe() -> None:
    """The reader of stdout went away: point stdout at devnull so that the final flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by something without a descriptor
        pass
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    previous_sigterm = _handle_sigterm()
    try:
        with warnings.catch_warnings():
            for category in QUIET_WARNING_CATEGORIES:
                warnings.simplefilter("ignore", category)
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except SpeechRNNError as exc:
        print(f"speechrnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        _quiet_stdout_after_broken_pipe()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"speechrnn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"speechrnn {args.command}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":
    raise SystemExit(main())
