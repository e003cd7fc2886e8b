"""Weighted mixing of datasets in every batch, reproducible batch by batch (for exact resume)."""
from __future__ import annotations

import random

from torch.utils.data import Sampler


class MixedBatchSampler(Sampler[list[int]]):
    """Batches over a ConcatDataset in which each part fills its share of every batch.

    weights are normalized; a part's count per batch is floor(share * batch) plus the largest
    remainders, so a batch of 64 at 0.5/0.3/0.2 holds 32/19/13 (or 32/20/12) samples.
    Infinite when `batches` is None. Batch n is a pure function of (seed, rank, n), so a run
    resumed at step `start` draws exactly the batches the uninterrupted run would have drawn;
    `rank`/`world` give each distributed process its own stream.
    """

    def __init__(self, sizes: list[int], weights: list[float], batch_size: int, seed: int = 0,
                 batches: int | None = None, rank: int = 0, world: int = 1, start: int = 0):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("need one weight per dataset")
        if any(s <= 0 for s in sizes):
            raise ValueError("a dataset in the mix is empty")
        total = float(sum(weights))
        self.shares = [w / total for w in weights]
        self.sizes, self.batch_size, self.batches = sizes, batch_size, batches
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.seed, self.rank, self.world, self.start = seed, rank, world, start

    def counts(self, rng: random.Random) -> list[int]:
        raw = [s * self.batch_size for s in self.shares]
        counts = [int(r) for r in raw]
        rest = sorted(range(len(raw)), key=lambda i: (raw[i] - counts[i], rng.random()), reverse=True)
        for i in rest[: self.batch_size - sum(counts)]:
            counts[i] += 1
        return counts

    def batch(self, n: int) -> list[int]:
        """The indices of batch n (global batch number, counted from the start of the run)."""
        rng = random.Random(f"{self.seed}:{self.rank}:{n}")
        batch = []
        for off, size, k in zip(self.offsets, self.sizes, self.counts(rng)):
            batch += [off + rng.randrange(size) for _ in range(k)]
        rng.shuffle(batch)
        return batch

    def __iter__(self):
        n = 0
        while self.batches is None or n < self.batches:
            yield self.batch(self.start + n)
            n += 1

    def __len__(self) -> int:
        return self.batches if self.batches is not None else 2**31
