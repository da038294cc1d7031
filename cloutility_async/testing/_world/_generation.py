"""The simulator's in-memory portal: a seeded business-unit tree with everything under it.

Generation is deterministic for a ``seed`` and a ``now``.  The tree and the consumers'
identities are built eagerly (cheap even for 50,000 consumers); each consumer's details
(its full record, node, filespaces, jobs, reports, audit log) are generated on first
use from a per-consumer RNG, so access order never changes the data.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .._formats import TIME_ZONES, UTC, fmt_ms, fmt_s, fmt_ticks, fmt_timespan, seeded_random

__all__ = [
    "ACTIVATED",
    "NOT_ACTIVATED",
    "NO_NODE",
    "ApiError",
    "AuditEntry",
    "BusinessUnit",
    "Consumer",
    "InvoiceFile",
    "User",
    "World",
]

JSON = dict[str, Any]

ACTIVATED, NOT_ACTIVATED, NO_NODE = 0, 1, 2
ROOT_ID = 22
PARENT_ID = 13
OTHER_ID = 23
FIRST_CONSUMER_ID = 408
DEMO_USER_ID = 17

_EPOCH = datetime(2022, 9, 1, tzinfo=UTC)
_CATALOG_DATE = "2022-06-10T06:33:19.337Z"

STATE_ACTIVE: JSON = {"id": 3, "name": "Active"}
STATE_INACTIVE: JSON = {"id": 2, "name": "Inactive"}
STATE_NEW: JSON = {"id": 1, "name": "New"}
DATA_SOURCE_TYPE: JSON = {"id": 1, "name": "SP Backup node"}
STATE_BY_KIND: dict[int, JSON] = {0: STATE_ACTIVE, 1: STATE_INACTIVE, 2: STATE_NEW}
SERVER_TYPE: JSON = {"id": 1, "name": "IBM Storage Protect"}

AUDIT_TYPES = {0: "Info", 100: "Create", 200: "Modify", 300: "Delete", 400: "Error"}

# id, name, shortName, supported node type ids
NODE_OPERATING_SYSTEMS: list[tuple[int, str, str, tuple[int, ...]]] = [
    (1, "Windows", "WIN", (1, 2, 3, 4, 5)),
    (2, "Linux x86_64", "LNX", (1, 2, 3, 6)),
    (3, "macOS", "MAC", (1,)),
    (4, "AIX", "AIX", (2, 6)),
    (5, "Linux on IBM Z", "LNXZ", (2, 6)),
]
NODE_TYPES: list[tuple[int, str, str]] = [
    (1, "Workstation", "WS"),
    (2, "File server", "FS"),
    (3, "Virtual machine", "VM"),
    (4, "Microsoft SQL Server", "MSSQL"),
    (5, "Microsoft Exchange", "EXCH"),
    (6, "Oracle database", "ORA"),
]
# id, name (None: undefined), usesLimit
NODE_WARNING_TYPES: list[tuple[int, str | None, bool]] = [
    (1, "Failed backup", False),
    (2, "No backup for a number of days", True),
    (3, "Storage above limit", True),
    (4, "Missed schedule", False),
    (5, "Outdated backup client", False),
    (6, None, False),
]
# id, name, description, backupRetention, archiveRetention
DOMAINS: list[tuple[int, str, str, int, int]] = [
    (1, "STANDARD", "Standard retention (30 days)", 30, 365),
    (2, "WS_30D", "Workstations, 30 days", 30, 0),
    (3, "SRV_90D", "Servers, 90 days", 90, 365),
    (4, "ARCHIVE_7Y", "Long-term archive, 7 years", 30, 2555),
]
# id, name, description (None: undefined)
CLIENT_OPTION_SETS: list[tuple[int, str, str | None]] = [
    (1, "DEFAULT", "Default client options"),
    (2, "WINDOWS", "Windows exclusions"),
    (3, "LINUX", "Linux exclusions"),
    (4, "DEDUP_CLIENT", None),
]
BACKUP_SERVER = (1, "TSM01")
USERS_TEMPLATE = [
    ("Anna Lindqvist", "anna.lindqvist"),
    ("Erik Johansson", "erik.johansson"),
    ("Maria Nilsson", "maria.nilsson"),
    ("Johan Berg", "johan.berg"),
    ("Sara Ek", "sara.ek"),
    ("Lars Holm", "lars.holm"),
]
_DEPARTMENTS = [
    "Finance",
    "R&D",
    "Sales",
    "Support",
    "IT Operations",
    "Legal",
    "Logistics",
    "Production",
    "Customer Service",
    "Procurement",
    "Design",
    "Quality",
]
_LOCATIONS = [
    "Stockholm",
    "Göteborg",
    "Malmö",
    "Uppsala",
    "Linköping",
    "Oslo",
    "Helsinki",
    "Umeå",
    "Lund",
    "Västerås",
]
_FIRST_NAMES = [
    "Anna",
    "Erik",
    "Maria",
    "Karl",
    "Sofia",
    "Johan",
    "Emma",
    "Lars",
    "Elin",
    "Nils",
    "Ida",
    "Olof",
    "Greta",
    "Axel",
    "Maja",
]
_ROLES = ["db", "web", "app", "file", "mail", "dc", "build", "erp", "crm", "log"]
_PRODUCTS = [
    (11, "Backup storage (GB)", 0.35),
    (12, "Backup node", 49.0),
    (13, "Replication storage (GB)", 0.12),
]
CURRENCY: JSON = {
    "name": "Swedish krona",
    "code": "SEK",
    "symbol": "kr",
    "displayName": "SEK",
    "longDisplayName": "Swedish krona (SEK)",
    "id": 1,
    "createdDate": _CATALOG_DATE,
}
_TSM_NAME_RE = re.compile(r"^[A-Za-z0-9_.+&-]{1,64}$")


class ApiError(Exception):
    """An error answer with the portal's error body (status, code, message, developerMessage)."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, developer: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "Error")
        self.developer = developer or message


_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
}


def ci_get(body: Mapping[str, Any], key: str) -> Any:
    """Case-insensitive lookup (the portal binds JSON keys case-insensitively; like
    Json.NET, the last of several spellings wins)."""
    lowered = key.lower()
    found = None
    for k, v in body.items():
        if k.lower() == lowered:
            found = v
    return found


def ci_merge(raw: JSON, body: Mapping[str, Any], skip: frozenset[str]) -> None:
    """Merge a request body into a stored record, matching keys case-insensitively."""
    keys = {k.lower(): k for k in raw}
    for k, v in body.items():
        lowered = k.lower()
        if lowered in skip:
            continue
        target = keys.get(lowered, k)
        raw[target] = v
        keys[lowered] = target


@dataclass(eq=False)
class BusinessUnit:
    """A business unit: ``raw`` holds its stored fields (PUT bodies merge into it)."""

    id: int
    parent_id: int | None
    raw: JSON
    timezone_id: int = 4
    children: list[int] = field(default_factory=list)
    consumer_ids: dict[int, None] = field(default_factory=dict)
    user_ids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.raw.get("name", ""))


@dataclass(eq=False)
class User:
    """A portal user."""

    id: int
    bu_id: int
    raw: JSON


@dataclass(eq=False)
class AuditEntry:
    """One audit log line."""

    id: int
    created: datetime
    type: int
    message: str
    user_name: str
    user_id: int
    descendant: bool
    created_str: str


