"""The pump's internal tubing plus the catheter: drug moves through first in, first out.

After a concentration change the patient first receives the old drug still in the line,
which is why a bridge bolus exists.
"""

from __future__ import annotations

from collections import deque


class Catheter:
    """Slugs of ``[volume_ml, concentration_mcg_per_ml]``, oldest (nearest the tip) first."""

    __slots__ = ("slugs", "volume_ml")

    def __init__(self, volume_ml: float, concentration_mcg_per_ml: float) -> None:
        self.volume_ml = volume_ml
        self.slugs: deque[list[float]] = deque()
        if volume_ml > 0:
            self.slugs.append([volume_ml, concentration_mcg_per_ml])

    @property
    def content_mcg(self) -> float:
        return sum(v * c for v, c in self.slugs)

    def push(self, volume_ml: float, concentration_mcg_per_ml: float) -> float:
        """Push ``volume_ml`` in at the pump; return the mcg that leave at the tip."""
        if volume_ml <= 0:
            return 0.0
        if self.volume_ml <= 0:
            return volume_ml * concentration_mcg_per_ml
        slugs = self.slugs
        if slugs and slugs[-1][1] == concentration_mcg_per_ml:
            slugs[-1][0] += volume_ml
        else:
            slugs.append([volume_ml, concentration_mcg_per_ml])
        out_mcg = 0.0
        to_leave = volume_ml
        while to_leave > 0 and slugs:
            head = slugs[0]
            if head[0] <= to_leave:
                out_mcg += head[0] * head[1]
                to_leave -= head[0]
                slugs.popleft()
            else:
                out_mcg += to_leave * head[1]
                head[0] -= to_leave
                to_leave = 0.0
        return out_mcg
