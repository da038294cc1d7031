"""The models: frozen, slotted, keyword-only, every field optional, short reprs."""

from __future__ import annotations

import copy
import json
import pickle
import re
from datetime import datetime, timedelta, timezone
from types import MappingProxyType, UnionType
from typing import Any, TypeVar, Union, cast, get_args, get_origin

import attrs
import pytest

import cloutility_async._models as models
from cloutility_async._converter import TOLERANT, json_keys, structure
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


# -- serialisable models: pickle, to_dict, to_json -------------------------------------

UNREADABLE = {"not": ["a", "scalar"]}  # an object where a scalar field is modelled
FUTURE = {"futureField": {"nested": [1, "två"]}}  # a key no field maps


def sample_json(tp: Any, depth: int) -> Any:
    """A JSON value the field type ``tp`` reads (nested models two levels deep)."""
    args = [arg for arg in get_args(tp) if arg is not type(None)]
    if get_origin(tp) in (Union, UnionType):
        if set(args) == {datetime, bool}:
            return "2024-06-01T00:00:00Z"
        (tp,) = args
    if get_origin(tp) is tuple:
        elem = get_args(tp)[0]
        if depth >= 2:
            return []
        if elem is Any or isinstance(elem, TypeVar):
            return [{"any": 1}]
        return [sample_json(elem, depth + 1)]
    origin = get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, Model):
        return sample_body(origin, depth + 1) if depth < 2 else {"id": 1}
    simple = {
        str: "text, ä",
        int: 7,
        float: 2.5,
        bool: True,
        datetime: "2024-05-20T19:06:03.0810281+02:00",
        timedelta: "1.02:03:04.5000000",
        AuditLogType: 300,
    }
    return simple[tp]


def sample_body(cls: type[Model], depth: int = 0) -> dict[str, Any]:
    """Every field of ``cls`` set, a key no field maps, and (two levels) an unreadable value."""
    body: dict[str, Any] = {}
    keys = json_keys(cls)
    for field in attrs.fields(cls):
        if field.name in keys:
            body[keys[field.name]] = sample_json(field.type, depth)
    scalar = (int | None, bool | None, float | None, str | None)
    scalars = [keys[f.name] for f in attrs.fields(cls) if f.type in scalar and f.name in keys]
    if scalars and depth < 2:
        body[scalars[0]] = UNREADABLE
    return {**body, **FUTURE}


def read_sample(cls: type[Model]) -> Model:
    model = structure(sample_body(cls), cls, TOLERANT)
    assert model.extra == FUTURE
    return model


def every_model(model: Any) -> list[Model]:
    """``model`` and every model nested in it."""
    if isinstance(model, tuple):
        return [inner for item in model for inner in every_model(item)]
    if not isinstance(model, Model):
        return []
    nested = [getattr(model, f.name) for f in attrs.fields(type(model))]
    return [model, *every_model(tuple(value for value in nested if value is not model.raw))]


def same_state(a: Model, b: Model) -> None:
    """Equal fields, and the same raw, extra and unparsed, in ``a`` and every nested model."""
    assert a == b
    for x, y in zip(every_model(a), every_model(b), strict=True):
        assert (x.raw, x.extra, x.unparsed) == (y.raw, y.extra, y.unparsed), type(x)
        assert isinstance(y.unparsed, MappingProxyType)


def changed(model: Model) -> tuple[Model, str, Any]:
    """``model`` with its first string field (else its first number) changed."""
    for field in attrs.fields(type(model)):
        if field.type == str | None and field.name != "dotnet_type":
            return attrs.evolve(model, **{field.name: "changed"}), field.name, "changed"
    field = next(f for f in attrs.fields(type(model)) if f.type in (int | None, float | None))
    return attrs.evolve(model, **{field.name: 99}), field.name, 99


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_every_model_pickles_to_an_equal_model(cls: type[Model]) -> None:
    """A read model (nested models, lists, extra, unparsed) unpickles equal, raw and all."""
    model = read_sample(cls)
    assert any(inner.unparsed for inner in every_model(model))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        same_state(pickle.loads(pickle.dumps(model, protocol)), model)
    same_state(copy.deepcopy(model), model)
    evolved, _, _ = changed(model)
    same_state(pickle.loads(pickle.dumps(evolved)), evolved)
    same_state(pickle.loads(pickle.dumps(cls())), cls())


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_every_model_to_dict_is_the_json_a_put_sends(cls: type[Model]) -> None:
    """to_dict() is the server's JSON with changes overlaid; json.dumps takes it; it reads back."""
    body = sample_body(cls)
    model = read_sample(cls)
    assert model.to_dict() == body  # unchanged: every key as received
    assert json.loads(json.dumps(model.to_dict())) == body
    assert json.loads(model.to_json()) == body
    same_state(structure(model.to_dict(), cls, TOLERANT), model)
    evolved, name, value = changed(model)
    payload = evolved.to_dict()
    assert payload == {**body, json_keys(cls)[name]: value}
    assert structure(json.loads(evolved.to_json()), cls, TOLERANT) == evolved
    assert cls().to_dict() == {}


def test_to_dict_of_a_hand_built_model_has_its_set_fields_as_json() -> None:
    """Dates become ISO 8601 UTC, lookups objects, lists arrays; unset fields are left out."""
    consumer = Consumer(
        name="JennysWS",
        created_date=datetime(2024, 5, 20, 19, 6, 3, tzinfo=timezone(timedelta(hours=2))),
        data_source_state=Lookup(id=3, name="Active"),
        tags=(BusinessUnitTag(id=1, text="a"),),
    )
    assert consumer.to_dict() == {
        "name": "JennysWS",
        "createdDate": "2024-05-20T17:06:03Z",
        "dataSourceState": {"id": 3, "name": "Active"},
        "tags": [{"id": 1, "text": "a"}],
    }
    assert consumer.to_json() == json.dumps(consumer.to_dict(), separators=(",", ":"))
    assert consumer.to_json(indent=2) == json.dumps(consumer.to_dict(), indent=2)
    assert "\n  " in consumer.to_json(indent=2)


def test_to_dict_is_a_copy() -> None:
    """Changing what to_dict() returned changes neither the model nor its raw."""
    model = read_sample(Consumer)
    payload = model.to_dict()
    payload["businessUnit"]["name"] = "mutated"
    assert model.raw["businessUnit"]["name"] == "text, ä"
    assert model.to_dict()["businessUnit"]["name"] == "text, ä"


def test_to_json_keeps_text_readable() -> None:
    """Non-ASCII text is written as UTF-8 text, not escaped."""
    assert Consumer(name="Göteborg").to_json() == '{"name":"Göteborg"}'


def test_unpickled_nested_models_share_the_parents_raw() -> None:
    """A nested model's raw is a part of its parent's raw after unpickling, as when read."""
    model = pickle.loads(pickle.dumps(read_sample(Consumer)))
    assert isinstance(model, Consumer)
    assert model.business_unit is not None
    assert model.business_unit.raw is model.raw["businessUnit"]
