"""CPU runtime and precision choices for training: denormals, allocator, bfloat16, the fused GRU."""

from __future__ import annotations

import os
import sys

import torch

PRECISION_ENV = "SPEECHRNN_PRECISION"  # forces what precision "auto" means (see resolve_precision)
KEEP_FREED_BYTES = 1 << 30  # glibc: freed blocks up to this size stay mapped for reuse


def tune_cpu_runtime() -> None:
    """Process-wide CPU settings for training: flush denormals, keep freed memory for reuse.

    Denormal floats (below ~1e-38) cost ~100x a normal multiply on x86; a vanilla RNN's gradients
    drift into that range after a few hundred steps and training became 4.5x slower (measured:
    280 -> 1,240 samples/s on one core). Flushing them to zero changes results only below 1e-38.
    """
    torch.set_flush_denormal(True)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed large blocks for reuse instead of unmapping them (Linux only).

    A training step frees and reallocates the same tens of megabytes of activations; by default
    glibc returns such blocks to the OS and every new step page-faults them in again (measured:
    ~20,000 faults and ~25 % of a GRU step on CPU). Process-wide; memory stays reserved for reuse.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD from <malloc.h>
    return bool(libc.mallopt(mmap_threshold, KEEP_FREED_BYTES)) and bool(libc.mallopt(trim_threshold, KEEP_FREED_BYTES))


def resolve_precision(precision: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``: ``auto`` means bfloat16 on CPUs with bfloat16 matrix units.

    The environment variable :data:`PRECISION_ENV` (``float32`` or ``bfloat16``) decides ``auto``
    instead: how the test suite is run as an AMD CPU (float32) or an AMX CPU (bfloat16) would run it.
    """
    if precision != "auto":
        return precision
    forced = os.environ.get(PRECISION_ENV, "").strip()
    if forced in ("float32", "bfloat16"):
        return forced
    if device.type != "cpu":
        return "float32"
    from speechrnn.fused_rnn import fast_matmul_dtype

    return fast_matmul_dtype()


def bfloat16_runs(model: torch.nn.Module, device: torch.device) -> bool:
    """False where bfloat16 training of ``model`` cannot run: an LSTM on a CPU without oneDNN's
    bfloat16 kernels (no AVX-512 or AMX, e.g. AMD EPYC Zen 2/3), where autocast fails with "could
    not create a primitive descriptor for the LSTM". The GRU (fused kernel) and RNN run anywhere."""
    if device.type != "cpu" or type(getattr(model, "rnn", None)) is not torch.nn.LSTM:
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def speed_up(model: torch.nn.Module, device: torch.device, precision: str, fast_rnn: bool,
             batch_shape: tuple[int, int] | None = None, choices=None):
    """Apply the training fast paths; returns the autocast context to run forward passes in.

    GRU on CPU: the fused kernel (:mod:`speechrnn.fused_rnn`), in ``precision``, where it is the
    faster one on this CPU for batches of ``batch_shape`` (clips, frames): measured once
    and remembered (:mod:`speechrnn.training.rnn_kernel`; ``choices`` overrides where). Without
    ``batch_shape`` the fused kernel is used unmeasured (benchmarks of the kernel itself).
    ``fast_rnn`` False: never. Anything else in bfloat16: ``torch.autocast`` (the LSTM then runs
    oneDNN's bfloat16 kernel).
    """
    import contextlib

    fused = fast_rnn and device.type == "cpu" and _use_fused(model, precision, batch_shape, choices)
    if precision == "bfloat16" and not fused:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _use_fused(model: torch.nn.Module, precision: str, batch_shape, choices) -> bool:
    from torch import nn

    from speechrnn.fused_rnn import use_fused_rnn
    from speechrnn.training.rnn_kernel import FUSED, choose_kernel

    rnn = getattr(model, "rnn", None)
    if type(rnn) is not nn.GRU:
        return False
    applies = rnn.batch_first and not rnn.bidirectional  # else FusedGRU runs nn.GRU's forward anyway
    if batch_shape is not None and applies and choose_kernel(rnn, batch_shape, precision, choices) != FUSED:
        return False
    return use_fused_rnn(model, precision)

