"""Knowledge distillation for the stream objective: one network learns what an ensemble hears.

The bundled models are ensembles (:mod:`speechrnn.ensemble`): two networks averaged frame by frame
take fewer other words for commands than either alone, at twice the listening cost. Here a single
network (the student) trains on the stream objective's segments as usual and also matches, at
every frame, the teacher's posteriors softened by a temperature (Hinton, Vinyals & Dean 2015):

    loss = stream loss + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))

with the KL weighed as the stream loss weighs its frames: the background's mean plus the words'
(a plain mean over frames, nine tenths background, taught the student mostly silence: on the tone
words of the tests it learnt the words more slowly than without a teacher).

The teacher is any stream-trained model on the same labels and features (a single network or an
ensemble). It hears exactly the student's frames (augmentation included) with its own state
carried from segment to segment and reset with the student's lanes (after a resume both start
from a fresh state), and it never learns.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from speechrnn.errors import SpeechRNNError
from speechrnn.model import State
from speechrnn.training.stream_batches import background_plus_words


class Teacher:
    """A frozen stream-trained model whose per-frame posteriors a student learns to match."""

    def __init__(self, model: nn.Module, temperature: float):
        self.model = model.eval().requires_grad_(False)
        self.temperature = temperature
        self.state: State | None = None  # carried per lane, as the student's

    @torch.no_grad()
    def soft_targets(self, frames: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """The teacher's log-probabilities at temperature T for ``frames`` (B, T, F); its state goes on
        from the previous segment, lanes where ``keep`` is 0 from a fresh one."""
        state = self.state
        if state is None or state[0].shape[1] != frames.shape[0]:
            state = self.model.initial_state(frames.shape[0], frames.device)
        elif keep is not None:
            state = tuple(t * keep.view(1, -1, 1) for t in state)
        logits, new_state = self.model.forward_frames(frames, state)
        self.state = tuple(t.detach() for t in new_state)
        return F.log_softmax(logits.float() / self.temperature, dim=-1)

    def loss(self, student_logits: torch.Tensor, soft_targets: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """T^2 * KL(teacher || student) at temperature T per frame, averaged over the frames as the
        stream loss averages them (:func:`~speechrnn.training.stream_batches.background_plus_words`;
        ``word_ids`` all -1: a plain mean)."""
        log_student = F.log_softmax(student_logits.float() / self.temperature, dim=-1)
        kl = (soft_targets.exp() * (soft_targets - log_student)).sum(-1) * self.temperature ** 2  # (B, T)
        return background_plus_words(kl, word_ids)


def load_teacher(path: str | Path, labels: list[str], feature_config, device: torch.device,
                 temperature: float) -> Teacher:
    """The teacher model of ``path``; a one-line error where it cannot teach this run."""
    from speechrnn.checkpoint import load_model, require_feature_config

    model, checkpoint = load_model(path, device)
    if list(checkpoint.labels) != list(labels):
        raise SpeechRNNError(f"{path}: cannot teach this run: its labels ({', '.join(checkpoint.labels)}) are not "
                             f"the data's ({', '.join(labels)})")
    if model.config.objective != "stream":
        raise SpeechRNNError(f"{path}: cannot teach this run: it is not stream-trained")
    require_feature_config(checkpoint, feature_config, "this run's features")
    return Teacher(model, temperature)
