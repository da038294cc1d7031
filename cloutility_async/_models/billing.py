"""Contracts, subscriptions, invoices and billing data."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._base import Model
from .common import InvoiceMethodType, ProductCode, QuantityCalculationOption

if TYPE_CHECKING:
    from .business_units import BusinessUnit

__all__ = [
    "BillingCycle",
    "BillingData",
    "BillingDataSummary",
    "Contract",
    "ContractSubscription",
    "Currency",
    "Invoice",
    "InvoiceFile",
    "InvoiceLine",
    "InvoiceMethod",
    "PaymentTerms",
    "Product",
    "Referral",
    "SubscriptionComponent",
]


@attrs.frozen(kw_only=True, repr=False)
class Currency(Model):
    """A currency prices and invoices are expressed in."""

    name: str | None = None
    code: str | None = None
    symbol: str | None = None
    display_name: str | None = None
    long_display_name: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class BillingCycle(Model):
    """How many months one billing period of a contract spans."""

    id: int | None = None
    name: str | None = None
    created_date: datetime | None = None
    months: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class PaymentTerms(Model):
    """The payment terms of a contract."""

    name: str | None = None
    code: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceMethod(Model):
    """How a product is measured and invoiced."""

    name: str | None = None
    invoices_remote_data: bool | None = None
    is_quantifiable: bool | None = None
    replication_aware: bool | None = None
    is_system_only: bool | None = None
    uses_settlement_method: bool | None = None
    type: InvoiceMethodType | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Product(Model):
    """A product that subscriptions are made of."""

    name: str | None = None
    inherited: bool | None = None
    inheritable: bool | None = None
    method: InvoiceMethod | None = None
    replication_type: int | None = None
    inherited_product_code: ProductCode | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class SubscriptionComponent(Model):
    """One priced product of a subscription."""

    quantity: int | None = None
    price: float | None = None
    is_capacity: bool | None = None
    included_bundles: int | None = None
    start_date: datetime | None = None
    quantity_calculation_option: QuantityCalculationOption | None = None
    product: Product | None = None
    replication_type: int | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class ContractSubscription(Model):
    """A subscription of a contract (also the ``subscription`` of an invoice line)."""

    billing_start_date: datetime | None = None
    name: str | None = None
    currency: Currency | None = None
    contract_count: int | None = None
    components: tuple[SubscriptionComponent, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Referral(Model):
    """A share of a contract's revenue paid to a referring business unit."""

    contract: Contract | None = None
    referrer: BusinessUnit | None = None
    percentage: float | None = None
    billing_start_date: datetime | None = None
    billing_end_date: datetime | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Contract(Model):
    """The contract a business unit takes part in (``.../contract``)."""

    href: str | None = None
    billing_start_date: datetime | None = None
    agreed_legal_terms: str | None = None
    erp_reference: str | None = None
    discount: float | None = None
    by_calendar: bool | None = None
    prepay_consumption: bool | None = None
    use_cpu_multiplier: bool | None = None
    billing_cycle: BillingCycle | None = None
    payment_terms: PaymentTerms | None = None
    currency: Currency | None = None
    subscriptions: tuple[ContractSubscription, ...] = ()
    referrals: tuple[Referral, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceLine(Model):
    """One line of an invoice."""

    # The reference types it as an undocumented `Subscription`.
    subscription: ContractSubscription | None = None
    product: Product | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    unit_price: float | None = None
    quantity: float | None = None
    note: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Invoice(Model):
    """Invoice data of a business unit for one invoice date."""

    href: str | None = None
    paying_business_unit: BusinessUnit | None = None
    lines: tuple[InvoiceLine, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceFile(Model):
    """An uploaded invoice document (usually a PDF) of a business unit."""

    href: str | None = None
    id: int | None = None
    created_date: datetime | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    erp_reference: str | None = None
    send_to_billing_address: bool | None = None


@attrs.frozen(kw_only=True, repr=False)
class BillingDataSummary(Model):
    """The billed total in one currency."""

    currency: Currency | None = None
    total: float | None = None


@attrs.frozen(kw_only=True, repr=False)
class BillingData(Model):
    """What a reseller business unit bills its children for one invoice date."""

    href: str | None = None
    invoice_date_str: str | None = None
    summary: tuple[BillingDataSummary, ...] = ()
    billing_business_unit: BusinessUnit | None = None
    invoice_date: datetime | None = None
    invoices: tuple[Invoice, ...] = ()
    id: int | None = None
    created_date: datetime | None = None
