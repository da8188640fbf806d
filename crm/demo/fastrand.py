"""The few NumPy-style draws the simulation makes per deal, on the stdlib generator.

NumPy is fast for arrays but slow for one number at a time; a deal's simulation draws a few dozen
scalars, so each deal gets its own `random.Random` seeded from the main NumPy generator.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


class ScalarRng:
    def __init__(self, parent: np.random.Generator) -> None:
        self._r = random.Random(int(parent.integers(2**62)))

    def random(self) -> float:
        return self._r.random()

    def normal(self, mu: float, sigma: float) -> float:
        return self._r.gauss(mu, sigma)

    def lognormal(self, mu: float, sigma: float) -> float:
        return self._r.lognormvariate(mu, sigma)

    def uniform(self, low: float, high: float) -> float:
        return self._r.uniform(low, high)

    def integers(self, n: int) -> int:
        return self._r.randrange(n)

    def pick(self, options: Sequence[T]) -> T:
        return self._r.choice(options)

    def sample(self, n: int, k: int) -> list[int]:
        return self._r.sample(range(n), k)
