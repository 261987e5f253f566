"""A faster CPU training path for ``nn.GRU`` with the same weights and (in float32) the same results.

Why: on a CPU, ``nn.GRU``'s autograd graph records every time step as a dozen small ops, and its
backward pass computes the weight gradients step by step (a small matrix product, a bias sum and
an accumulation per step and layer). With 98 frames per clip that bookkeeping costs as much as
the recurrent matrix products themselves.

How: :class:`GRULayerFunction` is one autograd node per layer. Its forward computes the input
projections of all steps in one matrix product and runs the recurrence writing the gates into
preallocated buffers; its backward runs the recurrence backwards computing only what must be
sequential (the gate gradients and ``dh @ W_hh``); the weight and bias gradients of all steps are
then a few large matrix products. The maths is PyTorch's GRU exactly (``n = tanh(W_in x + b_in +
r * (W_hn h + b_hn))``); in float32 the gradients agree with ``nn.GRU`` to rounding (tested).

Matrix products may run in bfloat16 (``matmul_dtype``) while gates, states and their gradients
stay float32: mixed precision as ``torch.autocast`` does it, but without autocast's casts per op;
fast on CPUs with bfloat16 matrix units (Intel AMX), slower elsewhere, hence
:func:`fast_matmul_dtype`.

Measured (2x128 GRU, batch 256, one core, model step only, quiet machine): nn.GRU 774, fused
float32 832, fused bfloat16 1,121 samples/s (nn.GRU under autocast: 970). The recurrent matrix
products and the gates' elementwise work are what remains; the per-step autograd bookkeeping is
gone.

:func:`use_fused_rnn` switches a model's ``nn.GRU`` to :class:`FusedGRU`, a subclass whose
``forward`` takes this path only when training on the CPU in float32 (unidirectional,
batch-first); everywhere else (evaluation, streaming, CUDA, export) it is ``nn.GRU``'s own
forward. Parameters and ``state_dict`` keys are unchanged, so checkpoints are ordinary.
"""

from __future__ import annotations

import torch
from torch import nn

