"""Backup nodes: creation, activation, password, filespaces and proxy relations."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .._exceptions import ValidationError
from .._models import (
    BackupServer,
    ClientOptionSet,
    Domain,
    Filespace,
    Node,
    NodeOperatingSystem,
    NodeType,
)
from ._base import Ref, payload, read_string
from ._checks import bool_param, by_id, check_id, check_node_name

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = ["NodeRef"]


class NodeRef(Ref):
    """The backup node of a consumer (``.../consumers/{c}/node``); no I/O until awaited."""

    __slots__ = ("bunit_id", "consumer_id")

    def __init__(self, api: Cloutility, bunit_id: int | str, consumer_id: int | str) -> None:
        self.bunit_id = check_id(bunit_id, "bunit_id")
        self.consumer_id = check_id(consumer_id, "consumer_id")
        super().__init__(
            api, self._at(api, f"bunits/{self.bunit_id}/consumers/{self.consumer_id}/node")
        )

    def __await__(self) -> Generator[Any, None, Node]:
        return self.get().__await__()

    async def get(self) -> Node:
        return await self._get_model(Node)

    async def create(
        self,
        *,
        operating_system: NodeOperatingSystem | int,
        node_type: NodeType | int,
        domain: Domain | int,
        client_option_set: ClientOptionSet | int,
        contact: str | None = None,
        cpu_count: int | None = None,
        server: BackupServer | int | None = None,
    ) -> Node:
        """Create the node; related objects go by id, as the server binds them."""
        body: dict[str, Any] = {
            "operatingSystem": by_id(operating_system, "operating_system"),
            "type": by_id(node_type, "node_type"),
            "domain": by_id(domain, "domain"),
            "clientOptionSet": by_id(client_option_set, "client_option_set"),
        }
        if contact is not None:
            body["contact"] = contact
        if cpu_count is not None:
            body["cpuCount"] = check_id(cpu_count, "cpu_count")
        if server is not None:
            body["server"] = by_id(server, "server")
        return await self._send_model("POST", Node, body=body)

    async def update(self, node: Node) -> Node:
        """PUT every field the server sent (unknown ones too), with the caller's changes."""
        return await self._send_model("PUT", Node, body=payload(node, Node))

    async def delete(self) -> None:
        """Delete the node (the portal removes the consumption unit too)."""
        await self._send("DELETE")

    async def set_password(self, password: str) -> Node:
        """Set the node's Storage Protect password (sent in the body, never logged)."""
        if not isinstance(password, str) or not password:
            raise ValidationError("password must be a non-empty string")
        return await self._send_model("POST", Node, "password", body={"tsmPassword": password})

    async def suggested_name(self) -> str:
        """The name the portal suggests for activation (its naming rule)."""
        response = await self._api._require_sender().send("GET", self._url("spname"))
        return read_string(response)

    async def activate(self, tsm_name: str) -> str:
        """Activate the node under ``tsm_name`` (checked against IBM's rules first)."""
        name = check_node_name(tsm_name)
        # A GET that changes state: retried only if it certainly never reached the server.
        response = await self._api._write(
            "GET", self._url("activate"), params={"tsmName": name}, idempotent=False
        )
        return read_string(response)

    async def filespaces(self, *, tsm_sync: bool = False) -> list[Filespace]:
        """The node's filespaces; ``tsm_sync=True`` syncs with the server first (slower)."""
        return await self._get_list(
            Filespace, "filespaces", {"tsmSync": bool_param(tsm_sync, "tsm_sync")}
        )

    async def possible_proxy_nodes(self) -> list[Node]:
        return await self._get_list(Node, "possibleproxynodes")

    async def add_proxy_agent(self, consumer_id: int | str) -> Node:
        """Let the node of ``consumer_id`` act for this node."""
        agent = check_id(consumer_id, "consumer_id")
        return await self._send_model("POST", Node, "proxyagents", params={"proxyAgentId": agent})

    async def remove_proxy_agent(self, consumer_id: int | str) -> None:
        await self._send("DELETE", f"proxyagents/{check_id(consumer_id, 'consumer_id')}")

    async def add_proxy_target(self, consumer_id: int | str) -> Node:
        """Let this node act for the node of ``consumer_id``."""
        target = check_id(consumer_id, "consumer_id")
        return await self._send_model(
            "POST", Node, "proxytargets", params={"proxyTargetId": target}
        )

    async def remove_proxy_target(self, consumer_id: int | str) -> None:
        await self._send("DELETE", f"proxytargets/{check_id(consumer_id, 'consumer_id')}")
