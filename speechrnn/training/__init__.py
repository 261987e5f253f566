"""Training: ``train()`` is a generator of progress events that ends with ``Finished(TrainResult)``.

One job per module:

* :mod:`~speechrnn.training.config` -- :class:`TrainConfig`, :class:`TrainResult`, run-folder file names;
* :mod:`~speechrnn.training.session` -- the loop: data, model, epochs, validation, checkpoints, resume;
* :mod:`~speechrnn.training.clip_batches` -- one-second clip batches (the ``clip`` objective);
* :mod:`~speechrnn.training.stream_batches` -- continuous streams with per-frame targets (``stream``);
* :mod:`~speechrnn.training.distributed` -- torchrun / DistributedDataParallel helpers;
* :mod:`~speechrnn.training.runtime` -- CPU runtime and precision (bfloat16, fused GRU) choices;
* :mod:`~speechrnn.training.schedule`, :mod:`~speechrnn.training.model_init`,
  :mod:`~speechrnn.training.run_folder`, :mod:`~speechrnn.training.throughput`.
"""

from speechrnn.training.clip_batches import effective_batch_size, epoch_order
from speechrnn.training.config import BEST_NAME, LAST_NAME, TrainConfig, TrainResult
from speechrnn.training.model_init import chrono_init
from speechrnn.training.run_folder import check_out_dir
from speechrnn.training.runtime import resolve_precision
from speechrnn.training.session import train
from speechrnn.training.throughput import measure_training_throughput

__all__ = [
    "BEST_NAME", "LAST_NAME", "TrainConfig", "TrainResult", "chrono_init", "check_out_dir",
    "effective_batch_size", "epoch_order", "measure_training_throughput", "resolve_precision",
    "train",
]
