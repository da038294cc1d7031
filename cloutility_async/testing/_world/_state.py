"""The world's state: its records, its clock, lookups, and details generated on demand.

:class:`WorldState` is the base the mutations and billing build on; :class:`World`
(``_world.py``) puts them together and populates the tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from .._formats import UTC
from . import _history as history
from ._catalog import DEMO_USER_ID, ROOT_ID
from ._entities import AuditEntry, BusinessUnit, Consumer, InvoiceFile, Job, Report, User
from ._generation import Generator

__all__ = ["WorldState"]

JSON = dict[str, Any]


class WorldState:
    """Every record of the simulated portal, with lookups for tests.

    ``now`` anchors every generated date (default: the current time); the world's clock
    then advances with real time (:meth:`current_time`).
    """

    def __init__(
        self,
        *,
        seed: int,
        now: datetime | None,
        username: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self.seed = seed
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.username = username
        self.generator = Generator(seed, self.now, username)
        self._clock = clock
        self._mono0 = clock()
        self.root_id = ROOT_ID
        self.demo_user_id = DEMO_USER_ID
        self.bunits: dict[int, BusinessUnit] = {}
        self.consumers: dict[int, Consumer] = {}
        self.users: dict[int, User] = {}
        self.proxies: set[tuple[int, int]] = set()
        self.invoice_files: dict[int, list[InvoiceFile]] = {}
        self.deleted_consumers: dict[int, Consumer] = {}
        self.move_on_duplicate_name = True
        self._next_bu_id = 100
        self._next_consumer_id = 0
        self._next_user_id = 100
        self._next_node_id = 5_000_000
        self._next_file_id = 700
        self._tsm_names: dict[str, int] | None = None

    # -- clock ------------------------------------------------------------------------

    def current_time(self) -> datetime:
        """The world's "now": ``now`` advanced by the real time elapsed since creation."""
        return self.now + timedelta(seconds=self._clock() - self._mono0)

    # -- records ----------------------------------------------------------------------

    def _add_bu(self, bid: int, parent: int | None, raw: JSON, tz: int = 4) -> BusinessUnit:
        bu = BusinessUnit(bid, parent, raw, tz)
        self.bunits[bid] = bu
        if parent is not None:
            self.bunits[parent].children.append(bid)
        return bu

    def _add_user(self, user: User) -> User:
        self.users[user.id] = user
        self.bunits[user.bu_id].user_ids.append(user.id)
        return user

    def _add_consumer(self, c: Consumer) -> None:
        self.consumers[c.id] = c
        self.bunits[c.bu_id].consumer_ids[c.id] = None

    # -- details on demand ------------------------------------------------------------

    def details(self, c: Consumer) -> Consumer:
        """Generate a consumer's details (record, node, jobs, reports, audit log) if needed."""
        if not c.built:
            self.generator.fill_details(c)
        return c

    def _lazy_jobs(self, c: Consumer) -> list[Job]:
        return self.generator.jobs(self.details(c))

    def _lazy_reports(self, c: Consumer) -> list[Report]:
        return self.generator.reports(self.details(c))

    def _lazy_filespaces(self, c: Consumer) -> list[JSON]:
        return self.generator.filespaces(self.details(c))

    def _lazy_audit(self, c: Consumer) -> list[AuditEntry]:
        return self.generator.audit(self.details(c))

    def log(self, c: Consumer, typ: int, message: str) -> None:
        """Append an audit log entry for an API action."""
        self.details(c)
        eid = (c.audit[-1].id + 1) if c.audit else c.id * 1000
        entry = history.audit_entry(self.username, eid, self.current_time(), typ, message, False)
        self.audit_append(c, entry)

    @staticmethod
    def audit_append(c: Consumer, entry: AuditEntry) -> None:
        """Add ``entry`` to the consumer's audit log (the newest last)."""
        c.audit.append(entry)

    # -- lookups ------------------------------------------------------------------------

    def bunit(self, bu_id: int) -> BusinessUnit:
        """A business unit by id (``KeyError`` if unknown)."""
        return self.bunits[bu_id]

    def consumer(self, cid: int) -> Consumer:
        """A consumer by id, details generated (``KeyError`` if unknown)."""
        return self.details(self.consumers[cid])

    def consumers_of(self, bu_id: int) -> list[Consumer]:
        """The consumers directly under a business unit."""
        return [self.consumers[cid] for cid in self.bunits[bu_id].consumer_ids]

    def find_consumers(self, name: str) -> list[Consumer]:
        """Consumers with exactly this name (names are not unique)."""
        return [c for c in self.consumers.values() if c.name == name]

    def node(self, cid: int) -> JSON | None:
        """A consumer's stored node record, or ``None``."""
        return self.consumer(cid).node

    def first_job(self, cid: int) -> Job | None:
        """The consumer's first job, or ``None``."""
        jobs = self.consumer(cid).jobs
        return jobs[0] if jobs else None

    def ancestors(self, bu_id: int) -> list[int]:
        """Ids from the parent up to the top of the world."""
        out = []
        parent = self.bunits[bu_id].parent_id
        while parent is not None:
            out.append(parent)
            parent = self.bunits[parent].parent_id
        return out

    def is_within(self, bu_id: int, root_id: int) -> bool:
        """Is ``bu_id`` ``root_id`` or one of its descendants?"""
        current: int | None = bu_id
        while current is not None:
            if current == root_id:
                return True
            current = self.bunits[current].parent_id
        return False

    def descendants(self, bu_id: int) -> Iterator[int]:
        """``bu_id`` and every business unit under it, depth first."""
        stack = [bu_id]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(self.bunits[current].children))

    def consumers_in_tree(self, bu_id: int) -> Iterator[Consumer]:
        """Every consumer of a business unit and its descendants."""
        for bid in self.descendants(bu_id):
            for cid in self.bunits[bid].consumer_ids:
                yield self.consumers[cid]
