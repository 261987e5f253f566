"""Export a checkpoint to ONNX and TorchScript, for use outside Python/speechrnn.

Two graphs, both taking raw feature frames (normalisation is inside the model; the features are
the checkpoint's ``feature_config``, stored in the files' metadata):

* **streaming step** ``<stem>.stream.onnx``: inputs ``frames`` (B, T, F) and the state tensors
  (``h`` (layers, B, hidden), ``c`` for LSTM, then the pooling accumulators, see
  :func:`state_specs`); outputs ``frame_logits`` (B, T, C) -- the clip logits as they stand after
  each frame -- and the new state tensors (``<name>_out``). Feed zeros (``attn_max``: -inf) at
  the start of a stream and each call's new state into the next: the result equals running the
  whole stream at once. B and T are dynamic (T = 1 for one frame per call).
* **whole clip** ``<stem>.clip.onnx``: ``frames`` (B, T, F) -> ``logits`` (B, C).

An ensemble (``speechrnn ensemble``) exports as one graph: its networks' states in turn
(``net1_h``, ``net2_h``, ...), and logits that are their averaged log-probabilities.

TorchScript (``<stem>.ts``) holds both: ``forward(frames)`` and ``step(frames, *state)``.

ONNX uses the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, the default of torch 2.x;
the legacy TorchScript exporter bakes the trace's sequence length into the graph). GRU and LSTM
export as ONNX loops over time (torch's while-loop decompositions); the vanilla RNN gets the same
treatment from :func:`_rnn_while_loop` here. Parity with PyTorch is tested with onnxruntime
(max abs difference of logits below 1e-4).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from speechrnn.atomic import atomic_path
from speechrnn.errors import SpeechRNNError

FORMATS = ("onnx", "torchscript", "all")
EXAMPLE_BATCH = 2  # example sizes used to trace; both dimensions stay dynamic
EXAMPLE_FRAMES = 5
METADATA_KEY = "speechrnn"


@dataclass(frozen=True)
class StateSpec:
    """One state tensor: its name, shape (``"batch"`` marks the batch axis) and initial value."""

    name: str
    shape: tuple[int | str, ...]
    initial: float = 0.0

    @property
    def batch_axis(self) -> int:
        return self.shape.index("batch")


def state_specs(model) -> list[StateSpec]:
    """Names and shapes of the model's state tuple, in order (see ``RNNClassifier.initial_state``);
    an ensemble's are its networks' in turn, named ``net1_h``, ``net2_h``, ..."""
    members = getattr(model, "members", None)
    if members is not None:
        return [dataclasses.replace(spec, name=f"net{i}_{spec.name}")
                for i, member in enumerate(members, start=1) for spec in state_specs(member)]
    cfg = model.config
    width = cfg.hidden * cfg.directions
    specs = [StateSpec("h", (cfg.layers * cfg.directions, "batch", cfg.hidden))]
    if cfg.cell == "lstm":
        specs.append(StateSpec("c", (cfg.layers * cfg.directions, "batch", cfg.hidden)))
    if cfg.running_mean_frames:
        specs.append(StateSpec("running_mean", (1, "batch", cfg.input_dim)))
    if cfg.pcen_frames:
        specs.append(StateSpec("pcen_power_mean", (1, "batch", cfg.spectral_bands)))
    if cfg.pooling == "mean":
        specs += [StateSpec("pool_sum", ("batch", width)), StateSpec("pool_count", ("batch", 1))]
    elif cfg.pooling == "attention":
        specs += [StateSpec("attn_max", ("batch", 1), float("-inf")), StateSpec("attn_den", ("batch", 1)),
                  StateSpec("attn_num", ("batch", width))]
    return specs


class StreamingStep(nn.Module):
    """``(frames, *state) -> (frame_logits, *new_state)``: the graph a streaming runtime calls."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model.forward_frames(frames, tuple(state))
        return (logits, *new_state)


