"""Business units, their tags and addresses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._base import Model
from .common import AddressType, Collection, Country, TimeZone

if TYPE_CHECKING:
    from .billing import Contract
    from .consumers import Consumer
    from .users import User

__all__ = ["Address", "BusinessUnit", "BusinessUnitTag", "SimpleBusinessUnit"]


@attrs.frozen(kw_only=True, repr=False)
class BusinessUnitTag(Model):
    """A tag defined on a business unit, possibly inherited by its descendants."""

    id: int | None = None
    business_unit_id: int | None = None
    text: str | None = None
    inheritable: bool | None = None
    business_unit_count: int | None = None
    consumer_count: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class Address(Model):
    """A postal address of a business unit."""

    href: str | None = None
    name: str | None = None
    street: str | None = None
    zip_code: str | None = None
    city: str | None = None
    contact_person: str | None = None
    phone: str | None = None
    emails: tuple[str, ...] = ()
    type: AddressType | None = None
    country: Country | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class BusinessUnit(Model):
    """A business unit (``/v1/bunits/{id}``).

    ``users``, ``addresses``, ``business_units`` and ``ancestors`` are embedded
    collections, often empty stubs: follow their ``href``.
    """

    href: str | None = None
    parent_business_unit: BusinessUnit | None = None
    time_zone: TimeZone | None = None
    users: Collection[User] | None = None
    addresses: Collection[Address] | None = None
    business_units: Collection[BusinessUnit] | None = None
    ancestors: Collection[BusinessUnit] | None = None
    note: str | None = None
    contract: Contract | None = None
    domain_filter: tuple[str, ...] = ()
    client_option_set_filter: tuple[str, ...] = ()
    name: str | None = None
    support_responsible: bool | None = None
    registration_number: str | None = None
    invoice_day: int | None = None
    billing_storage_type_id: int | None = None
    billing_storage_type: int | None = None
    use_schedule_bindings: bool | None = None
    consumers: tuple[Consumer, ...] = ()
    storage_limit: int | None = None
    transfer_limit: int | None = None
    node_limit: int | None = None
    password_expiration_days: int | None = None
    required_approvers_of_delete_request: int | None = None
    final_delete_request_approver: bool | None = None
    users_can_approve_own_requests: bool | None = None
    report_remotely: bool | None = None
    tags: tuple[BusinessUnitTag, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class SimpleBusinessUnit(Model):
    """A node of the business unit tree (``GET /v1/bunits``)."""

    id: int | None = None
    parent_id: int | None = None
    name: str | None = None
    group_name: str | None = None
    report_remotely: bool | None = None
    business_units: tuple[SimpleBusinessUnit, ...] = ()
    tags: tuple[BusinessUnitTag, ...] = ()
    invoice_day: int | None = None
