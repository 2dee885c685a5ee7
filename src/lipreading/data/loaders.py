"""A training loader that can resume in the middle of an epoch, bit for bit.

Lightning saves the state of any loader that implements ``state_dict`` / ``load_state_dict``
inside its checkpoints (``fit_loop.combined_loader``). The order of each epoch is a function
of ``(seed, epoch)`` alone, so a resumed run sees exactly the batches that an uninterrupted
run would have seen, without reading the skipped clips.

Under distributed training (``trainer=ddp``) the loaders shard by rank themselves: every rank
draws the same epoch order and takes every ``world_size``-th clip of it, so the ranks see
disjoint clips and the same number of batches. Lightning's own DistributedSampler would replace
the sampler (and lose the resumable position), so the trainer configs set
``use_distributed_sampler: false``.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def rank_and_world_size(trainer: Any | None) -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without a trainer)."""
    if trainer is None:
        return 0, 1
    return trainer.global_rank, trainer.world_size


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

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        order = order[: len(self) * self.world_size][self.rank :: self.world_size]
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


class ResumableLoader(DataLoader):
    """Shuffled, drop-last training loader whose position is saved in checkpoints.

    NOTE: Lightning does not pre-fetch from a loader that has a length, so the batches the
    loader has yielded are the batches trained on when a checkpoint is written (the resume
    test would catch a change of that behaviour).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        sampler_type: type[EpochShuffleSampler] = EpochShuffleSampler,
        **kwargs: Any,
    ) -> None:
        self.epoch_sampler = sampler_type(len(dataset), seed, rank, world_size)
        # A private generator keeps the loader from drawing on the global RNG, which the
        # augmentations use and the checkpoints restore.
        super().__init__(dataset, batch_size=batch_size, sampler=self.epoch_sampler, drop_last=True,
                         generator=torch.Generator().manual_seed(seed), **kwargs)
        self._yielded = 0
        self._resume_at = 0

    def __iter__(self) -> Iterator[Any]:
        skip, self._resume_at = self._resume_at, 0
        self.epoch_sampler.start = skip * self.batch_size
        self._yielded = skip
        for batch in super().__iter__():
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch_sampler.epoch, "batches_trained": self._yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch_sampler.set_epoch(state["epoch"])
        # A finished epoch resumes at the start of the next one.
        self._resume_at = 0 if state["batches_trained"] >= len(self) else state["batches_trained"]
