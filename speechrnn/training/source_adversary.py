"""Source-adversarial training: the network learns words, not the microphones they were recorded on.

The training data of a bundled model comes from a few folders, and each was recorded its own way
(FSDD at 8 kHz by four people, Speech Commands on many browsers' microphones, synthetic voices).
Where a class comes mostly from one folder, the folder's sound is a cue to the class (assets/README
measured this as the "microphone as a label" effect). Here a small adversary reads the network's
output at the frames of each word's target window and guesses which source folder the word came
from, given the word's class (one row of sources per class: a conditional adversary, so that it
asks "which recording of a *seven* is this", never "is this a seven"). Its gradient reaches the
network reversed (gradient reversal, Ganin & Lempitsky 2015): the adversary learns to tell the
sources apart, the network learns to make that impossible.

The reversal's strength rises from 0 to ``TrainConfig.source_adversary_weight`` over the run,
as 2 / (1 + exp(-10 p)) - 1 at progress p (Ganin & Lempitsky's schedule), so the network first
learns the words. The adversary is a training aid: it is not part of the saved model, which runs
and exports exactly as one trained without it; ``last.pt`` keeps its weights for a resumed run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RAMP_STEEPNESS = 10.0  # Ganin & Lempitsky (2015): lambda_p = 2 / (1 + exp(-10 p)) - 1


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient times ``-scale`` backward."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return inputs.view_as(inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(inputs: torch.Tensor, scale: float) -> torch.Tensor:
    return _ReverseGradient.apply(inputs, scale)


def reversal_scale(progress: float, weight: float) -> float:
    """The reversal's strength at ``progress`` (0 at the first step, 1 at the last)."""
    progress = min(max(progress, 0.0), 1.0)
    return weight * (2.0 / (1.0 + math.exp(-RAMP_STEEPNESS * progress)) - 1.0)


class SourceAdversary(nn.Module):
    """Guesses each word frame's source from the network's output, one linear map per class."""

    def __init__(self, width: int, num_classes: int, num_sources: int):
        super().__init__()
        self.num_sources = num_sources
        self.classify = nn.Linear(width, num_classes * num_sources)

    def loss(self, outputs: torch.Tensor, classes: torch.Tensor, sources: torch.Tensor,
             scale: float) -> tuple[torch.Tensor, float]:
        """Cross-entropy of the source guess on ``outputs`` (N, width) of words of ``classes`` (N,) from
        ``sources`` (N,), and how many it guessed right; the network behind ``outputs`` receives its
        gradient reversed, times ``scale``."""
        logits = self.classify(reverse_gradient(outputs.float(), scale))
        logits = logits.view(len(outputs), -1, self.num_sources)
        rows = logits[torch.arange(len(outputs), device=logits.device), classes]
        return F.cross_entropy(rows, sources), float((rows.detach().argmax(-1) == sources).sum())


def source_ids(sources: list[str], is_silence: list[bool]) -> tuple[torch.Tensor, list[str]]:
    """Each clip's source as a number (-1 for generated silence, which is never a word), and the
    sources' names in that order (sorted: the same on every rank)."""
    names = sorted({name for name, silence in zip(sources, is_silence) if not silence})
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([-1 if silence else index[name] for name, silence in zip(sources, is_silence)],
                        dtype=torch.long), names