@dataclass(eq=False)
class Job:
    """A job against a node; ``raw`` lacks href/businessUnitId (computed when rendered)."""

    id: int
    completed: datetime
    raw: JSON


@dataclass(eq=False)
class Report:
    """A daily node report."""

    id: int
    report_date: datetime
    raw: JSON
    status: int
    warnings: list[JSON]


@dataclass(eq=False)
class InvoiceFile:
    """An uploaded invoice file."""

    id: int
    bu_id: int
    created: datetime
    file_name: str
    content_type: str
    data: bytes
    erp_reference: str | None
    send_to_billing_address: bool


class Consumer:
    """A consumption unit.

    The record and node are generated on first use (:meth:`World.details`); jobs,
    reports, filespaces and the audit log each on their own first access, from
    per-consumer seeds, so access order never changes the data.
    """

    __slots__ = (
        "_audit",
        "_filespaces",
        "_jobs",
        "_reports",
        "_world",
        "bu_id",
        "built",
        "created",
        "generated_kind",
        "heavy_audit",
        "id",
        "kind",
        "name",
        "node",
        "raw",
    )

    def __init__(
        self,
        world: World,
        cid: int,
        bu_id: int,
        name: str,
        kind: int,
        heavy_audit: bool,
        created: datetime,
        *,
        generated: bool = True,
    ) -> None:
        self._world = world
        self.id = cid
        self.bu_id = bu_id
        self.name = name
        self.kind = kind
        self.generated_kind = kind if generated else None
        self.heavy_audit = heavy_audit
        self.created = created
        self.built = False
        self.raw: JSON = {}
        self.node: JSON | None = None
        self._filespaces: list[JSON] | None = None
        self._jobs: list[Job] | None = None
        self._reports: list[Report] | None = None
        self._audit: list[AuditEntry] | None = None

    @property
    def jobs(self) -> list[Job]:
        """Jobs, oldest first."""
        if self._jobs is None:
            self._jobs = self._world._lazy_jobs(self)
        return self._jobs

    @property
    def reports(self) -> list[Report]:
        """Daily node reports, oldest first."""
        if self._reports is None:
            self._reports = self._world._lazy_reports(self)
        return self._reports

    @property
    def filespaces(self) -> list[JSON]:
        """The node's filespaces."""
        if self._filespaces is None:
            self._filespaces = self._world._lazy_filespaces(self)
        return self._filespaces

    @property
    def audit(self) -> list[AuditEntry]:
        """Audit log entries, oldest first."""
        if self._audit is None:
            self._audit = self._world._lazy_audit(self)
        return self._audit

    @property
    def activated(self) -> bool:
        """Does the consumer have an activated node?"""
        return self.node is not None and "activatedDate" in self.node

    def __repr__(self) -> str:
        return f"Consumer(id={self.id}, bu_id={self.bu_id}, name={self.name!r})"


def _t7(rng: random.Random, when: datetime) -> str:
    """A seven-digit-fraction local timestamp with generated sub-second digits."""
    return fmt_ticks(when.replace(microsecond=rng.randrange(1_000_000)), rng.randrange(10))


def _catalog_partial(kind: str, ident: int) -> JSON:
    if kind == "operatingSystem":
        for oid, name, short, _types in NODE_OPERATING_SYSTEMS:
            if oid == ident:
                return {"name": name, "shortName": short, "id": oid, "createdDate": _CATALOG_DATE}
    elif kind == "type":
        for tid, name, short in NODE_TYPES:
            if tid == ident:
                return {"id": tid, "name": name, "shortName": short, "createdDate": _CATALOG_DATE}
    elif kind == "domain":
        for did, name, desc, backup, archive in DOMAINS:
            if did == ident:
                return {
                    "name": name,
                    "description": desc,
                    "backupRetention": backup,
                    "archiveRetention": archive,
                    "missingInTsm": False,
                    "id": did,
                    "createdDate": _CATALOG_DATE,
                }
    elif kind == "clientOptionSet":
        for sid, set_name, set_desc in CLIENT_OPTION_SETS:
            if sid == ident:
                out: JSON = {"name": set_name, "id": sid, "createdDate": _CATALOG_DATE}
                if set_desc is not None:
                    out["description"] = set_desc
                return out
    elif kind == "server" and ident == BACKUP_SERVER[0]:
        return {"id": BACKUP_SERVER[0], "name": BACKUP_SERVER[1]}
    raise KeyError(ident)


