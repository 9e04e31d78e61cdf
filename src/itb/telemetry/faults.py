"""Fault injection on a telemetry link, by rate or by script.

Every frame that passes the link (in either direction) gets an index, counted from 1, and
at most one fault. A scripted action for that index wins; otherwise each rate is drawn in the
order ``drop, corrupt, duplicate, delay, reorder, cut`` and the first that hits applies. The
draws come from ``random.Random(seed)``: the same spec and the same traffic give the same faults.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

FAULTS: tuple[str, ...] = ("drop", "corrupt", "duplicate", "delay", "reorder", "cut")
_KEYS = (*FAULTS, "seed", "script")
MAX_DELAY_FRAMES = 4


@dataclass(frozen=True)
class FaultSpec:
    """Per-frame fault rates (each 0..1), a seed, and a script of (frame index, action)."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    cut: float = 0.0
    seed: int | None = None
    script: tuple[tuple[int, str], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in FAULTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"faults.{name}: must be a number from 0 to 1, got {value!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"faults.seed: must be an integer, got {self.seed!r}")
        seen: set[int] = set()
        for entry in self.script:
            index, action = entry
            if isinstance(index, bool) or not isinstance(index, int) or index < 1:
                raise ValueError(f"faults.script: frame index must be an integer from 1, got {index!r}")
            if action not in FAULTS:
                raise ValueError(f"faults.script: unknown action {action!r}; known: {', '.join(FAULTS)}")
            if index in seen:
                raise ValueError(f"faults.script: frame {index} has two actions; give one")
            seen.add(index)
        object.__setattr__(self, "script", tuple(sorted(self.script)))

    @property
    def active(self) -> bool:
        """Whether this spec can fault anything at all."""
        return bool(self.script) or any(getattr(self, name) > 0 for name in FAULTS)

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """The spec in CLI form, e.g. ``"drop=0.05,corrupt=0.02,seed=7"`` or ``"script=drop@3;cut@12"``."""
        text = text.strip()
        if text.lower() in ("", "none"):
            return cls()
        values: dict[str, object] = {}
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, raw = item.partition("=")
            key, raw = key.strip().lower(), raw.strip()
            if key not in _KEYS:
                raise ValueError(f"faults.{key}: unknown fault; known: {', '.join(_KEYS)}")
            if not sep:
                raise ValueError(f"faults.{key}: has no value; write it as {key}=VALUE")
            if key in values:
                raise ValueError(f"faults.{key}: given twice")
            if key == "seed":
                try:
                    values[key] = int(raw)
                except ValueError:
                    raise ValueError(f"faults.seed: must be an integer, got {raw!r}") from None
            elif key == "script":
                values[key] = _parse_script(raw)
            else:
                values[key] = _parse_rate(key, raw)
        return cls(**values)  # type: ignore[arg-type]

    def __str__(self) -> str:
        """The CLI form (``FaultSpec.parse(str(spec)) == spec``); "none" when nothing is faulted."""
        parts = [f"{name}={getattr(self, name)!r}" for name in FAULTS if getattr(self, name) > 0]
        if self.script:
            parts.append("script=" + ";".join(f"{action}@{index}" for index, action in self.script))
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts) or "none"


def _parse_rate(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ValueError(f"faults.{key}: must be a number from 0 to 1, got {raw!r}")
    return value


def _parse_script(raw: str) -> tuple[tuple[int, str], ...]:
    steps: list[tuple[int, str]] = []
    for step in raw.split(";"):
        step = step.strip()
        if not step:
            continue
        action, sep, index = step.partition("@")
        action = action.strip().lower()
        if not sep:
            raise ValueError(f"faults.script: {step!r} must be ACTION@FRAME, e.g. drop@3")
        if action not in FAULTS:
            raise ValueError(f"faults.script: unknown action {action!r} in {step!r}; known: {', '.join(FAULTS)}")
        try:
            n = int(index)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"faults.script: frame index must be an integer from 1, got {index.strip()!r} in {step!r}")
        steps.append((n, action))
    if not steps:
        raise ValueError("faults.script: is empty; write e.g. script=drop@3;cut@12")
    return tuple(steps)


class FaultInjector:
    """Decides the fate of each frame passing a link; counts what it did.

    ``apply`` returns what to deliver as ``(delay_in_frames, bytes)`` pairs: ``[]`` when the
    frame is lost, ``delay`` > 0 when it must be held until that many later frames have passed.
    """

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.frames = 0
        self.counts: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.lost_in_cut = 0
        self._cut = False
        self._script = dict(spec.script)
        self._rates = [(name, getattr(spec, name)) for name in FAULTS]
        self._rng = random.Random(spec.seed)

    @property
    def cut_active(self) -> bool:
        """Whether the link is cut (nothing passes until ``reconnect``)."""
        return self._cut

    def reconnect(self) -> None:
        """End a cut: the wand is back in place."""
        self._cut = False

    def apply(self, data: bytes) -> list[tuple[int, bytes]]:
        """The fate of the next frame on the link (either direction)."""
        self.frames += 1
        draws = [self._rng.random() for _ in self._rates]  # always six draws: stable for a seed
        if self._cut:
            self.lost_in_cut += 1
            return []
        action = self._script.get(self.frames)
        if action is None:
            action = next((name for (name, rate), u in zip(self._rates, draws) if u < rate), None)
        if action is None:
            return [(0, data)]
        self.counts[action] += 1
        if action == "drop":
            return []
        if action == "corrupt":
            return [(0, self._corrupt(data))]
        if action == "duplicate":
            return [(0, data), (0, data)]
        if action == "delay":
            return [(self._rng.randint(1, MAX_DELAY_FRAMES), data)]
        if action == "reorder":
            return [(1, data)]  # delivered right after the next frame: the two swap
        self._cut = True
        return []

    def _corrupt(self, data: bytes) -> bytes:
        if not data:
            return data
        out = bytearray(data)
        bits = self._rng.sample(range(len(out) * 8), k=min(self._rng.randint(1, 3), len(out) * 8))
        for bit in bits:
            out[bit // 8] ^= 0x80 >> (bit % 8)
        return bytes(out)

    def summary(self) -> str:
        """One line: frames seen and each fault applied."""
        done = ", ".join(f"{name} {n}" for name, n in self.counts.items() if n)
        lost = f", lost in cut {self.lost_in_cut}" if self.lost_in_cut else ""
        return f"{self.frames} frames: {done or 'no faults'}{lost}"
