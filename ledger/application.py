"""The eventsourcing Application that stores collaborations, with snapshots."""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent

from ledger.domain.model import Collaboration
from ledger.persistence import LedgerStore
from ledger.settings import Settings

log = logging.getLogger(__name__)


class LedgerApplication(Application[UUID]):
    """One per process, built after gunicorn forks."""

    name = "ledger"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Collaboration: 50}

    def __init__(self, settings: Settings) -> None:
        self.snapshotting_intervals = {Collaboration: settings.snapshot_interval}  # type: ignore[misc]
        super().__init__(
            env={
                **settings.persistence_env(),
                "IS_SNAPSHOTTING_ENABLED": "y",
                # Commands start from a cached aggregate, fast-forwarded with the events stored
                # since (by any process) and deep-copied, so a failed save leaves it untouched.
                "AGGREGATE_CACHE_MAXSIZE": "256",
            }
        )

    @property
    def store(self) -> LedgerStore:
        recorder = self.recorder
        assert isinstance(recorder, LedgerStore)
        return recorder

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # The events are committed by now; a failed snapshot only costs a longer replay later.
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.exception("snapshot failed; events are stored, replay will be longer")
