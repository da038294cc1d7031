"""Backup nodes: creation, activation, password, filespaces and proxy relations."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .. import _hypermedia as routes
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._checks import bool_param, by_id, check_id, check_node_name
from .._exceptions import ValidationError
from ._base import HasPort, Ref, payload
from ._port import Port

__all__ = ["NodeRef"]


class NodeRef(Ref):
    """The backup node of a consumer (``.../consumers/{c}/node``); no I/O until awaited."""

    __slots__ = ("bunit_id", "consumer_id")

    def __init__(self, api: Port | HasPort, bunit_id: int | str, consumer_id: int | str) -> None:
        self.bunit_id = check_id(bunit_id, "bunit_id")
        self.consumer_id = check_id(consumer_id, "consumer_id")
        self._bind(api, routes.NODE, self.bunit_id, self.consumer_id)

    def __await__(self) -> Generator[Any, None, models.Node]:
        return self.get().__await__()

    async def get(self) -> models.Node:
        """The full node (``NotFoundError`` if the consumer has none yet)."""
        return await self._read(routes.NODE)

    async def create(
        self,
        *,
        operating_system: models.NodeOperatingSystem | int,
        node_type: models.NodeType | int,
        domain: models.Domain | int,
        client_option_set: models.ClientOptionSet | int,
        contact: str | None = None,
        cpu_count: int | None = None,
        server: models.BackupServer | int | None = None,
    ) -> models.Node:
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
        return await self._write_model(routes.NODE_CREATE, body=body)

    async def update(self, node: models.Node) -> models.Node:
        """PUT every field the server sent (unknown ones too), with the caller's changes."""
        return await self._write_model(routes.NODE_UPDATE, body=payload(node, routes.NODE_UPDATE))

    async def delete(self) -> None:
        """Delete the node (the portal removes the consumption unit too)."""
        await self._write(routes.NODE_DELETE)

    async def set_password(self, password: str) -> models.Node:
        """Set the node's Storage Protect password (sent in the body, never logged)."""
        if not isinstance(password, str) or not password:
            raise ValidationError("password must be a non-empty string")
        body = {"tsmPassword": password}
        return await self._write_model(routes.NODE_PASSWORD, body=body)

    async def suggested_name(self) -> str:
        """The name the portal suggests for activation (its naming rule)."""
        return await self._read_string(routes.NODE_SUGGESTED_NAME)

    async def activate(self, tsm_name: str) -> str:
        """Activate the node under ``tsm_name`` (checked against IBM's rules first)."""
        name = check_node_name(tsm_name)
        # A GET that changes state: the route says it is repeated only if never sent.
        return await self._read_string(routes.NODE_ACTIVATE, params={"tsmName": name})

    async def filespaces(self, *, tsm_sync: bool = False) -> list[models.Filespace]:
        """The node's filespaces; ``tsm_sync=True`` syncs with the server first (slower)."""
        params = {"tsmSync": bool_param(tsm_sync, "tsm_sync")}
        return await self._list(routes.FILESPACES, params=params)

    async def possible_proxy_nodes(self) -> list[models.Node]:
        """Nodes that may become proxy agents or targets of this one."""
        return await self._list(routes.PROXY_NODES)

    async def add_proxy_agent(self, consumer_id: int | str) -> models.Node:
        """Let the node of ``consumer_id`` act for this node."""
        agent = check_id(consumer_id, "consumer_id")
        params = {"proxyAgentId": agent}
        return await self._write_model(routes.PROXY_AGENT_ADD, params=params)

    async def remove_proxy_agent(self, consumer_id: int | str) -> None:
        """Stop the node of ``consumer_id`` acting for this node."""
        await self._write(routes.PROXY_AGENT_REMOVE, check_id(consumer_id, "consumer_id"))

    async def add_proxy_target(self, consumer_id: int | str) -> models.Node:
        """Let this node act for the node of ``consumer_id``."""
        target = check_id(consumer_id, "consumer_id")
        params = {"proxyTargetId": target}
        return await self._write_model(routes.PROXY_TARGET_ADD, params=params)

    async def remove_proxy_target(self, consumer_id: int | str) -> None:
        """Stop this node acting for the node of ``consumer_id``."""
        await self._write(routes.PROXY_TARGET_REMOVE, check_id(consumer_id, "consumer_id"))
