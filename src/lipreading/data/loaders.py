"""A training loader that can resume in the middle of an epoch, bit for bit, and survives crashed workers.

Lightning saves the state of any loader that implements ``state_dict`` / ``load_state_dict``
inside its checkpoints (``fit_loop.combined_loader``). The order of each epoch is a function
of ``(seed, epoch)`` alone, so a resumed run sees exactly the batches that an uninterrupted
run would have seen, without reading the skipped clips. ``seed`` is the run's seed
(``pl.seed_everything``), so runs with other seeds see other orders.

The saved position belongs to the epoch it was saved in: a checkpoint written when Lightning's
epoch was over (at validation end, after the last batch Lightning takes, which is fewer than the
loader's length under ``trainer.limit_train_batches``) resumes the next epoch at its start, and
only a checkpoint written inside an epoch skips the batches already trained in it.

Under distributed training (``trainer=ddp``) the loaders shard by rank themselves: every rank
draws the same epoch order and takes every ``world_size``-th clip (or batch) of it, so the ranks
see disjoint clips and the same number of batches. Lightning's own DistributedSampler would replace
the sampler (and lose the resumable position), so the trainer configs set
``use_distributed_sampler: false``.

Datasets must not draw random numbers inside the workers (ours draw from ``(seed, epoch, index)``,
as the speech mixtures do, or not at all); augmentations run on the batch after transfer, from the
global generators that the checkpoints restore.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
from typing import Any, Iterator, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.signal_handling import _remove_worker_pids

from lipreading.utils.errors import UserError

log = logging.getLogger(__name__)


def rank_and_world_size(trainer: Any | None) -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without a trainer)."""
    if trainer is None:
        return 0, 1
    return trainer.global_rank, trainer.world_size


def run_seed() -> int:
    """The run's seed (set by ``pl.seed_everything``; the same on every rank), for the training order."""
    return torch.initial_seed() % 2**31


class EpochSampler(Protocol):
    """What :class:`ResumableLoader` needs of its sampler: the run's ``seed``, an ``epoch`` (set by
    Lightning before each one) and ``start``, the number of items (clips, or batches for a batch
    sampler) to leave out of the next iteration. A batch sampler also has ``batch_size``."""

    seed: int
    epoch: int
    start: int

    def set_epoch(self, epoch: int) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class EpochShuffleSampler(Sampler[int]):
    """A new random order every epoch, drawn from ``seed + epoch``; can start part-way.

    With ``world_size > 1`` it yields rank ``rank``'s share: every ``world_size``-th index of the
    epoch's order (the order is the same on every rank), ``size // world_size`` of them.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.size, self.seed = size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch."""
        self.epoch = epoch

    def epoch_order(self) -> list[int]:
        """This epoch's order of all ``size`` indices (the same on every rank)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.epoch_order()[: len(self) * self.world_size][self.rank :: self.world_size]
        start, self.start = self.start, 0
        return iter(order[start:])

    def __len__(self) -> int:
        return self.size // self.world_size


class EpochKeyedSampler(EpochShuffleSampler):
    """:class:`EpochShuffleSampler` that yields ``(epoch, index)`` keys, for datasets that draw
    something new for a clip every epoch from ``(seed, epoch, index)`` (the speech mixtures)."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return ((epoch, index) for index in super().__iter__())


