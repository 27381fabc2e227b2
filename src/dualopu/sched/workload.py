"""Workloads: networks with a number of images each, or a stream with target shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.ir.network import Network


@dataclass(frozen=True)
class Workload:
    """Networks and how many images of each to run.

    Images of different networks are interleaved by arrival rank: image ``j`` of a network
    with ``m`` images arrives at ``(j + 0.5) / m`` of the stream, so a mix keeps its shares
    all along the schedule.
    """

    networks: tuple[Network, ...]
    images: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.networks:
            raise ScheduleError("empty workload: give at least one network")
        if len(self.networks) != len(self.images):
            raise ScheduleError(f"{len(self.networks)} networks but {len(self.images)} image counts")
        if any(int(k) < 1 for k in self.images):
            raise ScheduleError("every network needs at least one image")
        if any(len(n) == 0 for n in self.networks):
            raise ScheduleError("a network of the workload has no layers")

    @staticmethod
    def single(net: Network, images: int) -> Workload:
        """``images`` images of one network."""
        return Workload((net,), (int(images),))

    @staticmethod
    def mix(items: Sequence[tuple[Network, int]]) -> Workload:
        """Several networks, each with its own number of images."""
        return Workload(tuple(n for n, _ in items), tuple(int(k) for _, k in items))

    @staticmethod
    def stream(items: Sequence[tuple[Network, float]], images: int) -> Workload:
        """``images`` images in all, shared among networks by target ``share`` (largest remainder,
        at least one image each)."""
        if not items:
            raise ScheduleError("empty workload: give at least one network")
        shares = np.array([float(s) for _, s in items])
        if not np.isfinite(shares).all() or (shares <= 0).any():
            raise ScheduleError("stream shares must be positive numbers")
        if images < len(items):
            raise ScheduleError(f"a stream of {images} images cannot give each of {len(items)} networks one")
        want = shares / shares.sum() * images
        counts = np.maximum(np.floor(want).astype(np.int64), 1)
        while counts.sum() < images:
            counts[int(np.argmax(want - counts))] += 1
        while counts.sum() > images:
            counts[int(np.argmax(np.where(counts > 1, counts - want, -np.inf)))] -= 1
        return Workload(tuple(n for n, _ in items), tuple(int(c) for c in counts))

    @property
    def total_images(self) -> int:
        return int(sum(self.images))

    @property
    def total_tasks(self) -> int:
        return int(sum(len(n) * k for n, k in zip(self.networks, self.images)))

    @property
    def total_macs(self) -> int:
        return int(sum(net.total_macs * k for net, k in zip(self.networks, self.images)))

    def round(self) -> Workload:
        """The smallest workload with the same shares (image counts divided by their gcd)."""
        g = math.gcd(*self.images)
        return Workload(self.networks, tuple(k // g for k in self.images))

    def scaled(self, factor: int) -> Workload:
        """The same mix with every image count multiplied by ``factor``."""
        return Workload(self.networks, tuple(k * int(factor) for k in self.images))

    def describe(self) -> list[dict[str, object]]:
        """JSON-ready description (name, input shape, images) used to rebuild it."""
        return [
            {"model": n.name, "input_shape": list(n.input_shape), "images": int(k)}
            for n, k in zip(self.networks, self.images)
        ]
