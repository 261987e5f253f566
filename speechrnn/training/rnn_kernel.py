"""Which GRU training kernel is faster on this CPU: the fused one or ``nn.GRU``'s own, by measurement.

The fused kernel (:mod:`speechrnn.fused_rnn`) is faster on CPUs with bfloat16 matrix units (Intel
AMX: 1,051 vs 931 samples/s end to end), but on a 2-core AMD EPYC in float32 it was slower than
plain ``nn.GRU`` (193-265 vs 313 samples/s). What wins depends on the CPU, its vector units, the
thread count and the shapes, so it is not guessed: the first time a (CPU, threads, cell, sizes,
batch, precision) combination trains, a few forward+backward steps of the recurrent layers alone
are timed with each kernel on random data (about a second) and the faster one is used. The
verdict is kept in a small JSON file in the user cache folder, so later runs on this machine
neither measure again nor change kernel (a run resumed on the same machine continues with the
kernel it started with).
"""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

CHOICES_FILE_NAME = "rnn_kernel_choices.json"
WARMUP_STEPS = 1  # untimed step per kernel (first-call allocations, oneDNN primitive creation)
# Timed steps per kernel, alternating between the kernels so that a burst of load from other
# processes slows both; each kernel's fastest step counts (load only ever adds time).
TIMED_STEPS = 3
FUSED, PLAIN = "fused", "plain"


@dataclass(frozen=True)
class KernelKey:
    """What the kernel choice depends on; its text is the key in the choices file."""

    cpu: str
    threads: int
    torch_version: str
    cell: str
    input_dim: int
    hidden: int
    layers: int
    batch: int
    frames: int
    precision: str

    def text(self) -> str:
        return (f"{self.cpu} | {self.threads} threads | torch {self.torch_version} | {self.cell} {self.layers}x"
                f"{self.hidden} in {self.input_dim} | batch {self.batch} x {self.frames} frames | {self.precision}")


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def kernel_key(rnn: nn.GRU, batch_shape: tuple[int, int], precision: str) -> KernelKey:
    batch, frames = batch_shape
    return KernelKey(cpu=cpu_name(), threads=torch.get_num_threads(), torch_version=torch.__version__,
                     cell="gru", input_dim=rnn.input_size, hidden=rnn.hidden_size, layers=rnn.num_layers, batch=batch,
                     frames=frames, precision=precision)


def faster_kernel(seconds: dict[str, float]) -> str:
    """The kernel with the shorter step time; ``nn.GRU``'s own on a tie (the fused one must win to be used)."""
    return FUSED if seconds[FUSED] < seconds[PLAIN] else PLAIN


def time_kernels(rnn: nn.GRU, batch_shape: tuple[int, int], precision: str) -> dict[str, float]:
    """Seconds of one forward+backward step of ``rnn``'s layers with each kernel (best of a few).

    Runs on a copy of ``rnn`` with random inputs; the global random state is left as it was.
    """
    from speechrnn.fused_rnn import FusedGRU, MATMUL_DTYPES

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(*batch_shape, rnn.input_size, generator=generator)
    layers = {}
    for kernel in (PLAIN, FUSED):
        layers[kernel] = copy.deepcopy(rnn).train()
        layers[kernel].__class__ = FusedGRU if kernel == FUSED else nn.GRU
        layers[kernel].fused_matmul_dtype = MATMUL_DTYPES[precision]
    seconds = {kernel: float("inf") for kernel in layers}
    with torch.random.fork_rng(devices=[]):
        for step in range(WARMUP_STEPS + TIMED_STEPS):
            for kernel, layer in layers.items():
                autocast = precision == "bfloat16" and kernel == PLAIN  # as speed_up runs nn.GRU in bfloat16
                started = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    outputs, _ = layer(inputs)
                outputs.float().sum().backward()
                if step >= WARMUP_STEPS:
                    seconds[kernel] = min(seconds[kernel], time.perf_counter() - started)
    return seconds


class KernelChoices:
    """The verdicts of earlier measurements on this machine, in a JSON file (missing or damaged: empty)."""

    def __init__(self, path: Path | None):
        self.path = path

    def get(self, key: KernelKey) -> str | None:
        choice = self._read().get(key.text(), {}).get("kernel")
        return choice if choice in (FUSED, PLAIN) else None

    def put(self, key: KernelKey, kernel: str, seconds: dict[str, float]) -> None:
        """Remember ``kernel`` for ``key``; a cache that cannot be written is only a lost shortcut."""
        if self.path is None:
            return
        from speechrnn.atomic import write_text_atomic
        from speechrnn.errors import SpeechRNNError

        choices = self._read()
        choices[key.text()] = {"kernel": kernel, "seconds_per_step": seconds}
        try:
            write_text_atomic(self.path, json.dumps(choices, indent=2, sort_keys=True) + "\n")
        except SpeechRNNError:
            pass

    def _read(self) -> dict:
        if self.path is None:
            return {}
        try:
            choices = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return choices if isinstance(choices, dict) else {}


def default_choices() -> KernelChoices:
    """The choices file in the user cache folder (``$SPEECHRNN_DATA_DIR`` if set, as the data cache)."""
    from speechrnn.data.download import default_data_dir

    return KernelChoices(default_data_dir() / CHOICES_FILE_NAME)


def choose_kernel(rnn: nn.GRU, batch_shape: tuple[int, int], precision: str,
                  choices: KernelChoices | None = None,
                  measure: Callable[[nn.GRU, tuple[int, int], str], dict[str, float]] = time_kernels) -> str:
    """``"fused"`` or ``"plain"`` for training ``rnn`` on batches of ``batch_shape`` (clips, frames).

    An earlier verdict for the same key is reused; otherwise ``measure`` times both kernels and the
    faster is remembered. ``measure`` and ``choices`` are parameters so that tests can inject them.
    """
    choices = choices if choices is not None else default_choices()
    key = kernel_key(rnn, batch_shape, precision)
    known = choices.get(key)
    if known is not None:
        return known
    seconds = measure(rnn, batch_shape, precision)
    kernel = faster_kernel(seconds)
    choices.put(key, kernel, seconds)
    return kernel

