"""The models: frozen, slotted, keyword-only, every field optional, short reprs."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, cast

import attrs
import pytest

import cloutility_async._models as models
from cloutility_async._models import (
    ALL_MODELS,
    AuditLogType,
    BusinessUnit,
    BusinessUnitTag,
    Collection,
    Consumer,
    DataSourceState,
    DataSourceType,
    JobStatus,
    Lookup,
    Model,
    Node,
    TimeZone,
    User,
)

MODEL_IDS = [cls.__name__ for cls in ALL_MODELS]


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_every_field_defaults_to_none_or_empty_tuple(cls: type[Model]) -> None:
    """A model built without arguments has None or () in every data field."""
    obj = cls()
    for field in attrs.fields(cls):
        value = getattr(obj, field.name)
        if field.name in ("raw", "extra", "unparsed"):
            assert value == {}
        else:
            assert value is None or value == (), field.name


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_list_fields_are_tuples(cls: type[Model]) -> None:
    """Every list-valued field is typed as a tuple, never a list."""
    for field in attrs.fields(cls):
        assert "list[" not in str(field.type), field.name


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_field_names_are_snake_case(cls: type[Model]) -> None:
    """Attribute names are snake_case."""
    for field in attrs.fields(cls):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", field.name), field.name


def test_models_are_frozen() -> None:
    """Assigning to a field raises."""
    consumer = Consumer(name="a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        consumer.name = "b"  # type: ignore[misc]


def test_models_are_slotted() -> None:
    """Instances have no __dict__."""
    assert not hasattr(Consumer(), "__dict__")


def test_constructor_is_keyword_only() -> None:
    """Positional arguments are refused."""
    with pytest.raises(TypeError):
        cast(Any, Lookup)(1, "x")


def test_node_repr_hides_tsm_password() -> None:
    """The node password never shows up in a repr."""
    node = Node(name="ws", tsm_password="s3cret-pass")
    assert "s3cret-pass" not in repr(node)
    assert "tsm_password" not in repr(node)
    assert "name='ws'" in repr(node)


def test_repr_lists_only_set_fields() -> None:
    """None and empty fields are left out of the repr."""
    assert repr(Lookup(id=1, name="Active")) == "Lookup(id=1, name='Active')"
    assert repr(BusinessUnit()) == "BusinessUnit()"


def test_repr_keeps_false_and_zero() -> None:
    """False and 0 are values, not absence: they stay in the repr."""
    assert (
        repr(BusinessUnitTag(id=0, inheritable=False)) == "BusinessUnitTag(id=0, inheritable=False)"
    )


def test_repr_hides_raw_extra_and_dotnet_type() -> None:
    """raw, extra and $type are not part of the repr."""
    tz = TimeZone(
        name="UTC",
        dotnet_type="CloudPortal.Web.Api.Hyper.TimeZone",
        raw={"name": "UTC", "secret": "x"},
        extra={"secret": "x"},
    )
    assert repr(tz) == "TimeZone(name='UTC')"


def test_raw_and_extra_do_not_take_part_in_equality() -> None:
    """Two models with the same fields are equal whatever JSON they came from."""
    assert Lookup(id=1, raw={"id": 1}, extra={"x": 1}) == Lookup(id=1)


def test_equal_models_hash_alike() -> None:
    """Models with tuple and nested fields are hashable, consistently with equality."""
    a = Consumer(name="a", tags=(BusinessUnitTag(id=1),), data_source_state=Lookup(id=3))
    b = Consumer(name="a", tags=(BusinessUnitTag(id=1),), data_source_state=Lookup(id=3))
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_evolve_keeps_raw_and_extra() -> None:
    """attrs.evolve carries raw and extra over to the new instance."""
    tz = TimeZone(name="a", raw={"name": "a", "x": 1}, extra={"x": 1})
    changed = attrs.evolve(tz, name="b")
    assert changed.name == "b"
    assert changed.raw == {"name": "a", "x": 1}
    assert changed.extra == {"x": 1}


def test_collection_is_generic_over_its_items() -> None:
    """Collection[T] holds a tuple of items and the list metadata."""
    page: Collection[User] = Collection(href="h", total=2, items=(User(id=1), User(id=2)))
    assert [user.id for user in page.items] == [1, 2]
    assert page.offset is None


def test_lookup_aliases_name_the_same_class() -> None:
    """The {id, name} resources are all one Lookup class."""
    assert DataSourceType is Lookup
    assert DataSourceState is Lookup
    assert JobStatus is Lookup


def test_audit_log_type_values() -> None:
    """AuditLogType carries the documented `types` values."""
    assert [int(t) for t in AuditLogType] == [0, 100, 200, 300, 400]
    assert AuditLogType(200) is AuditLogType.MODIFY


def test_audit_log_type_accepts_unknown_values() -> None:
    """A value the server adds later becomes an UNKNOWN_ pseudo-member, not an error."""
    unknown = AuditLogType(500)
    assert unknown == 500
    assert unknown.name == "UNKNOWN_500"
    assert isinstance(unknown, AuditLogType)


def test_unknown_audit_log_type_rejects_non_integers() -> None:
    """Only integers become pseudo-members."""
    with pytest.raises(ValueError, match="not a valid AuditLogType"):
        AuditLogType(cast(Any, "info"))


@pytest.mark.parametrize(
    "cls",
    [
        models.BusinessUnit,
        models.Consumer,
        models.Node,
        models.User,
        models.Address,
        models.TimeZone,
        models.Job,
        models.NodeReport,
        models.Filespace,
        models.Domain,
        models.ClientOptionSet,
        models.BackupServer,
        models.NodeType,
        models.NodeOperatingSystem,
        models.Contract,
        models.Invoice,
        models.InvoiceFile,
        models.BillingData,
        models.AuditLogEntry,
        models.APIEndpoint,
        models.Action,
        models.Collection,
    ],
)
def test_resources_with_a_link_have_href(cls: type[Model]) -> None:
    """Every resource the reference gives an href has an `href` field."""
    assert "href" in attrs.fields_dict(cls)


def test_every_model_class_is_exported() -> None:
    """ALL_MODELS and __all__ agree on the model classes."""
    assert {cls.__name__ for cls in ALL_MODELS} <= set(models.__all__)
    assert len(ALL_MODELS) == len({cls.__name__ for cls in ALL_MODELS})


def test_datetime_fields_accept_aware_datetimes() -> None:
    """Date fields hold datetimes as given."""
    when = datetime(2023, 6, 10, 11, 10, 11, tzinfo=timezone.utc)
    assert Consumer(created_date=when).created_date == when