MATMUL_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def fast_matmul_dtype() -> str:
    """``"bfloat16"`` where the CPU multiplies bfloat16 matrices in hardware (AMX), else ``"float32"``."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return "bfloat16" if amx is not None and amx() else "float32"
    except RuntimeError:
        return "float32"


def _gru_recurrence(gi_all: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hn: torch.Tensor):
    """Forward recurrence of one layer.

    ``gi_all`` (T, B, 3H): ``W_ih x + b_ih`` of every step, with ``b_hh`` already added to its r
    and z parts. ``w_hh`` is in the matmul dtype. Returns the outputs (T, B, H) float32, the
    outputs in the matmul dtype (for the weight gradients), and per step what the backward pass
    needs: r|z (B, 2H) and n (B, H) after their nonlinearities, and ``W_hn h + b_hn`` (B, H).
    """
    steps, batch, gates = gi_all.shape
    hidden = gates // 3
    outputs = h0.new_empty((steps, batch, hidden))
    low = w_hh.dtype != torch.float32
    outputs_mm = outputs.new_empty((steps, batch, hidden), dtype=w_hh.dtype) if low else outputs
    rz_steps, n_steps, ghn_steps = [], [], []
    w_t = w_hh.t()
    h, h_mm = h0, h0.to(w_hh.dtype)
    for t in range(steps):
        gi = gi_all[t]
        gh = torch.mm(h_mm, w_t)
        rz = torch.add(gi[:, : 2 * hidden], gh[:, : 2 * hidden]).sigmoid_()
        ghn = torch.add(gh[:, 2 * hidden :], b_hn)
        n = torch.addcmul(gi[:, 2 * hidden :], rz[:, :hidden], ghn).tanh_()
        h = torch.lerp(n, h, rz[:, hidden:], out=outputs[t])  # (1 - z) * n + z * h
        if low:
            h_mm = outputs_mm[t].copy_(h)
        else:
            h_mm = h
        rz_steps.append(rz)
        n_steps.append(n)
        ghn_steps.append(ghn)
    return outputs, outputs_mm, rz_steps, n_steps, ghn_steps


def _gru_recurrence_backward(grad_out: torch.Tensor | None, grad_last: torch.Tensor | None, h0: torch.Tensor,
                             outputs: torch.Tensor, rz_steps: list, n_steps: list, ghn_steps: list,
                             w_hh: torch.Tensor):
    """Backward recurrence: gradients of every step's gate pre-activations, and of ``h0``.

    Returns ``dgh`` (T, B, 3H) in the matmul dtype: gradient w.r.t. ``W_hh h + b_hh``; ``dn``
    (T, B, H), same dtype: gradient w.r.t. the candidate's input part ``W_in x + b_in`` (the r
    and z parts of the input gradient equal ``dgh``'s); and ``dh0`` (B, H) float32.
    """
    steps, batch, hidden = outputs.shape
    mm_dtype = w_hh.dtype
    low = mm_dtype != torch.float32
    dgh_all = outputs.new_empty((steps, batch, 3 * hidden), dtype=mm_dtype)
    dn_all = outputs.new_empty((steps, batch, hidden), dtype=mm_dtype)
    dh = grad_last if grad_last is not None else outputs.new_zeros((batch, hidden))
    # Steps whose output gets no gradient (all but the last with "last" pooling) skip an add.
    live = (grad_out.flatten(1).abs().amax(1) > 0).tolist() if grad_out is not None else [False] * steps
    scratch = outputs.new_empty((batch, 3 * hidden)) if low else None
    for t in range(steps - 1, -1, -1):
        if live[t]:
            dh = dh + grad_out[t]
        h_prev = outputs[t - 1] if t > 0 else h0
        rz, n = rz_steps[t], n_steps[t]
        r, z = rz[:, :hidden], rz[:, hidden:]
        dgh = scratch if low else dgh_all[t]  # float32: [d r, d z, d(W_hn h + b_hn)] pre-activation
        dn = torch.addcmul(dh, dh, z, value=-1)  # dh * (1 - z)
        dn.addcmul_(dn, n * n, value=-1)  # * (1 - n^2): through tanh
        torch.mul(dn, ghn_steps[t], out=dgh[:, :hidden])
        torch.sub(h_prev, n, out=dgh[:, hidden : 2 * hidden])
        dgh[:, hidden : 2 * hidden].mul_(dh)
        dgh[:, : 2 * hidden].mul_(torch.addcmul(rz, rz, rz, value=-1))  # sigmoid' = s * (1 - s)
        torch.mul(dn, r, out=dgh[:, 2 * hidden :])
        dn_all[t].copy_(dn)
        if low:
            dgh_all[t].copy_(dgh)
            dh = torch.addcmul(torch.mm(dgh_all[t], w_hh), dh, z)  # promotes to float32
        else:
            dh = torch.addmm(dh * z, dgh, w_hh)
    return dgh_all, dn_all, dh


class GRULayerFunction(torch.autograd.Function):
    """One unidirectional GRU layer, time-major: (x (T, B, I), h0 (B, H), weights) -> (out, h_T).

    ``x`` may already be in the matmul dtype (the previous layer's ``outputs_mm``).
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mm_dtype):
        steps, batch, inputs = x.shape
        hidden = h0.shape[1]
        w_ih_mm, w_hh_mm = w_ih.to(mm_dtype), w_hh.to(mm_dtype)
        x_rows = x.reshape(steps * batch, inputs).to(mm_dtype)
        bias = b_ih.clone()
        bias[: 2 * hidden] += b_hh[: 2 * hidden]
        gi_all = torch.mm(x_rows, w_ih_mm.t()).view(steps, batch, 3 * hidden).float().add_(bias)
        outputs, outputs_mm, rz_steps, n_steps, ghn_steps = _gru_recurrence(gi_all, h0, w_hh_mm, b_hh[2 * hidden :])
        ctx.save_for_backward(x_rows, h0, w_ih_mm, w_hh_mm, outputs, outputs_mm)
        ctx.steps = (rz_steps, n_steps, ghn_steps)  # intermediate results, not inputs or outputs
        ctx.input_shape = x.shape
        ctx.input_dtype = x.dtype
        return outputs, outputs[-1]

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        x_rows, h0, w_ih_mm, w_hh_mm, outputs, outputs_mm = ctx.saved_tensors
        rz_steps, n_steps, ghn_steps = ctx.steps
        del ctx.steps
        steps, batch, inputs = ctx.input_shape
        hidden = h0.shape[1]
        grad_out = grad_out.contiguous() if grad_out is not None else None
        dgh, dn, dh0 = _gru_recurrence_backward(grad_out, grad_last, h0, outputs, rz_steps, n_steps, ghn_steps,
                                                w_hh_mm)
        rows = steps * batch
        dgh = dgh.view(rows, 3 * hidden)
        drz = dgh[:, : 2 * hidden]
        dn = dn.view(rows, hidden)
        # Weight gradients of all steps at once. h_prev of step t is outputs[t - 1] (h0 for t = 0).
        d_w_hh = dgh[batch:].t() @ outputs_mm[:-1].reshape(rows - batch, hidden)
        d_w_hh = d_w_hh.float() + dgh[:batch].float().t() @ h0
        d_w_ih = torch.cat([drz.t() @ x_rows, dn.t() @ x_rows]).float()
        d_b_hh = dgh.sum(0, dtype=torch.float32)
        d_b_ih = torch.cat([d_b_hh[: 2 * hidden], dn.sum(0, dtype=torch.float32)])
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.addmm(dn @ w_ih_mm[2 * hidden :], drz, w_ih_mm[: 2 * hidden])
            dx = dx.view(steps, batch, inputs).to(ctx.input_dtype)
        dh0 = dh0 if ctx.needs_input_grad[1] else None
        return dx, dh0, d_w_ih, d_w_hh, d_b_ih, d_b_hh, None


