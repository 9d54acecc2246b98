"""What a verification found: manipulations and notices, each at its positions, and the gaps:
the positions where no event is stored (positions never skip, so each gap was a deletion)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MANIPULATION = "manipulation"  # stored data was changed, added or deleted after the fact
NOTICE = "notice"  # a limit of what could be checked, not a fault


@dataclass(frozen=True)
class Finding:
    kind: str
    check: str
    detail: str
    position: int | None = None
    through: int | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "check": self.check, "position": self.position}
        if self.through is not None and self.through != self.position:
            found["through"] = self.through
        found["detail"] = self.detail
        return found

    def line(self) -> str:
        where = ""
        if self.position is not None:
            where = f" at position {self.position}"
            if self.through is not None and self.through != self.position:
                where = f" at positions {self.position}..{self.through}"
        return f"{self.kind.upper()}{where} [{self.check}]: {self.detail}"


@dataclass
class Report:
    """The outcome of verifying the live ledger or an audit bundle."""

    source: str
    basis: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    events: int = 0
    records: int = 0
    checkpoints: int = 0
    seconds: float = 0.0

    def add(
        self,
        kind: str,
        check: str,
        detail: str,
        position: int | None = None,
        through: int | None = None,
    ) -> None:
        self.findings.append(Finding(kind, check, detail, position, through))

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def ok(self) -> bool:
        return not self.of_kind(MANIPULATION)

    def manipulated_at(self) -> list[int]:
        """The position where each manipulation found starts."""
        return sorted({f.position for f in self.of_kind(MANIPULATION) if f.position is not None})

    def sorted_findings(self) -> list[Finding]:
        order = {MANIPULATION: 0, NOTICE: 1}
        return sorted(
            self.findings, key=lambda f: (order[f.kind], f.position is None, f.position or 0)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "basis": self.basis,
            "checked": {
                "events": self.events,
                "records": self.records,
                "checkpoints": self.checkpoints,
            },
            "counts": {kind: len(self.of_kind(kind)) for kind in (MANIPULATION, NOTICE)},
            "manipulated_at": self.manipulated_at(),
            "gaps": [{"from": first, "through": last} for first, last in self.gaps],
            "findings": [f.as_dict() for f in self.sorted_findings()],
            "seconds": round(self.seconds, 3),
        }

    def text(self) -> str:
        counts = self.as_dict()["counts"]
        verdict = "OK: no manipulation found" if self.ok else "MANIPULATED"
        gaps = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in self.gaps) or "none"
        lines = [
            f"{verdict} — {self.events} events, {self.records} records, "
            f"{self.checkpoints} checkpoints checked in {self.seconds:.1f}s; "
            f"{counts[MANIPULATION]} manipulations, {counts[NOTICE]} notices; "
            f"positions without an event: {gaps}",
            *(f.line() for f in self.sorted_findings()),
        ]
        return "\n".join(lines)
