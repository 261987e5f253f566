"""Several stream-trained networks heard as one: their per-frame posteriors averaged.

Networks trained on the same words but with other seeds, widths or first stages make different
mistakes on voices they never heard: each takes its own few other words for a command. Averaging
their log-probabilities frame by frame (the normalised geometric mean of their posteriors) keeps
what they agree on. Measured on the commands recipe's validation speakers (`assets/README.md`):
the bundled network with a 2 x 192 one took a fifth fewer other words for commands and gave a
quarter fewer wrong labels, for 0.7 points of hits.

An :class:`EnsembleClassifier` has the interface the recognizer, evaluation and export use of an
:class:`~speechrnn.model.RNNClassifier`: one carried state (the members' states side by side),
``forward_frames`` and the clip readout. ``config`` and ``rnn`` are the first member's, so the
views of the network's memory show the first network, and a custom word started from the model
(``--init-from``) starts from the first network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from speechrnn.model import ModelConfig, RNNClassifier, State


def check_members(configs: Sequence[ModelConfig]) -> None:
    """Refuse networks that cannot be averaged frame by frame (``ValueError`` naming the difference)."""
    if not configs:
        raise ValueError("an ensemble needs at least one network")
    first = configs[0]
    for i, config in enumerate(configs):
        if config.objective != "stream" or not config.streamable:
            raise ValueError(f"network {i + 1} is not stream-trained: only stream-trained networks, which "
                             "carry one state, can be combined")
        for name in ("num_classes", "input_dim", "background_class"):
            if getattr(config, name) != getattr(first, name):
                raise ValueError(f"network {i + 1} has {name}={getattr(config, name)}, "
                                 f"network 1 has {getattr(first, name)}")


class EnsembleClassifier(nn.Module):
    """Stream-trained :class:`RNNClassifier` s whose frame log-probabilities are averaged."""

    def __init__(self, members: Sequence[RNNClassifier]):
        super().__init__()
        check_members([member.config for member in members])
        self.members = nn.ModuleList(members)
        self._sizes = [len(member.initial_state(1)) for member in members]

    # what the recognizer, evaluation and export read: the first network's
    @property
    def config(self) -> ModelConfig:
        return self.members[0].config

    @property
    def rnn(self) -> nn.Module:
        return self.members[0].rnn

    @property
    def feature_mean(self) -> torch.Tensor:
        return self.members[0].feature_mean

    @property
    def feature_std(self) -> torch.Tensor:
        return self.members[0].feature_std

    @property
    def recurrent_state_size(self) -> int:
        return self.members[0].recurrent_state_size

    def num_parameters(self) -> int:
        return sum(member.num_parameters() for member in self.members)

    def initial_state(self, batch: int = 1, device: torch.device | str | None = None) -> State:
        return tuple(t for member in self.members for t in member.initial_state(batch, device))

    def forward_frames(self, frames: torch.Tensor, state: State | None = None,
                       all_frames: bool = True) -> tuple[torch.Tensor, State]:
        """(B, T, F) -> (B, T, C) averaged log-probabilities (valid logits) and the members' new states."""
        if state is None:
            state = self.initial_state(frames.shape[0], frames.device)
        log_probs, new_state, start = [], [], 0
        for member, size in zip(self.members, self._sizes):
            logits, member_state = member.forward_frames(frames, tuple(state[start : start + size]), all_frames)
            log_probs.append(torch.log_softmax(logits.float(), dim=-1))
            new_state += list(member_state)
            start += size
        return torch.stack(log_probs).mean(dim=0), tuple(new_state)

    def forward(self, frames: torch.Tensor, state: State | None = None,
                frame_logits: bool = False) -> tuple[torch.Tensor, State]:
        """As :meth:`RNNClassifier.forward`: per-frame logits, or the clip read out of them."""
        logits, state = self.forward_frames(frames, state)
        if frame_logits:
            return logits, state
        return self.members[0].clip_readout(logits), state
