"""Users, their roles and identities."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._base import Model
from .common import Action, Language

if TYPE_CHECKING:
    from .business_units import BusinessUnit

__all__ = ["IdentityProvider", "Privilege", "Role", "User", "UserIdentity"]


@attrs.frozen(kw_only=True, repr=False)
class Privilege(Model):
    """One operation on one resource that a role allows."""

    name: str | None = None
    operation: str | None = None
    resource: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Role(Model):
    """A user's role: a named set of privileges."""

    inheritable: bool | None = None
    name: str | None = None
    description: str | None = None
    privileges: tuple[Privilege, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class IdentityProvider(Model):
    """A SAML identity provider configured on a business unit."""

    guid: str | None = None
    name: str | None = None
    inherited: bool | None = None
    public: bool | None = None
    entity_id: int | None = None
    identity_location: str | None = None
    single_sign_on_url: str | None = None
    sign_in_url: str | None = None
    # Documented as bytes: JSON carries it as a base64 string, kept as such.
    certificate: str | None = None
    certificate_name: str | None = None
    certificate_info: str | None = None
    public_key: str | None = None
    signature_keys: str | None = None
    enable_user_email: bool | None = None
    ignore_totp: bool | None = None
    latest_saml_assertion: str | None = None
    business_unit: BusinessUnit | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class UserIdentity(Model):
    """A user's identity at an external identity provider."""

    identifier: str | None = None
    user: User | None = None
    identity_provider: IdentityProvider | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class User(Model):
    """A portal user (``/v1/me``, ``/v1/bunits/{id}/users``)."""

    href: str | None = None
    actions: tuple[Action, ...] = ()
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    failed_login_attempts: int | None = None
    uses_totp: bool | None = None
    locked: bool | None = None
    date_format_initialized: str | None = None
    time_format_initialized: str | None = None
    date_time_format: str | None = None
    date_at_time_format: str | None = None
    csv_delimiter: str | None = None
    decimal_mark: str | None = None
    role: Role | None = None
    last_login_date: datetime | None = None
    # Documented as a string; kept verbatim.
    last_password_change: str | None = None
    business_unit: BusinessUnit | None = None
    business_unit_id: int | None = None
    language: Language | None = None
    receive_comment_notifications: bool | None = None
    receive_delete_request_notifications: bool | None = None
    use_own_report_error_config: bool | None = None
    group_status_report_by_business_units: bool | None = None
    items_per_page: int | None = None
    exclude_job_tags: bool | None = None
    user_identities: tuple[UserIdentity, ...] = ()
    display_name: str | None = None
    id: int | None = None
    created_date: datetime | None = None
