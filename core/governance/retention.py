"""Retention and forgetting over every store an app declares, with a report of what went (and which training
runs used it), each one recorded in the audit log. A running API can purge on a schedule
(``governance.retention_days``, every ``governance.purge_interval_hours``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.config import Settings
from core.errors import InvalidRequestError, LLMEcoError
from core.governance import DataStore, StoreReport
from core.governance.audit import AuditLog
from core.governance.lineage import runs_using

log = logging.getLogger(__name__)


@dataclass
class Report:
    action: str  # purge | anonymise | forget
    stores: list[StoreReport]
    runs: dict[str, list[str]] = field(default_factory=dict)  # forget: run folder -> forgotten sessions it used

    @property
    def total(self) -> int:
        return sum(sum(s.counts.values()) for s in self.stores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "stores": [s.to_dict() for s in self.stores],
            "total": self.total,
            "runs": self.runs,
        }


def purge(
    settings: Settings,
    stores: Sequence[DataStore],
    older_than_days: float | None = None,
    anonymise: bool | None = None,
    actor: str = "system",
) -> Report:
    """Delete (or anonymise) what every store last touched more than ``older_than_days`` ago (default:
    ``governance.retention_days``)."""
    days = older_than_days if older_than_days is not None else settings.governance.retention_days
    if days is None:
        raise InvalidRequestError(
            "no age given: pass --older-than DAYS or set governance.retention_days (LLMECO_GOVERNANCE__RETENTION_DAYS)"
        )
    if days < 0:
        raise InvalidRequestError(f"the age must be 0 days or more; got {days}")
    anonymise = settings.governance.anonymise if anonymise is None else anonymise
    before = datetime.now(timezone.utc) - timedelta(days=days)
    report = Report("anonymise" if anonymise else "purge", [s.purge(before, anonymise) for s in stores])
    detail = {"older_than_days": days, "counts": {s.store: s.counts for s in report.stores}}
    AuditLog.for_settings(settings).record(actor, "purge", "data", report.action, detail)
    return report


def forget(
    settings: Settings,
    stores: Sequence[DataStore],
    session_id: str | None = None,
    user_id: str | None = None,
    actor: str = "system",
) -> Report:
    """Delete one session, or every session of one user, from every store; name the runs trained on them."""
    if (session_id is None) == (user_id is None):
        raise InvalidRequestError("give exactly one of --session ID or --user ID")
    if not (session_id or user_id or "").strip():
        raise InvalidRequestError("the session or user id is empty")
    report = Report("forget", [s.forget(session_id, user_id) for s in stores])
    sessions = sorted({sid for s in report.stores for sid in s.sessions} | ({session_id} if session_id else set()))
    report.runs = runs_using(settings, sessions)
    target = f"session:{session_id}" if session_id else f"user:{user_id}"
    detail = {"counts": {s.store: s.counts for s in report.stores}, "runs": sorted(report.runs)}
    AuditLog.for_settings(settings).record(actor, "forget", "data", target, detail)
    return report


def start_schedule(settings: Settings, stores: Sequence[DataStore]) -> threading.Thread | None:
    """Purge in a daemon thread now and every ``governance.purge_interval_hours`` while the process runs; None
    when ``governance.retention_days`` is not set. A failed purge is logged and retried at the next interval."""
    g = settings.governance
    if g.retention_days is None:
        return None
    if g.purge_interval_hours <= 0:
        raise InvalidRequestError(f"governance.purge_interval_hours must be above 0; got {g.purge_interval_hours}")

    def loop() -> None:
        while True:
            try:
                report = purge(settings, stores, actor="schedule")
                log.info("retention purge: %s", report.to_dict())
            except LLMEcoError as exc:
                log.error("retention purge failed: %s", exc)
            time.sleep(g.purge_interval_hours * 3600)

    thread = threading.Thread(target=loop, name="retention-purge", daemon=True)
    thread.start()
    return thread
