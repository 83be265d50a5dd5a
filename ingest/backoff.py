"""How long to wait before trying again: the one backoff of every retry loop.

Cameras reconnecting, a camera's event subscription, the worker's incident outbox and the API's
webhook/MQTT deliveries all take their delays from `Backoff`; only the numbers differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff with jitter and a cap.

    The delay doubles with each failure up to `cap_s`. Jitter only ever shortens it, by up to
    `jitter` of it, so the cap holds, and clients that fail together (cameras behind a rebooting
    switch, deliveries to a receiver that went down) spread their retries instead of knocking at
    the same instant. `jitter=0.5` waits between half the step and the whole step.

    Example:
        >>> backoff = Backoff(initial_s=0.5, cap_s=30, rng=random.Random(1))
        >>> [round(backoff.delay(n), 2) for n in range(4)]
        [0.49, 0.83, 1.69, 3.8]
    """

    initial_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.cap_s < self.initial_s:
            raise ValueError("backoff needs 0 < initial_s <= cap_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive failed attempts (0 for the first retry)."""
        # The exponent is bounded so a camera dead for weeks does not overflow a float.
        raw = self.initial_s * self.factor ** min(max(failures, 0), 64)
        return min(self.cap_s, raw) * (1 - self.jitter * self.rng.random())
