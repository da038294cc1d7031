"""Business units: the tree, their consumers, users, servers and billing."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .. import _converter
from .. import _hypermedia as routes
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._checks import by_id, check_id, check_name
from .._converter import camel
from ._base import HasPort, payload
from ._port import Port
from .billing import BillingMixin
from .consumers import ConsumerRef

__all__ = ["BusinessUnitRef"]


class BusinessUnitRef(BillingMixin):
    """A business unit (``/bunits/{id}``); no I/O until a method is awaited.

    Its billing calls (contract, invoices, invoice files, billing data) come
    from ``BillingMixin``.
    """

    __slots__ = ("id",)

    def __init__(self, api: Port | HasPort, bunit_id: int | str) -> None:
        self.id = check_id(bunit_id, "bunit_id")
        self._bind(api, routes.BUNIT, self.id)

    def __await__(self) -> Generator[Any, None, models.BusinessUnit]:
        return self.get().__await__()

    async def get(self) -> models.BusinessUnit:
        """The full business unit."""
        return await self._read(routes.BUNIT)

    async def update(self, bunit: models.BusinessUnit) -> models.BusinessUnit:
        """PUT every field the server sent (unknown ones too), with the caller's changes."""
        return await self._write_model(
            routes.BUNIT_UPDATE, body=payload(bunit, routes.BUNIT_UPDATE)
        )

    async def delete(self) -> None:
        """Delete this business unit."""
        await self._write(routes.BUNIT_DELETE)

    async def children(self) -> list[models.BusinessUnit]:
        """The business units directly under this one (thin objects)."""
        return await self._list(routes.BUNIT_CHILDREN)

    async def create_child(
        self,
        /,  # so that no extra field can be named "self"
        *,
        name: str,
        registration_number: str | None = None,
        time_zone: models.TimeZone | int | None = None,
        **fields: Any,
    ) -> models.BusinessUnit:
        """Create a business unit under this one."""
        body: dict[str, Any] = {"name": check_name(name)}
        if registration_number is not None:
            body["registrationNumber"] = registration_number
        if time_zone is not None:
            body["timeZone"] = by_id(time_zone, "time_zone")
        body.update(_fields(fields))
        return await self._write_model(routes.BUNIT_CREATE_CHILD, body=body)

    async def users(self) -> list[models.User]:
        """The portal users of this business unit."""
        return await self._list(routes.BUNIT_USERS)

    async def consumers(self) -> list[models.Consumer]:
        """The consumption units of this business unit (thin objects)."""
        return await self._list(routes.BUNIT_CONSUMERS)

    def consumer(self, consumer_id: int | str) -> ConsumerRef:
        """A proxy for one consumption unit; no I/O."""
        return ConsumerRef(self._port, self.id, consumer_id)

    async def create_consumer(self, /, *, name: str, **fields: Any) -> models.Consumer:
        """Create a consumption unit. Never retried on failure: a create is sent once."""
        body: dict[str, Any] = {"name": check_name(name, "consumer name")}
        body.update(_fields(fields))
        return await self._write_model(routes.CONSUMER_CREATE, body=body)

    async def default_server(self) -> models.BackupServer:
        """The backup server new nodes of this business unit are registered on."""
        return await self._read(routes.DEFAULT_SERVER)

    async def domains(self) -> list[models.Domain]:
        """Policy domains of the default server, for node creation."""
        return await self._list(routes.DOMAINS)

    async def client_option_sets(self) -> list[models.ClientOptionSet]:
        """Client option sets of the default server, for node creation."""
        return await self._list(routes.OPTION_SETS)


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Extra keyword fields as JSON: snake_case names become camelCase keys."""
    return {camel(key): _converter.json_value(value) for key, value in fields.items()}