class WholeClip(nn.Module):
    """``frames -> logits`` for whole clips (works for bidirectional models too)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model(frames)[0]

    def step(self, frames: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model.forward_frames(frames, tuple(state))
        return (logits, *new_state)


# ------------------------------------------------------------------------------ vanilla RNN
def _one_layer_rnn_while_loop(inp, hidden, params, has_biases, reverse=False, nonlinearity=torch.tanh):
    """One vanilla RNN layer as a ``while_loop`` over time, so the exported graph keeps T dynamic."""
    from torch._higher_order_ops.while_loop import while_loop

    ih_weight, hh_weight = params[0], params[1]
    ih_bias = params[2] if has_biases else None
    hh_bias = params[3] if has_biases else None
    projected = nn.functional.linear(inp, ih_weight, ih_bias)
    projected = projected.flip(0) if reverse else projected
    hh_weight = hh_weight.clone()
    hh_bias = hh_bias.clone() if hh_bias is not None else None
    steps = torch.empty(projected.size(0), *hidden.shape, dtype=hidden.dtype, device=hidden.device)

    def cond_fn(i, out, h):
        return i < projected.size(0)

    def body_fn(idx, out, h):
        i = idx.item()
        torch._check_is_size(i)
        torch._check_is_size(i, max=projected.size(0) - 1)
        h = nonlinearity(projected[i] + nn.functional.linear(h, hh_weight, hh_bias))
        out = out.clone()
        out[i] = h
        return idx + 1, out, h

    _, out, final = while_loop(cond_fn, body_fn, [torch.tensor(0, dtype=torch.int64), steps, hidden])
    return (out.flip(0) if reverse else out), final


def _rnn_while_loop(nonlinearity):
    from torch._decomp.decompositions import _rnn_helper, gather_params

    def impl(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        params = gather_params(params, has_biases, False)

        def layer(inp, hidden, layer_params, biases, reverse=False):
            return _one_layer_rnn_while_loop(inp, hidden, layer_params, biases, reverse, nonlinearity)

        out, finals = _rnn_helper(input, list(hx.unbind(0)), params, has_biases, num_layers, dropout, train,
                                  bidirectional, batch_first, layer)
        return out, torch.stack(finals, 0)

    return impl


RNN_OPS = ("gru", "lstm", "rnn_tanh", "rnn_relu")


def _forget_rnn_dispatch() -> None:
    """Drop cached dispatch decisions of the RNN ops.

    The exporter swaps their decompositions in and out around each export; a decision cached
    during one export would otherwise make the next one unroll the time loop (fixed T).
    """
    for name in RNN_OPS:
        getattr(torch.ops.aten, name).input._dispatch_cache.clear()


@contextlib.contextmanager
def _rnn_time_loops():
    """Export every recurrent op as a loop over time, so T stays dynamic.

    torch's ONNX exporter does this for GRU and LSTM; the vanilla RNN gets the same here.
    """
    _forget_rnn_dispatch()
    try:
        from torch.export._patches import _register_rnn_while_loop_decomposition
    except ImportError:  # another torch version: a vanilla RNN graph then has a fixed T
        yield
        _forget_rnn_dispatch()
        return
    try:
        with _register_rnn_while_loop_decomposition(torch.ops.aten.rnn_tanh.input, _rnn_while_loop(torch.tanh)), \
                _register_rnn_while_loop_decomposition(torch.ops.aten.rnn_relu.input, _rnn_while_loop(torch.relu)):
            yield
    finally:
        _forget_rnn_dispatch()


# ------------------------------------------------------------------------------------ ONNX
def _metadata(checkpoint, model) -> dict[str, Any]:
    return {
        "labels": list(checkpoint.labels),
        "feature_config": dataclasses.asdict(checkpoint.feature_config),
        "model_config": dataclasses.asdict(checkpoint.model_config),
        **({"member_configs": [dataclasses.asdict(m["model_config"]) for m in checkpoint.members]}
           if checkpoint.members else {}),
        "state": [{"name": s.name, "shape": list(s.shape), "initial": s.initial} for s in state_specs(model)],
        "package_version": checkpoint.package_version,
        "source_checkpoint": str(checkpoint.path or ""),
    }


# torch's ONNX exporter logs a warning per torchvision operator it cannot register ("torchvision
# is not installed. Skipping torchvision::nms"), 4 per export; nothing here uses torchvision.
EXPORTER_LOGGERS = ("torch.onnx._internal.exporter._registration",)


@contextlib.contextmanager
def _exporter_logs_quiet():
    """Only errors from the ONNX exporter's loggers while exporting."""
    import logging

    loggers = [logging.getLogger(name) for name in EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _onnx_export(module: nn.Module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
                 dynamic_shapes: dict, symbolic_outputs: dict[str, dict[int, str]], metadata: dict,
                 opset: int | None) -> Path:
    import onnx

    with warnings.catch_warnings(), _rnn_time_loops(), _exporter_logs_quiet(), open(os.devnull, "w") as sink, \
            contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, dynamo=True, input_names=input_names,
                                    output_names=output_names, dynamic_shapes=dynamic_shapes,
                                    opset_version=opset, external_data=False, verbose=False)
    proto = program.model_proto
    for output in proto.graph.output:  # shape inference through loops keeps example sizes
        for axis, name in symbolic_outputs.get(output.name, {}).items():
            output.type.tensor_type.shape.dim[axis].dim_param = name
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def export_onnx(checkpoint, model: nn.Module, out_dir: Path, stem: str, opset: int | None = None) -> list[Path]:
    """Write ``<stem>.clip.onnx`` and (unidirectional models) ``<stem>.stream.onnx``; their paths."""
    from torch.export import Dim

    model = model.eval()
    cfg = model.config
    frames = torch.randn(EXAMPLE_BATCH, EXAMPLE_FRAMES, cfg.input_dim)
    batch, steps = Dim("batch"), Dim("frames")
    metadata = _metadata(checkpoint, model)
    written = [_onnx_export(
        WholeClip(model), (frames,), out_dir / f"{stem}.clip.onnx", ["frames"], ["logits"],
        {"frames": {0: batch, 1: steps}}, {"logits": {0: "batch"}}, {**metadata, "graph": "clip"}, opset)]
    if cfg.streamable:
        specs = state_specs(model)
        state = model.initial_state(EXAMPLE_BATCH)
        names = [s.name for s in specs]
        outputs = ["frame_logits"] + [f"{n}_out" for n in names]
        dynamic = {"frames": {0: batch, 1: steps}, "state": tuple({s.batch_axis: batch} for s in specs)}
        symbolic = {"frame_logits": {0: "batch", 1: "frames"}}
        symbolic.update({f"{s.name}_out": {s.batch_axis: "batch"} for s in specs})
        written.append(_onnx_export(
            StreamingStep(model), (frames, *state), out_dir / f"{stem}.stream.onnx", ["frames", *names], outputs,
            dynamic, symbolic, {**metadata, "graph": "stream"}, opset))
    return written


