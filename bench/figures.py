"""A figure is a measurement repeated a few times: its median and how far the runs spread."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    unit: str
    runs: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.runs.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def spread_pct(self) -> float:
        """(max - min) / median, in percent: how much the runs disagree."""
        if len(self.runs) < 2 or not self.median:
            return 0.0
        return 100 * (max(self.runs) - min(self.runs)) / self.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": _round(self.median),
            "min": _round(min(self.runs)) if self.runs else None,
            "max": _round(max(self.runs)) if self.runs else None,
            "spread_pct": round(self.spread_pct, 1),
            "runs": [_round(value) for value in self.runs],
        }

    def text(self) -> str:
        return f"{_short(self.median)} {self.unit} ±{self.spread_pct / 2:.0f}%"


def ratio(numerator: Figure, denominator: Figure) -> Figure:
    """The ratio run by run (runs were interleaved, so each pair shares the machine's mood)."""
    pairs = zip(numerator.runs, denominator.runs, strict=False)
    return Figure("×", [a / b for a, b in pairs if b])


@dataclass(frozen=True)
class Goal:
    section: str
    case: str
    database: str
    what: str
    value: Figure
    target: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        median = self.value.median
        return median >= self.target if self.higher_is_better else median <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "case": self.case,
            "database": self.database,
            "what": self.what,
            "ratio": self.value.as_dict(),
            "target": ("≥ " if self.higher_is_better else "≤ ") + f"{self.target:g}",
            "met": self.met,
        }


def _round(value: float) -> float:
    if value != value:  # NaN
        return value
    return round(value, 3) if abs(value) < 100 else round(value, 1)


def _short(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