def fused_gru_forward(gru: nn.GRU, x: torch.Tensor, hx: torch.Tensor | None = None,
                      matmul_dtype: torch.dtype = torch.float32):
    """``nn.GRU.forward`` (batch-first, unidirectional) through :class:`GRULayerFunction`."""
    layer_input = x.transpose(0, 1)
    if hx is None:
        hx = x.new_zeros(gru.num_layers, x.shape[0], gru.hidden_size)
    finals = []
    for layer in range(gru.num_layers):
        if layer > 0 and gru.dropout and gru.training:
            layer_input = nn.functional.dropout(layer_input, gru.dropout, training=True)
        layer_input, last = GRULayerFunction.apply(
            layer_input.contiguous(), hx[layer],
            getattr(gru, f"weight_ih_l{layer}"), getattr(gru, f"weight_hh_l{layer}"),
            getattr(gru, f"bias_ih_l{layer}"), getattr(gru, f"bias_hh_l{layer}"), matmul_dtype,
        )
        finals.append(last)
    return layer_input.transpose(0, 1), torch.stack(finals)


class FusedGRU(nn.GRU):
    """``nn.GRU`` that trains through :func:`fused_gru_forward` on the CPU (same parameters)."""

    fused_matmul_dtype = torch.float32  # set per instance by use_fused_rnn

    def forward(self, input, hx=None):  # noqa: A002 - nn.GRU's signature
        if self._fused_applies(input, hx):
            return fused_gru_forward(self, input, hx, self.fused_matmul_dtype)
        return super().forward(input, hx)

    def _fused_applies(self, x, hx) -> bool:
        return (self.training and torch.is_grad_enabled() and x.device.type == "cpu"
                and x.dtype == torch.float32 and x.dim() == 3 and self.batch_first and self.bias
                and not self.bidirectional and self.proj_size == 0 and (hx is None or hx.dtype == x.dtype))


def use_fused_rnn(model: nn.Module, matmul_dtype: str = "float32") -> bool:
    """Switch ``model.rnn`` to its fused training kernel if there is one; True if switched.

    Only the class changes (to a subclass that adds no parameters or buffers), so parameters,
    optimizer references and ``state_dict`` keys stay as they are.
    """
    rnn = getattr(model, "rnn", None)
    if type(rnn) is nn.GRU:
        rnn.__class__ = FusedGRU
        rnn.fused_matmul_dtype = MATMUL_DTYPES[matmul_dtype]
        return True
    return False
