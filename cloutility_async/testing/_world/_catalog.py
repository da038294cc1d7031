"""The portal's fixed catalogs: states, operating systems, node types, domains, currency.

Everything here is constant data and pure look-ups; the seeded world refers to it by id.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "ACTIVATED",
    "AUDIT_TYPES",
    "BACKUP_SERVER",
    "CATALOG_DATE",
    "CLIENT_OPTION_SETS",
    "CURRENCY",
    "DATA_SOURCE_TYPE",
    "DEMO_USER_ID",
    "DOMAINS",
    "FIRST_CONSUMER_ID",
    "NODE_OPERATING_SYSTEMS",
    "NODE_TYPES",
    "NODE_WARNING_TYPES",
    "NOT_ACTIVATED",
    "NO_NODE",
    "OTHER_ID",
    "PARENT_ID",
    "PRODUCTS",
    "ROOT_ID",
    "SERVER_TYPE",
    "STATE_ACTIVE",
    "STATE_BY_KIND",
    "STATE_INACTIVE",
    "STATE_NEW",
    "catalog_partial",
    "sanitize_tsm_name",
    "valid_tsm_name",
]

JSON = dict[str, Any]

# A consumer's kind: what its node is (drives its generated details).
ACTIVATED, NOT_ACTIVATED, NO_NODE = 0, 1, 2

# The fixed ids of the world's layout: the parent above the root, the client's root,
# another company beside it, the first generated consumer, the demo user.
ROOT_ID = 22
PARENT_ID = 13
OTHER_ID = 23
FIRST_CONSUMER_ID = 408
DEMO_USER_ID = 17

CATALOG_DATE = "2022-06-10T06:33:19.337Z"

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
PRODUCTS = [
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
    "createdDate": CATALOG_DATE,
}
_TSM_NAME_RE = re.compile(r"^[A-Za-z0-9_.+&-]{1,64}$")


def catalog_partial(kind: str, ident: int) -> JSON:
    """The partial object the portal embeds for a catalog entry (``KeyError`` if unknown)."""
    if kind == "operatingSystem":
        for oid, name, short, _types in NODE_OPERATING_SYSTEMS:
            if oid == ident:
                return {"name": name, "shortName": short, "id": oid, "createdDate": CATALOG_DATE}
    elif kind == "type":
        for tid, name, short in NODE_TYPES:
            if tid == ident:
                return {"id": tid, "name": name, "shortName": short, "createdDate": CATALOG_DATE}
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
                    "createdDate": CATALOG_DATE,
                }
    elif kind == "clientOptionSet":
        for sid, set_name, set_desc in CLIENT_OPTION_SETS:
            if sid == ident:
                out: JSON = {"name": set_name, "id": sid, "createdDate": CATALOG_DATE}
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
