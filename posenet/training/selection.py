"""Which model training hands back: the best one by val AP (the start, epoch 0, included), and when to stop
(``train.patience`` evaluations in a row without a gain)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Selection"]


@dataclass
class Selection:
    """Best-by-val-AP bookkeeping of one run. ``best_ap``: the highest val AP evaluated so far (``-inf``: none yet);
    ``best_epoch`` / ``best_step``: where it was measured (epoch 0 / step 0: the initial model); ``start_ap``: the
    AP of the initial model; ``stale``: evaluations since the last gain."""

    best_ap: float = -math.inf
    best_epoch: int | None = None
    best_step: int = 0
    start_ap: float | None = None
    stale: int = 0

    def update(self, ap: float, epoch: int, step: int) -> bool:
        """Record an evaluation; True when it is a new best (strictly higher AP: a tie keeps the earlier, less
        trained model; a NaN AP is never best)."""
        if epoch == 0:
            self.start_ap = ap
        if ap > self.best_ap:
            self.best_ap, self.best_epoch, self.best_step, self.stale = ap, epoch, step, 0
            return True
        self.stale += 1
        return False

    def exhausted(self, patience: int) -> bool:
        """True when ``patience`` (> 0) evaluations in a row brought no gain (0: never)."""
        return patience > 0 and self.stale >= patience

    def state(self) -> dict[str, Any]:
        """Plain values for a training checkpoint (``from_state`` restores them)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Selection:
        """The bookkeeping saved by ``state`` (a fresh one for checkpoints written before it existed)."""
        return cls(**state) if state else cls()
