"""Seeded generation: the world's tree at start, each consumer's details on first use.

Generation is deterministic for a ``seed`` and a ``now``.  The tree and the consumers'
identities are built eagerly (cheap even for 50,000 consumers); each consumer's details
(its full record, node, filespaces, and through ``_history`` its jobs, reports and audit
log) are generated on first use from a per-consumer RNG, so access order never changes
the data.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._formats import UTC, fmt_ms, fmt_s, fmt_ticks, seeded_random
from . import _history as history
from ._catalog import (
    ACTIVATED,
    CATALOG_DATE,
    DATA_SOURCE_TYPE,
    DEMO_USER_ID,
    FIRST_CONSUMER_ID,
    NO_NODE,
    NOT_ACTIVATED,
    OTHER_ID,
    PARENT_ID,
    ROOT_ID,
    STATE_ACTIVE,
    STATE_INACTIVE,
    STATE_NEW,
    catalog_partial,
    sanitize_tsm_name,
)
from ._entities import AuditEntry, Consumer, InvoiceFile, Job, Report, User
from ._history import seven_digits

if TYPE_CHECKING:
    from ._world import World

__all__ = ["Generator", "populate"]

JSON = dict[str, Any]

_EPOCH = datetime(2022, 9, 1, tzinfo=UTC)

_USERS_TEMPLATE = [
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


def _client_fields(c: Consumer, rng: random.Random, os_id: int) -> JSON:
    """What an activated node's backup client has reported (platform, versions, address)."""
    platform = {1: "WinNT", 2: "Linux x86-64", 3: "Mac", 4: "AIX", 5: "Linux zSeries"}
    out: JSON = {"platform": {"name": platform[os_id], "id": os_id, "createdDate": CATALOG_DATE}}
    out["tsmClientVersion"] = {
        "name": rng.choice(("8.1.21.0", "8.1.23.0", "8.1.17.2")),
        "id": rng.randrange(1, 9),
        "createdDate": CATALOG_DATE,
    }
    out["osLevel"] = {
        "name": rng.choice(("10.0.19045", "5.14.0-427", "14.4.1", "7.3")),
        "id": rng.randrange(1, 40),
        "createdDate": CATALOG_DATE,
    }
    out["tcpName"] = c.name.lower()
    octets = (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    out["tcpAddress"] = "10.{}.{}.{}".format(*octets)
    if rng.random() < 0.5:
        out["macAddress"] = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
    return out


class Generator:
    """Every generated record, from the world's ``seed``, ``now`` and demo ``username``."""

    def __init__(self, seed: int, now: datetime, username: str) -> None:
        self.seed = seed
        self.now = now
        self.username = username

    def bu_record(self, rng: random.Random, bid: int, name: str, created: datetime) -> JSON:
        """A business unit's stored fields."""
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

    def user_record(self, rng: random.Random, bu_id: int, uid: int, name: str, login: str) -> JSON:
        """A user's stored fields."""
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
                "createdDate": CATALOG_DATE,
            },
            "lastLoginDate": fmt_ticks(self.now - timedelta(hours=rng.randrange(1, 400)), 3),
            "lastPasswordChange": fmt_s(created),
            "businessUnitId": bu_id,
            "language": {
                "name": "English",
                "iso639Code": "en",
                "id": 1,
                "createdDate": CATALOG_DATE,
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
        return raw

    def fill_details(self, c: Consumer) -> None:
        """Generate a consumer's full record and node (its other parts come on their own)."""
        c.raw = self._consumer_record(c)
        if c.kind != NO_NODE:
            c.node = self._node(c, self.rng(c, 2), self.activated_at(c))
        c.built = True

    def _consumer_record(self, c: Consumer) -> JSON:
        rng = self.rng(c, 1)
        now = self.now
        created = self.created(c)
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
            raw["latestRestorePoint"] = seven_digits(rng, restore)
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
        return raw

    def rng(self, c: Consumer, part: int) -> random.Random:
        """The RNG of one part of one consumer (so access order never changes the data)."""
        return seeded_random((self.seed * 1_000_003 + c.id) * 8 + part)

    def created(self, c: Consumer) -> datetime:
        """When the consumer's generated history starts."""
        return min(c.created, self.now - timedelta(days=20))

    def activated_at(self, c: Consumer) -> datetime:
        """When the consumer's node was activated."""
        rng = self.rng(c, 0)
        return self.created(c) + timedelta(hours=rng.randrange(2, 120), seconds=rng.randrange(3600))

    def _node(self, c: Consumer, rng: random.Random, activated_at: datetime) -> JSON:
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
            node["activatedDate"] = seven_digits(rng, activated_at)
        node["locked"] = False
        node["operatingSystem"] = catalog_partial("operatingSystem", os_id)
        node["type"] = catalog_partial("type", type_id)
        node["syncState"] = {
            "name": "Synchronized" if activated else "Not synchronized",
            "id": 1 if activated else 0,
            "createdDate": CATALOG_DATE,
        }
        node["domain"] = catalog_partial("domain", 2 if type_id == 1 else 3)
        node["clientOptionSet"] = catalog_partial("clientOptionSet", 2 if os_id == 1 else 3)
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
            node.update(_client_fields(c, rng, os_id))
        node["sessionSecurity"] = {"id": 1, "name": "Transitional"}
        if type_id == 3:
            node["hypervisor"] = "VMware ESXi 8.0"
        node["containsVmFilespaces"] = False
        if activated:
            node["lastAccessTime"] = seven_digits(
                rng, self.now - timedelta(hours=rng.randrange(1, 48))
            )
            node["registeredTime"] = seven_digits(rng, activated_at)
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

    def filespaces(self, c: Consumer) -> list[JSON]:
        """The node's filespaces (none unless generated with an activated node)."""
        if c.generated_kind != ACTIVATED or c.node is None:
            return []
        rng, activated_at = self.rng(c, 3), self.activated_at(c)
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

    def jobs(self, c: Consumer) -> list[Job]:
        """Jobs, oldest first (none unless generated with an activated node)."""
        if c.generated_kind != ACTIVATED:
            return []
        return history.jobs(c, self.rng(c, 4), self.activated_at(c), self.now)

    def reports(self, c: Consumer) -> list[Report]:
        """Daily node reports, oldest first (none unless generated with an activated node)."""
        if c.generated_kind != ACTIVATED or c.node is None:
            return []
        return history.reports(c, self.rng(c, 5), self.now)

    def audit(self, c: Consumer) -> list[AuditEntry]:
        """The audit log, oldest first (none for a consumer created through the API)."""
        if c.generated_kind is None:
            return []
        return history.audit(c, self.rng(c, 6), self.created(c), self.now, self.username)


# -- the world at start ------------------------------------------------------------------


def populate(world: World, n_consumers: int) -> None:
    """Build the tree, its users, the consumers' identities and two uploaded invoices."""
    gen = world.generator
    rng = seeded_random(gen.seed)
    tree_ids = _tree(world, gen, rng, n_consumers)
    _users(world, gen, rng, tree_ids)
    _consumers(world, rng, tree_ids, n_consumers)
    _invoice_files(world)


def _tree(world: World, gen: Generator, rng: random.Random, n_consumers: int) -> list[int]:
    """The fixed top (parent, root, another company) and a seeded tree under the root."""
    parent = world._add_bu(
        PARENT_ID,
        None,
        gen.bu_record(
            rng, PARENT_ID, "Safespring - Sverige", datetime(2022, 8, 22, 15, 1, 45, 27000, UTC)
        ),
    )
    parent.raw["billingStorageTypeId"] = parent.raw["billingStorageType"] = 1
    root_raw = gen.bu_record(
        rng, ROOT_ID, "Company AB", datetime(2023, 6, 10, 11, 10, 11, 321000, UTC)
    )
    root_raw["registrationNumber"] = "SE556612345678"
    root_raw.pop("note", None)
    world._add_bu(ROOT_ID, PARENT_ID, root_raw)
    other = gen.bu_record(rng, OTHER_ID, "Other Company AB", _EPOCH + timedelta(days=40))
    world._add_bu(OTHER_ID, PARENT_ID, other)

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
        created = _EPOCH + timedelta(days=290 + rng.randrange(0, 400), seconds=rng.randrange(86400))
        bu = world._add_bu(bid, par, gen.bu_record(rng, bid, name, created))
        if rng.random() < 0.15:
            bu.timezone_id = rng.choice((1, 2, 5))
        depth[bid] = depth[par] + 1
        bid_prev = bid
    world._next_bu_id = next_id + 1
    return list(depth)


def _users(world: World, gen: Generator, rng: random.Random, tree_ids: list[int]) -> None:
    """The demo user at the root, a few more around the tree."""
    world._add_user(
        User(
            DEMO_USER_ID,
            ROOT_ID,
            gen.user_record(rng, ROOT_ID, DEMO_USER_ID, "Demo User", gen.username),
        )
    )
    for bid in [*tree_ids, OTHER_ID]:
        for _ in range(rng.choice((0, 1, 1, 2))):
            name, login = _USERS_TEMPLATE[rng.randrange(len(_USERS_TEMPLATE))]
            uid = world._next_user_id
            world._next_user_id += 1
            world._add_user(User(uid, bid, gen.user_record(rng, bid, uid, name, f"{login}{uid}")))


def _consumer_name(rng: random.Random, cid: int) -> str:
    pattern = rng.randrange(5)
    if pattern == 0:
        return f"{rng.choice(_FIRST_NAMES)}sWS-{cid}"
    if pattern == 1:
        return f"srv-{rng.choice(_ROLES)}-{cid}"
    if pattern == 2:
        return f"ws-{cid:05d}"
    if pattern == 3:
        return f"{rng.choice(_LOCATIONS)[:3].upper()}-FS{cid}"
    return f"vm-{rng.choice(_ROLES)}{cid}"


def _consumers(world: World, rng: random.Random, tree_ids: list[int], n_consumers: int) -> None:
    """Consumers: identities now, details on first use; three more at the other company."""
    span = max(1, int((world.now - timedelta(days=30) - _EPOCH).total_seconds()))
    span = min(span, 600 * 86400)
    for i in range(n_consumers):
        cid = FIRST_CONSUMER_ID + i
        if i == 0:
            bu_id = ROOT_ID
            name = "JennysWS"
            created = datetime(2023, 7, 9, 15, 10, 20, 133000, UTC)
        else:
            bu_id = tree_ids[rng.randrange(len(tree_ids))]
            name = _consumer_name(rng, cid)
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
        world._add_consumer(Consumer(world, cid, bu_id, name, kind, heavy, created))
    world._next_consumer_id = FIRST_CONSUMER_ID + n_consumers
    for j in range(3):
        created = _EPOCH + timedelta(days=100 + j)
        world._add_consumer(
            Consumer(world, 900_001 + j, OTHER_ID, f"ext-srv-{j + 1}", ACTIVATED, False, created)
        )


def _invoice_files(world: World) -> None:
    """Two invoices already uploaded at the root."""
    for k, month in enumerate(world.invoice_dates()[:2]):
        world.invoice_files.setdefault(ROOT_ID, []).append(
            InvoiceFile(
                world._next_file_id + k,
                ROOT_ID,
                datetime.combine(month, datetime.min.time(), UTC) + timedelta(days=3, hours=9),
                f"invoice-{month:%Y-%m}.pdf",
                "application/pdf",
                b"%PDF-1.4\n% simulated invoice\n" + month.isoformat().encode() + b"\n%%EOF\n",
                f"ERP-{month:%Y%m}-22",
                True,
            )
        )
    world._next_file_id += 2