# ------------------------------------------------------------------------------ TorchScript
def export_torchscript(checkpoint, model: nn.Module, out_dir: Path, stem: str) -> Path:
    """Write ``<stem>.ts``: a traced module with ``forward(frames)`` and ``step(frames, *state)``."""
    model = model.eval()
    frames = torch.randn(EXAMPLE_BATCH, EXAMPLE_FRAMES, model.config.input_dim)
    inputs: dict[str, tuple] = {"forward": (frames,)}
    if model.config.streamable:
        inputs["step"] = (frames, *model.initial_state(EXAMPLE_BATCH))
    path = out_dir / f"{stem}.ts"
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")
        traced = torch.jit.trace_module(WholeClip(model), inputs, check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files={f"{METADATA_KEY}.json": json.dumps(_metadata(checkpoint, model))})
    return path


def load_torchscript(path: str | Path):
    """(module, metadata) of a ``.ts`` export."""
    extra = {f"{METADATA_KEY}.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), _extra_files=extra)
    return module, json.loads(extra[f"{METADATA_KEY}.json"])


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The speechrnn metadata (labels, features, state layout) stored in an exported ONNX file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise SpeechRNNError(f"{path}: no speechrnn metadata in this ONNX file")


def export(checkpoint_path: str | Path, fmt: str = "all", out_dir: str | Path | None = None,
           opset: int | None = None) -> list[Path]:
    """Export a checkpoint; files go to ``out_dir`` (default: the checkpoint's folder). Their paths."""
    from speechrnn.checkpoint import load_model

    if fmt not in FORMATS:
        raise SpeechRNNError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    checkpoint_path = Path(checkpoint_path)
    model, checkpoint = load_model(checkpoint_path)
    target = Path(out_dir) if out_dir is not None else checkpoint_path.parent
    if target.exists() and not target.is_dir():
        raise SpeechRNNError(f"{target}: --out must be a folder")
    stem = checkpoint_path.stem
    written: list[Path] = []
    try:
        if fmt in ("onnx", "all"):
            written += export_onnx(checkpoint, model, target, stem, opset)
        if fmt in ("torchscript", "all"):
            written.append(export_torchscript(checkpoint, model, target, stem))
    except PermissionError as exc:
        raise SpeechRNNError(f"{exc.filename or target}: permission denied while writing the export") from None
    except OSError as exc:
        raise SpeechRNNError(f"{target}: cannot write the export ({exc.strerror or exc})") from None
    return written
