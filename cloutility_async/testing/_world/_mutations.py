"""What API writes do to the world: business units, consumers, nodes, proxies.

Writes store every field received (unknown ones too, keys matched case-insensitively as
ASP.NET binds them) and validate what the portal validates, raising :class:`ApiError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._errors import ApiError
from .._formats import TIME_ZONES, UTC, fmt_ms, fmt_s, fmt_ticks, seeded_random
from . import _history as history
from ._catalog import (
    ACTIVATED,
    CATALOG_DATE,
    DATA_SOURCE_TYPE,
    NO_NODE,
    NOT_ACTIVATED,
    STATE_ACTIVE,
    STATE_INACTIVE,
    STATE_NEW,
    catalog_partial,
    sanitize_tsm_name,
    valid_tsm_name,
)
from ._entities import BusinessUnit, Consumer
from ._state import WorldState

__all__ = ["WorldMutations", "ci_get", "ci_merge"]

JSON = dict[str, Any]

# Keys of a business unit the portal computes: never stored from a request body.
_BU_COMPUTED_KEYS = frozenset(
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
)
# Keys of a node POST body that are read, not stored as sent.
_NODE_REFERENCE_KEYS = frozenset(
    {"operatingsystem", "type", "domain", "clientoptionset", "server", "cpucount", "contact"}
)


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


class WorldMutations(WorldState):
    """The writes the API handlers make (each also a method of :class:`World`)."""

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
        raw = self.generator.bu_record(rng, bid, name, self.current_time())
        raw.pop("note", None)
        raw["registrationNumber"] = ""
        ci_merge(
            raw,
            body,
            _BU_COMPUTED_KEYS,
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
            _BU_COMPUTED_KEYS,
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
            history.audit_entry(
                self.username,
                cid * 1000,
                now,
                100,
                f"Consumption unit '{name}' was created.",
                False,
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
            return catalog_partial(key, ident)
        except KeyError:
            raise ApiError(400, f"Unknown {key} id {ident}.", code="ValidationError") from None

    def create_node(self, c: Consumer, body: Mapping[str, Any]) -> JSON:
        """POST .../node: related objects are referenced by ``{"id": n}`` alone."""
        self.details(c)
        if c.node is not None:
            raise ApiError(400, "The consumption unit already has a backup node.", code="Conflict")
        node = self._new_node(c, self._node_references(body), ci_get(body, "contact") or "")
        rest = {k: v for k, v in body.items() if k.lower() not in _NODE_REFERENCE_KEYS}
        ci_merge(node, rest, frozenset({"href", "id", "consumer", "activateddate", "tsmname"}))
        c.node = node
        c.kind = NOT_ACTIVATED
        c.raw["dataSourceState"] = dict(STATE_INACTIVE)
        self.log(c, 100, "Backup node was created.")
        return node

    def _node_references(self, body: Mapping[str, Any]) -> JSON:
        """A new node's related objects and CPU count from a POST body, validated."""
        os_part = self._resolve_related(body, "operatingSystem", True)
        type_part = self._resolve_related(body, "type", True)
        domain = self._resolve_related(body, "domain", False) or catalog_partial("domain", 1)
        cos = self._resolve_related(body, "clientOptionSet", False) or catalog_partial(
            "clientOptionSet", 1
        )
        self._resolve_related(body, "server", False)
        cpu = ci_get(body, "cpuCount")
        if cpu is not None and (not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0):
            raise ApiError(400, "cpuCount must be a non-negative integer.", code="ValidationError")
        return {
            "cpuCount": cpu if cpu is not None else 1,
            "operatingSystem": os_part,
            "type": type_part,
            "domain": domain,
            "clientOptionSet": cos,
        }

    def _new_node(self, c: Consumer, refs: JSON, contact: str) -> JSON:
        node_id = self._next_node_id
        self._next_node_id += 1
        return {
            "cpuCount": refs["cpuCount"],
            "locked": False,
            "operatingSystem": refs["operatingSystem"],
            "type": refs["type"],
            "syncState": {"name": "Not synchronized", "id": 0, "createdDate": CATALOG_DATE},
            "domain": refs["domain"],
            "clientOptionSet": refs["clientOptionSet"],
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
            "contact": contact,
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
            "createdDate": fmt_ms(self.current_time()),
        }

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
        node["syncState"] = {"name": "Synchronized", "id": 1, "createdDate": CATALOG_DATE}
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