class ShardSampler(Sampler[int]):
    """Evaluation order, sharded: rank ``rank`` reads clips ``rank, rank + world_size, ...``.

    Every clip is read exactly once over all ranks (no padding with repeated clips, unlike
    DistributedSampler), so metrics synced across ranks are exact.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))


class WorkerFailures(UserError):
    """The data-loader workers crashed more often in one epoch than a run tolerates."""


def is_worker_crash(error: BaseException, iterator: Any = None, wait_s: float = 5.0) -> bool:
    """Whether ``error`` comes from a data-loader worker process that died (a signal, the
    out-of-memory killer, a crash in native code), rather than from an exception raised by the dataset.

    PyTorch reports a dead worker as a RuntimeError naming its pid, once it sees the worker gone. A
    worker killed while it hands a queued batch over (the batch's tensors travel as file descriptors,
    sent by the worker itself) makes ``next()`` raise a connection error instead
    (``ConnectionResetError``, ``ConnectionRefusedError``, ``EOFError``), possibly before the dying
    process can be seen to have exited: that error is a crash when one of ``iterator``'s workers
    ends within ``wait_s`` seconds.
    """
    if isinstance(error, RuntimeError):
        return "DataLoader worker (pid" in str(error)
    if isinstance(error, (ConnectionError, EOFError)):
        workers = getattr(iterator, "_workers", None) or []
        return bool(workers) and bool(multiprocessing.connection.wait([w.sentinel for w in workers], wait_s))
    return False


def unwatched(iterator: Iterator[Any]) -> Iterator[Any]:
    """``iterator``, its worker processes taken off the list of PyTorch's SIGCHLD handler.

    NOTE: that handler raises a worker's death in the main thread wherever it is at that moment
    (inside a training step, most of the time), where no loader can catch it. Unlisted, the workers
    are checked by the iterator itself while it waits for a batch (every
    ``torch.utils.data._utils.MP_STATUS_CHECK_INTERVAL`` = 5 s, as on Windows), so the error
    comes out of ``next()``, inside the loader. Private API of torch.utils.data (stable since 1.x).
    """
    if getattr(iterator, "_worker_pids_set", False):
        _remove_worker_pids(id(iterator))
        iterator._worker_pids_set = False  # type: ignore[attr-defined]
    return iterator


class ResumableLoader(DataLoader):
    """Shuffled training loader whose position is saved in checkpoints, and that outlives its workers.

    ``sampler`` yields clip indices (batched by ``batch_size``, the last partial batch dropped)
    or, with ``batch_size=None``, whole batches (a batch sampler such as the sentences'
    length buckets).

    A crashed worker process (the out-of-memory killer, a crash in native code) is reported and
    counted, and the epoch goes on with new workers from the batch it was waiting for: the
    batches the dead workers held are fetched again, so a one-off crash costs no batch. When the
    same batch fails twice in a row, it is read alone in one new worker, which tells whether it
    is the culprit: then it is replaced by a batch of skipped clips (the tasks count them as
    ``train/skipped_clips`` and take no step on it). More than ``max_worker_failures`` crashes in
    one epoch stop the run with a message.

    NOTE: Lightning does not pre-fetch from a loader that has a length, so the batches the
    loader has yielded are the batches trained on when a checkpoint is written (the resume
    tests would catch a change of that behaviour).
    """

    def __init__(
        self,
        dataset: Dataset,
        sampler: EpochSampler,
        batch_size: int | None,
        max_worker_failures: int = 10,
        **kwargs: Any,
    ) -> None:
        self.epoch_sampler = sampler
        self.max_worker_failures = max_worker_failures
        # A private generator (reseeded every epoch) gives the workers their seeds, so that the
        # loader never draws on the global generators, which the augmentations use.
        self.seed_generator = torch.Generator()
        if batch_size is None:
            super().__init__(dataset, batch_sampler=sampler, generator=self.seed_generator, **kwargs)
        else:
            super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                             generator=self.seed_generator, **kwargs)
        self.position = 0  # batches of this epoch trained (or skipped)
        self.worker_failures = 0  # crashed workers, over the run
        self._resume: tuple[int, int] | None = None  # (epoch, batches trained in it) of a checkpoint

    def __iter__(self) -> Iterator[Any]:
        self.position = self._batches_to_skip()
        failures, failed_at = 0, None
        while True:
            iterator = self._iterator_from(self.position)
            try:
                for batch in iterator:
                    self.position += 1
                    yield batch
                return
            except (RuntimeError, ConnectionError, EOFError) as error:
                if not is_worker_crash(error, iterator):
                    raise
                failures += 1
                self._after_worker_crash(iterator, error, failures)
                repeated, failed_at = failed_at == self.position, self.position
            if repeated:  # the same batch twice: read it alone to know whether it is the culprit
                yield self._read_alone(self.position)
                self.position += 1

    def _iterator_from(self, position: int) -> Iterator[Any]:
        """A new iterator over this epoch from batch ``position`` on."""
        self.epoch_sampler.start = position * (self.batch_size or 1)
        self.seed_generator.manual_seed(self.epoch_sampler.seed + self.epoch_sampler.epoch)
        return unwatched(super().__iter__())

    def _batch_items(self, position: int) -> list[Any]:
        """The sampler's items (indices or keys) of batch ``position`` of this epoch."""
        self.epoch_sampler.start = position * (self.batch_size or 1)
        items = iter(self.epoch_sampler)
        if self.batch_size is None:
            return list(next(items))
        return [next(items) for _ in range(self.batch_size)]

    def _read_alone(self, position: int) -> Any:
        """Batch ``position`` read by one new worker; a batch of skipped clips if it crashes that one too."""
        items = self._batch_items(position)
        alone = DataLoader(self.dataset, batch_sampler=[items], num_workers=1, collate_fn=self.collate_fn,
                           generator=self.seed_generator)
        iterator = unwatched(iter(alone))
        try:
            return next(iterator)
        except (RuntimeError, ConnectionError, EOFError) as error:
            if not is_worker_crash(error, iterator):
                raise
        log.warning("batch %d of epoch %d crashes the worker that reads it: its %d clips are skipped (%s)",
                    position, self.epoch_sampler.epoch, len(items), ", ".join(map(str, items[:8])))
        return self.collate_fn([None] * len(items))

    def _after_worker_crash(self, iterator: Any, error: Exception, failures: int) -> None:
        """Drop the broken workers; stop the run after too many crashes in this epoch."""
        self.worker_failures += 1
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._iterator = None  # persistent workers: start new ones
        epoch = self.epoch_sampler.epoch
        if failures > self.max_worker_failures:
            raise WorkerFailures(
                f"data-loader workers crashed {failures} times in epoch {epoch} (last: {error}); the run stops. "
                f"Check the machine's memory (the out-of-memory killer) and the clips; data.num_workers=0 reads "
                f"them in the main process. Continue with resume=auto."
            ) from error
        log.warning("a data-loader worker crashed (%s) at batch %d of epoch %d (%d crash(es) in this epoch): "
                    "new workers take over", error, self.position, epoch, failures)

    def _batches_to_skip(self) -> int:
        """The batches of this epoch trained before the checkpoint resumed from (0 for any other epoch)."""
        resume, self._resume = self._resume, None
        if resume is None or resume[0] != self.epoch_sampler.epoch:
            return 0
        return resume[1]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch_sampler.epoch, "batches_trained": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch_sampler.set_epoch(state["epoch"])
        self._resume = (state["epoch"], state["batches_trained"])