def sanitize_tsm_name(name: str) -> str:
    """The portal's suggested Storage Protect node name for a consumer name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+&-]+", "_", name.upper()).strip("_")
    return (cleaned or "NODE")[:64]


def valid_tsm_name(name: str) -> bool:
    """IBM Storage Protect node name rules: 1-64 of letters, digits and ``_ - . + &``."""
    return bool(_TSM_NAME_RE.match(name))


class World:
    """All simulated portal state, with lookups for tests.

    ``now`` anchors every generated date (default: the current time); the world's clock
    then advances with real time (:meth:`current_time`).
    """

    def __init__(
        self,
        *,
        consumers: int = 40,
        seed: int = 0,
        now: datetime | None = None,
        username: str = "demo",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if consumers < 0:
            raise ValueError("consumers must be >= 0")
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self.seed = seed
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.username = username
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
        self._next_user_id = 100
        self._next_node_id = 5_000_000
        self._next_file_id = 700
        self._tsm_names: dict[str, int] | None = None
        self._build(consumers)

    # -- clock ------------------------------------------------------------------------

    def current_time(self) -> datetime:
        """The world's "now": ``now`` advanced by the real time elapsed since creation."""
        return self.now + timedelta(seconds=self._clock() - self._mono0)

    # -- generation -------------------------------------------------------------------

    def _bu_raw(self, rng: random.Random, bid: int, name: str, created: datetime) -> JSON:
        raw: JSON = {
            "domainFilter": [],
            "clientOptionSetFilter": [],
            "name": name,
            "supportResponsible": False,
            "registrationNumber": f"SE55{rng.randrange(10**9, 10**10)}",
            "invoiceDay": 0,
            "billingStorageTypeId": 2,
            "billingStorageType": 2,
            "useScheduleBindings": False,
            "consumers": [],
            "storageLimit": 0,
            "transferLimit": 0,
            "nodeLimit": 0,
            "passwordExpirationDays": 0,
            "requiredApproversOfDeleteRequest": rng.choice((0, 0, 1)),
            "finalDeleteRequestApprover": False,
            "usersCanApproveOwnRequests": False,
            "reportRemotely": False,
            "tags": [],
            "id": bid,
            "createdDate": fmt_ms(created),
        }
        if rng.random() < 0.35:
            raw["note"] = f"Cost centre {rng.randrange(1000, 9999)}"
        return raw

    def _add_bu(self, bid: int, parent: int | None, raw: JSON, tz: int = 4) -> BusinessUnit:
        bu = BusinessUnit(bid, parent, raw, tz)
        self.bunits[bid] = bu
        if parent is not None:
            self.bunits[parent].children.append(bid)
        return bu

    def _add_user(self, rng: random.Random, bu_id: int, uid: int, name: str, login: str) -> User:
        created = _EPOCH + timedelta(days=rng.randrange(0, 300), seconds=rng.randrange(86400))
        raw: JSON = {
            "actions": [],
            "name": login,
            "phone": f"+46 70 {rng.randrange(100, 999)} {rng.randrange(10, 99)} "
            f"{rng.randrange(10, 99)}",
            "email": f"{login}@example.com",
            "failedLoginAttempts": 0,
            "usesTotp": rng.random() < 0.3,
            "locked": False,
            "dateFormatInitialized": "yyyy-MM-dd",
            "timeFormatInitialized": "HH:mm",
            "dateTimeFormat": "yyyy-MM-dd HH:mm",
            "dateAtTimeFormat": "yyyy-MM-dd 'at' HH:mm",
            "csvDelimiter": ";",
            "decimalMark": ",",
            "role": {
                "inheritable": True,
                "name": "Administrator" if uid == DEMO_USER_ID else "Reader",
                "description": "",
                "privileges": [],
                "id": 1 if uid == DEMO_USER_ID else 3,
                "createdDate": _CATALOG_DATE,
            },
            "lastLoginDate": fmt_ticks(self.now - timedelta(hours=rng.randrange(1, 400)), 3),
            "lastPasswordChange": fmt_s(created),
            "businessUnitId": bu_id,
            "language": {
                "name": "English",
                "iso639Code": "en",
                "id": 1,
                "createdDate": _CATALOG_DATE,
            },
            "receiveCommentNotifications": False,
            "receiveDeleteRequestNotifications": True,
            "useOwnReportErrorConfig": False,
            "groupStatusReportByBusinessUnits": False,
            "itemsPerPage": 25,
            "excludeJobTags": False,
            "userIdentities": [],
            "displayName": name,
            "id": uid,
            "createdDate": fmt_ms(created),
        }
        user = User(uid, bu_id, raw)
        self.users[uid] = user
        self.bunits[bu_id].user_ids.append(uid)
        return user

    def _build(self, n_consumers: int) -> None:
        rng = seeded_random(self.seed)
        parent = self._add_bu(
            PARENT_ID,
            None,
            self._bu_raw(
                rng, PARENT_ID, "Safespring - Sverige", datetime(2022, 8, 22, 15, 1, 45, 27000, UTC)
            ),
        )
        parent.raw["billingStorageTypeId"] = parent.raw["billingStorageType"] = 1
        root_raw = self._bu_raw(
            rng, ROOT_ID, "Company AB", datetime(2023, 6, 10, 11, 10, 11, 321000, UTC)
        )
        root_raw["registrationNumber"] = "SE556612345678"
        root_raw.pop("note", None)
        self._add_bu(ROOT_ID, PARENT_ID, root_raw)
        other = self._bu_raw(rng, OTHER_ID, "Other Company AB", _EPOCH + timedelta(days=40))
        self._add_bu(OTHER_ID, PARENT_ID, other)

        depth = {ROOT_ID: 0}
        n_bu = max(3, min(400, 2 + n_consumers // 8))
        used_names = {"Company AB"}
        next_id = 100
        bid_prev = ROOT_ID
        fixed = [(76, ROOT_ID, "Marketing Department"), (94, ROOT_ID, "HR Department")]
        for i in range(n_bu):
            if i < len(fixed):
                bid, par, name = fixed[i]
            else:
                bid = next_id
                next_id += rng.randrange(1, 4)
                if i == 2:
                    par = 76
                elif i == 3:
                    par = bid_prev
                else:
                    candidates = [b for b, d in depth.items() if d < 3]
                    par = rng.choice([ROOT_ID, *candidates])
                name = f"{rng.choice(_LOCATIONS)} {rng.choice(_DEPARTMENTS)}"
                while name in used_names:
                    name = f"{name} {rng.randrange(2, 99)}"
            used_names.add(name)
            created = _EPOCH + timedelta(
                days=290 + rng.randrange(0, 400), seconds=rng.randrange(86400)
            )
            bu = self._add_bu(bid, par, self._bu_raw(rng, bid, name, created))
            if rng.random() < 0.15:
                bu.timezone_id = rng.choice((1, 2, 5))
            depth[bid] = depth[par] + 1
            bid_prev = bid
        self._next_bu_id = next_id + 1

        # Users: the demo user at the root, a few more around the tree.
        self._add_user(rng, ROOT_ID, DEMO_USER_ID, "Demo User", self.username)
        for bid in [ROOT_ID, *list(depth)[1:], OTHER_ID]:
            for _ in range(rng.choice((0, 1, 1, 2))):
                name, login = USERS_TEMPLATE[rng.randrange(len(USERS_TEMPLATE))]
                uid = self._next_user_id
                self._next_user_id += 1
                self._add_user(rng, bid, uid, name, f"{login}{uid}")

        # Consumers: identities now, details on first use.
        tree_ids = list(depth)
        span = max(1, int((self.now - timedelta(days=30) - _EPOCH).total_seconds()))
        span = min(span, 600 * 86400)
        for i in range(n_consumers):
            cid = FIRST_CONSUMER_ID + i
            if i == 0:
                bu_id = ROOT_ID
                name = "JennysWS"
                created = datetime(2023, 7, 9, 15, 10, 20, 133000, UTC)
            else:
                bu_id = tree_ids[rng.randrange(len(tree_ids))]
                pattern = rng.randrange(5)
                if pattern == 0:
                    name = f"{rng.choice(_FIRST_NAMES)}sWS-{cid}"
                elif pattern == 1:
                    name = f"srv-{rng.choice(_ROLES)}-{cid}"
                elif pattern == 2:
                    name = f"ws-{cid:05d}"
                elif pattern == 3:
                    name = f"{rng.choice(_LOCATIONS)[:3].upper()}-FS{cid}"
                else:
                    name = f"vm-{rng.choice(_ROLES)}{cid}"
                created = _EPOCH + timedelta(
                    seconds=rng.randrange(span), milliseconds=rng.randrange(1000)
                )
            if i % 20 == 7:
                kind = NO_NODE
            elif i % 10 == 3:
                kind = NOT_ACTIVATED
            else:
                kind = ACTIVATED
            heavy = i % 15 == 1
            self._add_consumer(Consumer(self, cid, bu_id, name, kind, heavy, created))
        self._next_consumer_id = FIRST_CONSUMER_ID + n_consumers
        for j in range(3):
            created = _EPOCH + timedelta(days=100 + j)
            self._add_consumer(
                Consumer(self, 900_001 + j, OTHER_ID, f"ext-srv-{j + 1}", ACTIVATED, False, created)
            )

        # Two invoices already uploaded at the root.
        for k, month in enumerate(self._invoice_months()[:2]):
            self.invoice_files.setdefault(ROOT_ID, []).append(
                InvoiceFile(
                    self._next_file_id + k,
                    ROOT_ID,
                    datetime.combine(month, datetime.min.time(), UTC) + timedelta(days=3, hours=9),
                    f"invoice-{month:%Y-%m}.pdf",
                    "application/pdf",
                    b"%PDF-1.4\n% simulated invoice\n" + month.isoformat().encode() + b"\n%%EOF\n",
                    f"ERP-{month:%Y%m}-22",
                    True,
                )
            )
        self._next_file_id += 2

    def _add_consumer(self, c: Consumer) -> None:
        self.consumers[c.id] = c
        self.bunits[c.bu_id].consumer_ids[c.id] = None

    def details(self, c: Consumer) -> Consumer:
        """Generate a consumer's details (record, node, jobs, reports, audit log) if needed."""
        if not c.built:
            self._generate(c)
        return c

    def _generate(self, c: Consumer) -> None:
        rng = self._rng(c, 1)
        now = self.now
        created = self._created(c)
        raw: JSON = {
            "dataSourceType": dict(DATA_SOURCE_TYPE),
            "dataSourceIsPotentialParent": False,
            "dataSourceState": dict(
                STATE_ACTIVE
                if c.kind == ACTIVATED
                else STATE_INACTIVE
                if c.kind == NOT_ACTIVATED
                else STATE_NEW
            ),
        }
        if c.kind == ACTIVATED:
            restore = now - timedelta(hours=rng.randrange(1, 30), seconds=rng.randrange(3600))
            raw["latestRestorePoint"] = _t7(rng, restore)
        raw["name"] = c.name
        billing_start = datetime.combine(created.date(), datetime.min.time(), UTC)
        raw["billingStartDate"] = fmt_s(billing_start)
        if c.id == FIRST_CONSUMER_ID:
            raw["billingStartDate"] = "2023-06-09T00:00:00Z"
            raw["lastCommentTime"] = "2023-10-20T16:58:26.237Z"
            raw["lastCommentTypeId"] = 2
        elif rng.random() < 0.3:
            raw["lastCommentTime"] = fmt_ms(created + timedelta(days=rng.randrange(1, 200)))
            raw["lastCommentTypeId"] = rng.choice((1, 2, 3))
        raw["comments"] = []
        if c.id == FIRST_CONSUMER_ID:
            raw["note"] = "Jenny's workstation."
        elif rng.random() < 0.4:
            raw["note"] = rng.choice(
                ("Managed by IT.", "Decommission after Q4.", "Owner: facilities", "Critical")
            )
        if rng.random() < 0.2:
            raw["externalReference"] = f"CMDB-{rng.randrange(10000, 99999)}"
        raw["limitHighStorage"] = rng.choice((100.0, 100.0, 250.0, 500.0, 0.0))
        if c.id == FIRST_CONSUMER_ID:
            raw["limitHighStorage"] = 100.0
        raw["allowNoActivity"] = rng.random() < 0.1
        raw["tags"] = []
        raw["jobs"] = []
        raw["id"] = c.id
        raw["createdDate"] = fmt_ms(c.created)
        # Fields the reference does not document but the live API sends.
        if rng.random() < 0.5:
            raw["systemId"] = f"{rng.getrandbits(64):016x}"
        if rng.random() < 0.3:
            raw["operations"] = ["Read", "Update", "Delete"]
        c.raw = raw

        if c.kind != NO_NODE:
            c.node = self._generate_node(c, self._rng(c, 2), self._activated_at(c))
        c.built = True

    def _rng(self, c: Consumer, part: int) -> random.Random:
        return seeded_random((self.seed * 1_000_003 + c.id) * 8 + part)

    def _created(self, c: Consumer) -> datetime:
        return min(c.created, self.now - timedelta(days=20))

    def _activated_at(self, c: Consumer) -> datetime:
        rng = self._rng(c, 0)
        return self._created(c) + timedelta(
            hours=rng.randrange(2, 120), seconds=rng.randrange(3600)
        )

    def _lazy_jobs(self, c: Consumer) -> list[Job]:
        self.details(c)
        if c.generated_kind != ACTIVATED:
            return []
        return self._generate_jobs(c, self._rng(c, 4), self._activated_at(c))

    def _lazy_reports(self, c: Consumer) -> list[Report]:
        self.details(c)
        if c.generated_kind != ACTIVATED or c.node is None:
            return []
        return self._generate_reports(c, self._rng(c, 5))

    def _lazy_filespaces(self, c: Consumer) -> list[JSON]:
        self.details(c)
        if c.generated_kind != ACTIVATED or c.node is None:
            return []
        return self._generate_filespaces(c, self._rng(c, 3), self._activated_at(c))

    def _lazy_audit(self, c: Consumer) -> list[AuditEntry]:
        self.details(c)
        if c.generated_kind is None:
            return []
        return self._generate_audit(c, self._rng(c, 6), self._created(c))

    def _generate_node(self, c: Consumer, rng: random.Random, activated_at: datetime) -> JSON:
        lowered = c.name.lower()
        if "ws" in lowered:
            os_id, type_id = rng.choice((1, 1, 1, 3)), 1
        elif lowered.startswith("vm-"):
            os_id, type_id = rng.choice((1, 2)), 3
        else:
            os_id, type_id = rng.choice((1, 2, 2, 4, 5)), rng.choice((2, 2, 4, 5, 6))
        activated = c.kind == ACTIVATED
        node: JSON = {"cpuCount": rng.choice((1, 2, 4, 8))}
        if activated:
            node["activatedDate"] = _t7(rng, activated_at)
        node["locked"] = False
        node["operatingSystem"] = _catalog_partial("operatingSystem", os_id)
        node["type"] = _catalog_partial("type", type_id)
        node["syncState"] = {
            "name": "Synchronized" if activated else "Not synchronized",
            "id": 1 if activated else 0,
            "createdDate": _CATALOG_DATE,
        }
        node["domain"] = _catalog_partial("domain", 2 if type_id == 1 else 3)
        node["clientOptionSet"] = _catalog_partial("clientOptionSet", 2 if os_id == 1 else 3)
        for key in ("schedules", "nodeSchedules", "filespaces", "events", "unscheduledActivities"):
            node[key] = []
        node["ticket"] = ""
        node["retentionSets"] = []
        node["activityLogs"] = []
        node["nodeGroups"] = []
        if activated:
            node["tsmName"] = sanitize_tsm_name(c.name)
            node["tsmNodeId"] = str(rng.randrange(1000, 99999))
        node["tsmPassword"] = ""
        node["contact"] = rng.choice(("IT Operations", "helpdesk@example.com", ""))
        if activated:
            platform = {1: "WinNT", 2: "Linux x86-64", 3: "Mac", 4: "AIX", 5: "Linux zSeries"}
            node["platform"] = {"name": platform[os_id], "id": os_id, "createdDate": _CATALOG_DATE}
            node["tsmClientVersion"] = {
                "name": rng.choice(("8.1.21.0", "8.1.23.0", "8.1.17.2")),
                "id": rng.randrange(1, 9),
                "createdDate": _CATALOG_DATE,
            }
            node["osLevel"] = {
                "name": rng.choice(("10.0.19045", "5.14.0-427", "14.4.1", "7.3")),
                "id": rng.randrange(1, 40),
                "createdDate": _CATALOG_DATE,
            }
            node["tcpName"] = c.name.lower()
            octets = (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
            node["tcpAddress"] = "10.{}.{}.{}".format(*octets)
            if rng.random() < 0.5:
                node["macAddress"] = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        node["sessionSecurity"] = {"id": 1, "name": "Transitional"}
        if type_id == 3:
            node["hypervisor"] = "VMware ESXi 8.0"
        node["containsVmFilespaces"] = False
        if activated:
            node["lastAccessTime"] = _t7(rng, self.now - timedelta(hours=rng.randrange(1, 48)))
            node["registeredTime"] = _t7(rng, activated_at)
        node["decommissioned"] = False
        node["replicationState"] = False
        node["replicationMode"] = 0
        node["activityLogFilters"] = []
        node["remoteActivities"] = []
        node["name"] = c.name
        node["dataSourceState"] = dict(STATE_ACTIVE if activated else STATE_INACTIVE)
        node["dataSourceType"] = dict(DATA_SOURCE_TYPE)
        node["id"] = 100_000 + c.id
        node["createdDate"] = fmt_ms(c.created + timedelta(minutes=rng.randrange(1, 90)))
        if rng.random() < 0.3:
            node["archivedDate"] = None
        return node

    def _generate_filespaces(
        self, c: Consumer, rng: random.Random, activated_at: datetime
    ) -> list[JSON]:
        assert c.node is not None
        os_id = c.node["operatingSystem"]["id"]
        host = c.name.lower()
        if os_id == 1:
            names = [f"\\\\{host}\\c$", f"\\\\{host}\\d$", "SYSTEM STATE"]
            fs_type = "NTFS"
        elif os_id == 3:
            names = ["/", "/Users"]
            fs_type = "APFS"
        else:
            names = ["/", "/home", "/var", "/srv/data"]
            fs_type = "EXT4" if os_id != 4 else "JFS2"
        count = rng.randrange(1, len(names) + 1)
        out = []
        for j, name in enumerate(names[:count]):
            capacity = float(rng.randrange(20_000, 2_000_000))
            used = round(rng.uniform(5.0, 95.0), 1)
            end = self.now - timedelta(hours=rng.randrange(1, 30), minutes=rng.randrange(60))
            out.append(
                {
                    "tsmFilespaceId": str(j + 1),
                    "type": fs_type if name != "SYSTEM STATE" else "VSS",
                    "capacityMegaBytes": capacity,
                    "frontEndCapacityMegaBytes": int(capacity * used / 100),
                    "percentageUtilized": used,
                    "lastBackupStart": fmt_ticks(end - timedelta(minutes=rng.randrange(5, 200)), 1),
                    "lastBackupEnd": fmt_ticks(end, 2),
                    "occupancies": [],
                    "dedupStats": [],
                    "activities": [],
                    "events": [],
                    "retentionSets": [],
                    "name": name,
                    "dataSourceState": dict(STATE_ACTIVE),
                    "id": c.id * 10 + j,
                    "createdDate": fmt_ms(activated_at + timedelta(hours=1, minutes=j)),
                }
            )
        return out

    def _job(
        self,
        c: Consumer,
        rng: random.Random,
        jid: int,
        completed: datetime,
        *,
        job_type: tuple[int, str],
        job_name: str,
        first: bool,
    ) -> Job:
        roll = rng.random()
        if first:
            status, result, severity = (1, "Completed"), 0, 0
        elif roll < 0.08:
            status, result, severity = (3, "Failed"), 12, 2
        elif roll < 0.11:
            status, result, severity = (4, "Missed"), -1, 2
        elif roll < 0.2:
            status, result, severity = (2, "Completed with warnings"), 4, 1
        else:
            status, result, severity = (1, "Completed"), 0, 0
        missed = status[1] == "Missed"
        seconds = 0 if missed else rng.randrange(40, 5400)
        if first:
            seconds = rng.randrange(90_000, 200_000)  # initial full backup: over a day
        megabytes = 0.0 if missed else round(rng.uniform(10, 60_000 if first else 8_000), 2)
        started = completed - timedelta(seconds=seconds)
        scheduled = started.replace(minute=0, second=0, microsecond=0)
        raw: JSON = {
            "consumerId": c.id,
            "dataSourceId": 100_000 + c.id,
            "serverId": BACKUP_SERVER[0],
            "tags": [],
            "type": {"id": job_type[0], "name": job_type[1]},
            "status": {"id": status[0], "name": status[1]},
            "severity": severity,
            "dataSourceType": dict(DATA_SOURCE_TYPE),
            "dataSourceState": dict(STATE_ACTIVE),
            "scheduled": job_type[1] == "Backup",
            "scheduledStart": fmt_s(scheduled),
        }
        if not missed:
            raw["actualStart"] = _t7(rng, started)
        raw["completed"] = fmt_ms(completed)
        files = 0 if missed else rng.randrange(100, 500_000)
        raw["examinedFiles"] = files
        raw["affectedFiles"] = 0 if missed else rng.randrange(0, max(1, files // 10))
        raw["failedFiles"] = rng.randrange(1, 40) if result in (4, 12) else 0
        raw["result"] = result
        raw["transferredMegaBytes"] = megabytes
        raw["transferredGigaBytes"] = round(megabytes / 1024, 3)
        raw["serverType"] = dict(SERVER_TYPE)
        raw["jobName"] = {"name": job_name, "id": 1 if first else 2, "createdDate": _CATALOG_DATE}
        raw["name"] = job_name
        raw["duration"] = fmt_timespan(seconds)
        raw["transferredMegaBytesPerSecond"] = round(megabytes / seconds, 3) if seconds else 0.0
        raw["id"] = jid
        raw["createdDate"] = fmt_ms(completed + timedelta(seconds=rng.randrange(5, 300)))
        return Job(jid, completed, raw)

    def _generate_jobs(self, c: Consumer, rng: random.Random, activated_at: datetime) -> list[Job]:
        first_done = (
            activated_at + timedelta(hours=rng.randrange(2, 10), seconds=rng.randrange(3600))
        ).replace(microsecond=rng.randrange(1000) * 1000)
        jobs = [
            self._job(
                c,
                rng,
                c.id * 1000,
                first_done,
                job_type=(1, "Backup"),
                job_name="INITIAL_FULL",
                first=True,
            )
        ]
        base = self.now
        for k in range(14, -1, -1):
            completed = base - timedelta(
                days=k,
                hours=rng.randrange(1, 20),
                seconds=rng.randrange(3600),
                milliseconds=rng.randrange(1000),
            )
            jobs.append(
                self._job(
                    c,
                    rng,
                    c.id * 1000 + 15 - k,
                    completed,
                    job_type=(1, "Backup"),
                    job_name="DAILY_INCR",
                    first=False,
                )
            )
        if rng.random() < 0.3:
            completed = base - timedelta(days=rng.randrange(1, 10), hours=3)
            jobs.append(
                self._job(
                    c,
                    rng,
                    c.id * 1000 + 50,
                    completed,
                    job_type=(2, "Restore"),
                    job_name="RESTORE",
                    first=False,
                )
            )
        jobs.sort(key=lambda j: j.completed)
        return jobs

    def _generate_reports(self, c: Consumer, rng: random.Random) -> list[Report]:
        assert c.node is not None
        today = datetime.combine(self.now.date(), datetime.min.time(), UTC)
        size = rng.uniform(2_000, 900_000)
        growth = rng.uniform(0.0, 0.01)
        reports = []
        for k in range(29, -1, -1):
            rid = c.id * 100 + (29 - k)
            day = today - timedelta(days=k)
            mb = round(size * (1 + growth * (29 - k)), 1)
            prev = round(size * (1 + growth * (28 - k)), 1)
            archive = round(mb * 0.05, 1)
            raw: JSON = {
                "name": c.name,
                "statusReportId": rid // 100,
                "pending": False,
                "dataSourceType": dict(DATA_SOURCE_TYPE),
                "nodeReportTypeId": 1,
                "dataSource": c.node.get("tsmName", ""),
                "dataSourceState": dict(STATE_ACTIVE),
                "deviceName": c.name.lower(),
                "tsmName": c.node.get("tsmName", ""),
                "tsmServerName": BACKUP_SERVER[1],
                "proxyNodeReports": [],
                "errorsDeactivated": False,
                "errorsDeactivatedNoActivity": False,
                # A few reports carry megaBytes as a numeric string, as seen live.
                "megaBytes": str(mb) if rid % 7 == 3 else mb,
                "backupMegaBytes": round(mb - archive, 1),
                "archiveMegaBytes": archive,
                "megaBytesDelta": round(mb - prev, 1),
                "megaBytesDeltaPercentage": round((mb - prev) / prev * 100, 3) if prev else 0.0,
                "backupMegaBytesDeltaPercentage": round(growth * 100, 3),
                "archiveMegaBytesDeltaPercentage": 0.0,
                "backupMegaBytesDelta": round((mb - prev) * 0.95, 1),
                "archiveMegaBytesDelta": round((mb - prev) * 0.05, 1),
                "megaBytesForCurrentBusinessUnit": mb,
                "backupMegaBytesForCurrentBusinessUnit": round(mb - archive, 1),
                "archiveMegaBytesForCurrentBusinessUnit": archive,
                "comments": [],
                "transferredMegaBytes": round(rng.uniform(0, 5_000), 1),
                "transferredBackupMegaBytes": round(rng.uniform(0, 5_000), 1),
                "transferredRestoreMegaBytes": round(rng.uniform(0, 100), 1) if k % 9 == 0 else 0.0,
                "percentOfTotalStorageOfBusinessUnit": round(rng.uniform(0.1, 40.0), 2),
                "consumerId": c.id,
                "nodeId": c.node["id"],
                "reportDate": fmt_s(day),
                "id": rid,
                "createdDate": _t7(rng, day + timedelta(hours=2, minutes=rng.randrange(60))),
            }
            roll = rng.random()
            status = 0 if roll < 0.8 else 1 if roll < 0.92 else 2
            warnings: list[JSON] = []
            if status:
                wtype = 1 if status == 2 else rng.choice((2, 3, 5))
                wid, wname, uses_limit = NODE_WARNING_TYPES[wtype - 1]
                warning_type: JSON = {
                    "usesLimit": uses_limit,
                    "id": wid,
                    "createdDate": _CATALOG_DATE,
                }
                if wname is not None:
                    warning_type = {"name": wname, **warning_type}
                warnings.append(
                    {
                        "type": warning_type,
                        "status": status,
                        "days": rng.randrange(1, 8),
                        "limit": float(rng.choice((3, 7, 100))) if uses_limit else 0.0,
                        "nodeReportId": rid,
                        "id": rid * 10,
                        "createdDate": raw["createdDate"],
                    }
                )
            reports.append(Report(rid, day, raw, status, warnings))
        return reports

    def _generate_audit(
        self, c: Consumer, rng: random.Random, created: datetime
    ) -> list[AuditEntry]:
        count = rng.randrange(120, 161) if c.heavy_audit else rng.randrange(5, 31)
        start = created.timestamp()
        span = max(1.0, self.now.timestamp() - 3600 - start)
        stamps = sorted(start + rng.random() * span for _ in range(count - 1))
        entries = [
            self._audit_entry(
                c,
                c.id * 1000,
                created,
                100,
                f"Consumption unit '{c.name}' was created.",
                False,
                rng,
            )
        ]
        for k, ts in enumerate(stamps, start=1):
            when = datetime.fromtimestamp(ts, UTC).replace(microsecond=rng.randrange(1000) * 1000)
            roll = rng.random()
            if roll < 0.4:
                typ, msg = (
                    0,
                    rng.choice(
                        ("Status report generated.", "Node synchronized.", "Schedule executed.")
                    ),
                )
            elif roll < 0.8:
                typ, msg = (
                    200,
                    rng.choice(
                        (
                            "Note was changed.",
                            "Tags were changed.",
                            "Storage limit was changed.",
                            "Client option set was changed.",
                        )
                    ),
                )
            elif roll < 0.85:
                typ, msg = 300, "Filespace was deleted."
            elif roll < 0.9:
                typ, msg = 100, "Filespace was created."
            else:
                typ, msg = (
                    400,
                    rng.choice(
                        (
                            "ANS1228E Sending of object failed.",
                            "ANS1017E Session rejected: TCP/IP connection failure.",
                        )
                    ),
                )
            descendant = "ilespace" in msg or "ynchronized" in msg or "ANS" in msg
            entries.append(self._audit_entry(c, c.id * 1000 + k, when, typ, msg, descendant, rng))
        return entries

    def _audit_entry(
        self,
        c: Consumer,
        eid: int,
        when: datetime,
        typ: int,
        message: str,
        descendant: bool,
        rng: random.Random | None = None,
    ) -> AuditEntry:
        system = rng is not None and typ in (0, 400)
        user_name = "system" if system else self.username
        user_id = 1 if system else DEMO_USER_ID
        return AuditEntry(eid, when, typ, message, user_name, user_id, descendant, fmt_ms(when))

    def log(self, c: Consumer, typ: int, message: str) -> None:
        """Append an audit log entry for an API action."""
        self.details(c)
        eid = (c.audit[-1].id + 1) if c.audit else c.id * 1000
        self.audit_append(c, self._audit_entry(c, eid, self.current_time(), typ, message, False))

    @staticmethod
    def audit_append(c: Consumer, entry: AuditEntry) -> None:
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

    # -- business units -------------------------------------------------------------------

    def create_bunit(self, parent: BusinessUnit, body: Mapping[str, Any]) -> BusinessUnit:
        """POST bunits/{id}/bunits."""
        name = ci_get(body, "name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "The Name field is required.", code="ValidationError")
        tz = self._timezone_from(body, default=self.bunits[parent.id].timezone_id)
        bid = self._next_bu_id
        self._next_bu_id += 1
        rng = seeded_random(self.seed * 31 + bid)
        raw = self._bu_raw(rng, bid, name, self.current_time())
        raw.pop("note", None)
        raw["registrationNumber"] = ""
        ci_merge(
            raw,
            body,
            frozenset(
                {
                    "href",
                    "id",
                    "timezone",
                    "parentbusinessunit",
                    "users",
                    "addresses",
                    "businessunits",
                    "ancestors",
                }
            ),
        )
        raw["id"] = bid
        return self._add_bu(bid, parent.id, raw, tz)

    def _timezone_from(self, body: Mapping[str, Any], default: int) -> int:
        tz = ci_get(body, "timeZone")
        if tz is None:
            return default
        tz_id = ci_get(tz, "id") if isinstance(tz, Mapping) else None
        if not isinstance(tz_id, int) or tz_id not in TIME_ZONES:
            raise ApiError(400, "Unknown time zone.", code="ValidationError")
        return tz_id

    def update_bunit(self, bu: BusinessUnit, body: Mapping[str, Any]) -> BusinessUnit:
        """PUT bunits/{id}: store every field received."""
        if "name" in {k.lower() for k in body}:
            name = ci_get(body, "name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, "The Name field is required.", code="ValidationError")
        bu.timezone_id = self._timezone_from(body, default=bu.timezone_id)
        ci_merge(
            bu.raw,
            body,
            frozenset(
                {
                    "href",
                    "id",
                    "timezone",
                    "parentbusinessunit",
                    "users",
                    "addresses",
                    "businessunits",
                    "ancestors",
                }
            ),
        )
        return bu

    def delete_bunit(self, bu: BusinessUnit) -> None:
        """DELETE bunits/{id}: only empty business units can go."""
        if bu.children or bu.consumer_ids:
            raise ApiError(
                400, "The business unit has child business units or consumers.", code="Conflict"
            )
        if bu.parent_id is not None:
            self.bunits[bu.parent_id].children.remove(bu.id)
        for uid in bu.user_ids:
            self.users.pop(uid, None)
        self.invoice_files.pop(bu.id, None)
        del self.bunits[bu.id]

    # -- consumers ------------------------------------------------------------------------

    def create_consumer(self, bu: BusinessUnit, body: Mapping[str, Any], root_id: int) -> Consumer:
        """POST bunits/{id}/consumers (a name already used on another business unit moves
        that consumer here, as the live portal does)."""
        name = ci_get(body, "name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(
                400,
                "The Name field is required.",
                code="ValidationError",
                developer="Consumer.Name must be a non-empty string.",
            )
        if self.move_on_duplicate_name:
            for other in self.consumers.values():
                if (
                    other.name == name
                    and other.bu_id != bu.id
                    and self.is_within(other.bu_id, root_id)
                ):
                    self.details(other)
                    del self.bunits[other.bu_id].consumer_ids[other.id]
                    other.bu_id = bu.id
                    bu.consumer_ids[other.id] = None
                    self.log(other, 200, f"Consumption unit moved to '{bu.name}'.")
                    return other
        cid = self._next_consumer_id
        self._next_consumer_id += 1
        now = self.current_time()
        c = Consumer(self, cid, bu.id, name, NO_NODE, False, now, generated=False)
        c.raw = {
            "dataSourceType": dict(DATA_SOURCE_TYPE),
            "dataSourceIsPotentialParent": False,
            "dataSourceState": dict(STATE_NEW),
            "name": name,
            "billingStartDate": fmt_s(datetime.combine(now.date(), datetime.min.time(), UTC)),
            "comments": [],
            "limitHighStorage": 0.0,
            "allowNoActivity": False,
            "tags": [],
            "jobs": [],
            "id": cid,
            "createdDate": fmt_ms(now),
        }
        ci_merge(c.raw, body, frozenset({"href", "id", "businessunit", "node", "createddate"}))
        c.raw["name"] = name
        c.built = True
        c._jobs, c._reports, c._filespaces = [], [], []
        c._audit = [
            self._audit_entry(
                c, cid * 1000, now, 100, f"Consumption unit '{name}' was created.", False
            )
        ]
        self._add_consumer(c)
        return c

    def update_consumer(self, c: Consumer, body: Mapping[str, Any]) -> Consumer:
        """PUT .../consumers/{id}: store every field received (unknown ones too)."""
        self.details(c)
        if "name" in {k.lower() for k in body}:
            name = ci_get(body, "name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, "The Name field is required.", code="ValidationError")
            c.name = name
        ci_merge(c.raw, body, frozenset({"href", "id", "businessunit", "node"}))
        c.raw["name"] = c.name
        self.log(c, 200, "Consumption unit was modified.")
        return c

    def delete_consumer(self, c: Consumer) -> None:
        """DELETE .../consumers/{id} (also what deleting the node does)."""
        del self.bunits[c.bu_id].consumer_ids[c.id]
        del self.consumers[c.id]
        self.deleted_consumers[c.id] = c
        self.proxies = {p for p in self.proxies if c.id not in p}
        if self._tsm_names is not None and c.node is not None:
            self._tsm_names.pop(str(c.node.get("tsmName", "")).upper(), None)

    # -- nodes ----------------------------------------------------------------------------

    def _resolve_related(self, body: Mapping[str, Any], key: str, required: bool) -> JSON | None:
        value = ci_get(body, key)
        if value is None:
            if required:
                raise ApiError(400, f"The {key} field is required.", code="ValidationError")
            return None
        ident = ci_get(value, "id") if isinstance(value, Mapping) else None
        if not isinstance(ident, int) or isinstance(ident, bool):
            raise ApiError(400, f"{key} must reference an object by id.", code="ValidationError")
        try:
            return _catalog_partial(key, ident)
        except KeyError:
            raise ApiError(400, f"Unknown {key} id {ident}.", code="ValidationError") from None

    def create_node(self, c: Consumer, body: Mapping[str, Any]) -> JSON:
        """POST .../node: related objects are referenced by ``{"id": n}`` alone."""
        self.details(c)
        if c.node is not None:
            raise ApiError(400, "The consumption unit already has a backup node.", code="Conflict")
        os_part = self._resolve_related(body, "operatingSystem", True)
        type_part = self._resolve_related(body, "type", True)
        domain = self._resolve_related(body, "domain", False) or _catalog_partial("domain", 1)
        cos = self._resolve_related(body, "clientOptionSet", False) or _catalog_partial(
            "clientOptionSet", 1
        )
        self._resolve_related(body, "server", False)
        cpu = ci_get(body, "cpuCount")
        if cpu is not None and (not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0):
            raise ApiError(400, "cpuCount must be a non-negative integer.", code="ValidationError")
        now = self.current_time()
        node_id = self._next_node_id
        self._next_node_id += 1
        node: JSON = {
            "cpuCount": cpu if cpu is not None else 1,
            "locked": False,
            "operatingSystem": os_part,
            "type": type_part,
            "syncState": {"name": "Not synchronized", "id": 0, "createdDate": _CATALOG_DATE},
            "domain": domain,
            "clientOptionSet": cos,
            "schedules": [],
            "nodeSchedules": [],
            "filespaces": [],
            "events": [],
            "unscheduledActivities": [],
            "ticket": "",
            "retentionSets": [],
            "activityLogs": [],
            "nodeGroups": [],
            "tsmPassword": "",
            "contact": ci_get(body, "contact") or "",
            "sessionSecurity": {"id": 1, "name": "Transitional"},
            "containsVmFilespaces": False,
            "decommissioned": False,
            "replicationState": False,
            "replicationMode": 0,
            "activityLogFilters": [],
            "remoteActivities": [],
            "name": c.name,
            "dataSourceState": dict(STATE_INACTIVE),
            "dataSourceType": dict(DATA_SOURCE_TYPE),
            "id": node_id,
            "createdDate": fmt_ms(now),
        }
        ci_merge(
            node,
            {
                k: v
                for k, v in body.items()
                if k.lower()
                not in {
                    "operatingsystem",
                    "type",
                    "domain",
                    "clientoptionset",
                    "server",
                    "cpucount",
                    "contact",
                }
            },
            frozenset({"href", "id", "consumer", "activateddate", "tsmname"}),
        )
        c.node = node
        c.kind = NOT_ACTIVATED
        c.raw["dataSourceState"] = dict(STATE_INACTIVE)
        self.log(c, 100, "Backup node was created.")
        return node

    def update_node(self, c: Consumer, body: Mapping[str, Any]) -> JSON:
        """PUT .../node: related objects by id; every other field is stored."""
        node = self.require_node(c)
        related = {
            "operatingsystem": "operatingSystem",
            "type": "type",
            "domain": "domain",
            "clientoptionset": "clientOptionSet",
        }
        rest: JSON = {}
        for k, v in body.items():
            if k.lower() in related:
                node[related[k.lower()]] = self._resolve_related({k: v}, related[k.lower()], True)
            else:
                rest[k] = v
        ci_merge(node, rest, frozenset({"href", "id", "consumer", "proxyagents", "proxytargets"}))
        self.log(c, 200, "Backup node was modified.")
        return node

    def require_node(self, c: Consumer) -> JSON:
        """The consumer's node or a 404."""
        self.details(c)
        if c.node is None:
            raise ApiError(404, "The consumption unit has no backup node.")
        return c.node

    def set_node_password(self, c: Consumer, body: Mapping[str, Any]) -> JSON:
        """POST .../node/password with ``{"tsmPassword": ...}``."""
        node = self.require_node(c)
        password = ci_get(body, "tsmPassword")
        if not isinstance(password, str) or not password:
            raise ApiError(400, "tsmPassword is required.", code="ValidationError")
        if len(password) < 8 or len(password) > 64:
            raise ApiError(
                400, "The password must be 8 to 64 characters long.", code="ValidationError"
            )
        node["tsmPassword"] = password
        self.log(c, 200, "Backup node password was changed.")
        return node

    def _tsm_index(self) -> dict[str, int]:
        if self._tsm_names is None:
            index: dict[str, int] = {}
            for other in self.consumers.values():
                if other.kind == ACTIVATED:
                    index.setdefault(sanitize_tsm_name(other.name), other.id)
            self._tsm_names = index
        return self._tsm_names

    def activate_node(self, c: Consumer, tsm_name: str | None) -> str:
        """GET .../node/activate?tsmName=: validates the name, activates, answers the name."""
        node = self.require_node(c)
        if tsm_name is None or not valid_tsm_name(tsm_name):
            raise ApiError(
                400,
                "Invalid node name. Use 1-64 characters: letters, digits and _ - . + &",
                code="ValidationError",
                developer=f"tsmName {tsm_name!r} does not follow IBM Storage Protect naming rules.",
            )
        upper = tsm_name.upper()
        if "activatedDate" in node:
            if str(node.get("tsmName", "")).upper() == upper:
                return str(node["tsmName"])
            raise ApiError(400, "The backup node is already activated.", code="Conflict")
        index = self._tsm_index()
        owner = index.get(upper)
        if owner is not None and owner != c.id:
            raise ApiError(
                400, f"A node named {upper} already exists on the server.", code="Conflict"
            )
        index[upper] = c.id
        now = self.current_time()
        node["tsmName"] = upper
        node["activatedDate"] = fmt_ticks(now, 0)
        node["tsmNodeId"] = str(node["id"] % 100_000)
        node["dataSourceState"] = dict(STATE_ACTIVE)
        node["syncState"] = {"name": "Synchronized", "id": 1, "createdDate": _CATALOG_DATE}
        c.raw["dataSourceState"] = dict(STATE_ACTIVE)
        c.kind = ACTIVATED
        self.log(c, 200, f"Backup node was activated as {upper}.")
        return upper

    def suggest_name(self, c: Consumer) -> str:
        """GET .../node/spname."""
        node = self.require_node(c)
        if node.get("tsmName"):
            return str(node["tsmName"])
        return sanitize_tsm_name(c.name)

    def add_proxy(self, agent: Consumer, target: Consumer) -> None:
        """Make ``agent``'s node a proxy agent for ``target``'s node."""
        self.require_node(agent)
        self.require_node(target)
        if agent.id == target.id:
            raise ApiError(400, "A node cannot be its own proxy.", code="ValidationError")
        self.proxies.add((agent.id, target.id))

    def remove_proxy(self, agent_id: int, target_id: int) -> None:
        """Sever a proxy relationship (404 if there is none)."""
        if (agent_id, target_id) not in self.proxies:
            raise ApiError(404, "No such proxy relationship.")
        self.proxies.discard((agent_id, target_id))

    # -- billing --------------------------------------------------------------------------

    def _invoice_months(self) -> list[date]:
        """Invoice dates: the first of each of the last six months, newest first."""
        first = self.now.date().replace(day=1)
        out = []
        for _ in range(6):
            first = (first - timedelta(days=1)).replace(day=1)
            out.append(first)
        return out

    def future_months(self, count: int) -> list[date]:
        """The next ``count`` invoice dates, starting with the current month."""
        current = self.now.date().replace(day=1)
        out = []
        for _ in range(count):
            out.append(current)
            current = (current + timedelta(days=32)).replace(day=1)
        return out

    def invoice_dates(self) -> list[date]:
        """Past invoice dates, newest first."""
        return self._invoice_months()

    def invoice_lines(self, bu_id: int, month: date, *, forecast: bool = False) -> list[JSON]:
        """Invoice lines for one business unit and month (subtree consumption)."""
        rng = seeded_random(self.seed * 7919 + bu_id * 131 + month.toordinal())
        nodes = sum(len(self.bunits[b].consumer_ids) for b in self.descendants(bu_id))
        if not nodes:
            return []
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        lines = []
        for k, (pid, pname, price) in enumerate(_PRODUCTS):
            quantity = float(nodes) if pid == 12 else round(nodes * rng.uniform(40, 400), 1)
            if forecast:
                quantity = round(quantity * 1.02, 1)
            if pid == 13 and rng.random() < 0.5:
                continue
            lines.append(
                {
                    "subscription": {"id": 300 + bu_id % 50, "name": "Backup as a Service"},
                    "product": {
                        "name": pname,
                        "inherited": False,
                        "inheritable": True,
                        "replicationType": 0,
                        "id": pid,
                        "createdDate": _CATALOG_DATE,
                    },
                    "startDate": fmt_s(datetime.combine(month, datetime.min.time(), UTC)),
                    "endDate": fmt_s(datetime.combine(end, datetime.min.time(), UTC)),
                    "unitPrice": price,
                    "quantity": quantity,
                    "note": "",
                    "id": bu_id * 10_000 + month.year % 100 * 100 + month.month * 3 + k,
                    "createdDate": fmt_ms(
                        datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=1, hours=2)
                    ),
                }
            )
        return lines

    def add_invoice_file(
        self,
        bu: BusinessUnit,
        file_name: str,
        content_type: str,
        data: bytes,
        erp_reference: str | None,
        send_to_billing_address: bool,
    ) -> InvoiceFile:
        """POST bunits/{id}/invoicefiles."""
        fid = self._next_file_id
        self._next_file_id += 1
        record = InvoiceFile(
            fid,
            bu.id,
            self.current_time(),
            file_name,
            content_type,
            data,
            erp_reference,
            send_to_billing_address,
        )
        self.invoice_files.setdefault(bu.id, []).append(record)
        return record

    def __repr__(self) -> str:
        return (
            f"World(seed={self.seed}, bunits={len(self.bunits)}, "
            f"consumers={len(self.consumers)}, now={self.now.isoformat()})"
        )
