"""Data-parallel helpers: under ``torchrun --nproc_per_node=N`` every rank walks the same global
batches and takes its own shard of each (gloo on CPU, nccl on CUDA); rank 0 writes files."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from speechrnn.training.config import TrainConfig


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def distributed_env() -> DistEnv:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(dist_env: DistEnv, device: torch.device) -> None:
    import torch.distributed as dist

    if dist_env.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def barrier(dist_env: DistEnv) -> None:
    if dist_env.active:
        import torch.distributed as dist

        dist.barrier()


def all_sum(values: list[float], dist_env: DistEnv) -> list[float]:
    if not dist_env.active:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(flag: bool, dist_env: DistEnv) -> bool:
    return bool(all_sum([float(flag)], dist_env)[0]) if dist_env.active else flag


def set_threads(config: TrainConfig, dist_env: DistEnv, device: torch.device) -> None:
    if device.type != "cpu":
        return
    if config.threads:
        torch.set_num_threads(config.threads)
    elif dist_env.active:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist_env.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))

