"""Business units: the tree, their consumers, users, servers and billing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .._converter import format_datetime, format_timespan, to_payload
from .._exceptions import ValidationError
from .._models import (
    BackupServer,
    BillingData,
    BusinessUnit,
    ClientOptionSet,
    Consumer,
    Contract,
    Domain,
    Invoice,
    InvoiceFile,
    Model,
    TimeZone,
    User,
)
from ._base import Ref, payload
from ._checks import by_id, check_id, check_name, invoice_date
from .consumers import ConsumerRef

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = ["BusinessUnitRef"]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class BusinessUnitRef(Ref):
    """A business unit (``/bunits/{id}``); no I/O until a method is awaited."""

    __slots__ = ("id",)

    def __init__(self, api: Cloutility, bunit_id: int | str) -> None:
        self.id = check_id(bunit_id, "bunit_id")
        super().__init__(api, api.base_url.join(f"bunits/{self.id}"))

    def __await__(self) -> Generator[Any, None, BusinessUnit]:
        return self.get().__await__()

    async def get(self) -> BusinessUnit:
        """The full business unit."""
        return await self._get_model(BusinessUnit)

    async def update(self, bunit: BusinessUnit) -> BusinessUnit:
        """PUT every field the server sent (unknown ones too), with the caller's changes."""
        return await self._send_model("PUT", BusinessUnit, body=payload(bunit, BusinessUnit))

    async def delete(self) -> None:
        await self._send("DELETE")

    async def children(self) -> list[BusinessUnit]:
        """The business units directly under this one (thin objects)."""
        return await self._get_list(BusinessUnit, "bunits")

    async def create_child(
        self,
        *,
        name: str,
        registration_number: str | None = None,
        time_zone: TimeZone | int | None = None,
        **fields: Any,
    ) -> BusinessUnit:
        """Create a business unit under this one."""
        body: dict[str, Any] = {"name": check_name(name)}
        if registration_number is not None:
            body["registrationNumber"] = registration_number
        if time_zone is not None:
            body["timeZone"] = by_id(time_zone, "time_zone")
        body.update(_fields(fields))
        return await self._send_model("POST", BusinessUnit, "bunits", body=body)

    async def users(self) -> list[User]:
        return await self._get_list(User, "users")

    async def consumers(self) -> list[Consumer]:
        """The consumption units of this business unit (thin objects)."""
        return await self._get_list(Consumer, "consumers")

    def consumer(self, consumer_id: int | str) -> ConsumerRef:
        """A proxy for one consumption unit; no I/O."""
        return ConsumerRef(self._api, self.id, consumer_id)

    async def create_consumer(self, *, name: str, **fields: Any) -> Consumer:
        """Create a consumption unit. Never retried on failure: a create is sent once."""
        body: dict[str, Any] = {"name": check_name(name, "consumer name")}
        body.update(_fields(fields))
        return await self._send_model("POST", Consumer, "consumers", body=body)

    async def default_server(self) -> BackupServer:
        return await self._get_model(BackupServer, "defaultserver")

    async def domains(self) -> list[Domain]:
        """Policy domains of the default server, for node creation."""
        return await self._get_list(Domain, "defaultserver/domains")

    async def client_option_sets(self) -> list[ClientOptionSet]:
        """Client option sets of the default server, for node creation."""
        return await self._get_list(ClientOptionSet, "defaultserver/clientoptionsets")

    async def contract(self) -> Contract:
        return await self._get_model(Contract, "contract")

    async def invoices(self) -> list[Invoice]:
        return await self._get_list(Invoice, "invoices")

    async def invoice(self, date: dt.date | str) -> Invoice:
        """The invoice of one date (``YYYY-MM-DD``, as in ``Invoice.href``)."""
        return await self._get_model(Invoice, f"invoices/{invoice_date(date)}")

    async def invoice_files(self) -> list[InvoiceFile]:
        return await self._get_list(InvoiceFile, "invoicefiles")

    async def billing(self, *, include_next: int | None = None) -> list[BillingData]:
        """Billing data of this (reseller) business unit."""
        params: dict[str, Any] = {}
        if include_next is not None:
            if (
                not isinstance(include_next, int)
                or isinstance(include_next, bool)
                or include_next < 0
            ):
                raise ValidationError(f"include_next must be an int >= 0, got {include_next!r}")
            params["includeNext"] = include_next
        return await self._get_list(BillingData, "billing", params)

    async def billing_for(self, date: dt.date | str) -> BillingData:
        return await self._get_model(BillingData, f"billing/{invoice_date(date)}")


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Extra keyword fields as JSON: snake_case names become camelCase keys."""
    return {camel(key): _json_value(value) for key, value in fields.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, Model):
        return to_payload(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return format_datetime(value)
    if isinstance(value, dt.timedelta):
        return format_timespan(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value
