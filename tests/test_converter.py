"""The converter: tolerant structuring, lossless payloads, readable errors."""

from __future__ import annotations

import copy
import json
import math
import pickle
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest

from cloutility_async import _converter
from cloutility_async._converter import (
    TOLERANT,
    ConversionError,
    Reading,
    format_datetime,
    format_timespan,
    json_keys,
    parse_datetime,
    parse_timespan,
    structure,
    structure_collection,
    structure_list,
    to_payload,
    unstructure,
)
from cloutility_async._drift import DriftLog, SchemaDrift
from cloutility_async._models import (
    ALL_MODELS,
    Activity,
    Address,
    AuditLogEntry,
    AuditLogType,
    BusinessUnit,
    BusinessUnitTag,
    Collection,
    Consumer,
    Job,
    Lookup,
    Model,
    Node,
    NodeOperatingSystem,
    NodeReport,
    SimpleBusinessUnit,
    TimeZone,
    User,
)

FIXTURES = Path(__file__).parent / "fixtures"
UTC = timezone.utc
MODEL_IDS = [cls.__name__ for cls in ALL_MODELS]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def all_models(obj: Any) -> list[Model]:
    """Every model reachable from obj, obj included."""
    found: list[Model] = []
    if isinstance(obj, Model):
        found.append(obj)
        for field in attrs.fields(type(obj)):
            if field.name not in ("raw", "extra"):
                found.extend(all_models(getattr(obj, field.name)))
    elif isinstance(obj, tuple):
        for item in obj:
            found.extend(all_models(item))
    return found


# --- the reference's examples, field for field ------------------------------------------

EXAMPLES = [
    ("business_unit", BusinessUnit),
    ("consumer", Consumer),
    ("simple_business_unit", SimpleBusinessUnit),
    ("time_zone", TimeZone),
]


@pytest.mark.parametrize(("name", "cls"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_round_trips_exactly(name: str, cls: type[Model]) -> None:
    """Structuring an example and taking its payload gives back the same JSON."""
    data = load(name)
    assert to_payload(structure(data, cls)) == data


@pytest.mark.parametrize(("name", "cls"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_keys_all_map_to_fields(name: str, cls: type[Model]) -> None:
    """No key of the reference's examples is left over in extra, at any depth."""
    for model in all_models(structure(load(name), cls)):
        assert model.extra == {}, (type(model).__name__, dict(model.extra))


@pytest.mark.parametrize(("name", "cls"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_round_trips_through_json_text(name: str, cls: type[Model]) -> None:
    """The payload serializes to the same JSON text as the example."""
    data = load(name)
    assert json.dumps(to_payload(structure(data, cls))) == json.dumps(data)


def test_consumer_example_fields() -> None:
    """The consumer example becomes typed values, nested models included."""
    consumer = structure(load("consumer"), Consumer)
    assert consumer.id == 408
    assert consumer.name == "JennysWS"
    assert consumer.note == "Jenny's workstation."
    assert consumer.data_source_state == Lookup(id=3, name="Active")
    assert consumer.billing_start_date == datetime(2023, 6, 9, tzinfo=UTC)
    assert consumer.created_date == datetime(2023, 7, 9, 15, 10, 20, 133000, tzinfo=UTC)
    assert consumer.last_comment_type_id == 2
    assert consumer.limit_high_storage == 100.0
    assert consumer.allow_no_activity is False
    assert consumer.tags == ()
    assert consumer.jobs == ()
    bu = consumer.business_unit
    assert bu is not None
    assert bu.dotnet_type == "CloudPortal.Web.Api.Hyper.BusinessUnit, CloudPortal.Web.Api"
    assert bu.registration_number == "123456789999"
    assert bu.required_approvers_of_delete_request == 1
    assert bu.ancestors == Collection(
        href="https://portal-api.backup.sto2.safedc.net/v1/bunits/22/ancestors", total=0
    )


def test_business_unit_example_fields() -> None:
    """The business unit example: parent, time zone with actions, collection stubs."""
    bu = structure(load("business_unit"), BusinessUnit)
    assert bu.id == 22
    assert bu.parent_business_unit is not None
    assert bu.parent_business_unit.name == "Safespring - Sverige"
    assert bu.parent_business_unit.billing_storage_type_id == 1
    assert bu.time_zone is not None
    assert bu.time_zone.windows_id == "W. Europe Standard Time"
    assert bu.time_zone.actions[0].method == "GET"
    assert bu.time_zone.actions[0].name == "Calculate UTC offset"
    assert bu.users is not None
    assert bu.users.href == "https://portal-api.backup.sto2.safedc.net/v1/bunits/22/users"
    assert bu.users.items == ()
    assert bu.users.dotnet_type is not None
    assert bu.users.dotnet_type.startswith("CloudPortal.Web.Api.Hyper.Collection`1")
    assert bu.domain_filter == ()


def test_simple_business_unit_tree() -> None:
    """The /v1/bunits tree nests SimpleBusinessUnits."""
    root = structure(load("simple_business_unit"), SimpleBusinessUnit)
    assert root.parent_id is None
    assert [(c.id, c.parent_id, c.name) for c in root.business_units] == [
        (76, 22, "Marketing Department"),
        (94, 22, "HR Department"),
    ]
    assert root.business_units[0].invoice_day == 0


def test_nested_models_keep_their_own_raw() -> None:
    """Each nested model keeps the JSON object it was built from."""
    data = load("business_unit")
    bu = structure(data, BusinessUnit)
    assert bu.raw == data
    assert bu.time_zone is not None
    assert bu.time_zone.raw == data["timeZone"]
    assert bu.time_zone.actions[0].raw == data["timeZone"]["actions"][0]
    assert bu.users is not None
    assert bu.users.raw == data["users"]


# --- tolerance ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_empty_object_gives_defaults(cls: type[Model]) -> None:
    """Every field may be missing."""
    assert structure({}, cls) == cls()


@pytest.mark.parametrize("cls", ALL_MODELS, ids=MODEL_IDS)
def test_null_for_every_field_gives_defaults(cls: type[Model]) -> None:
    """null in any field gives its default, () for lists."""
    data = dict.fromkeys(json_keys(cls).values())
    assert structure(data, cls) == cls()


def test_null_list_gives_empty_tuple() -> None:
    """A list field sent as null becomes ()."""
    assert structure({"tags": None, "domainFilter": None}, BusinessUnit).tags == ()


def test_numeric_strings_are_numbers() -> None:
    """Integers and floats may arrive as numeric strings."""
    job = structure(
        {"id": "12", "examinedFiles": " 7 ", "transferredMegaBytes": "12.5", "result": 3.0},
        Job,
    )
    assert job.id == 12
    assert job.examined_files == 7
    assert job.transferred_mega_bytes == 12.5
    assert job.result == 3


def test_integers_fill_float_fields() -> None:
    """An integer in a float field becomes a float of the same value."""
    job = structure({"transferredGigaBytes": 2}, Job)
    assert job.transferred_giga_bytes == 2.0
    assert isinstance(job.transferred_giga_bytes, float)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [(True, True), (False, False), ("true", True), ("False", False), (1, True), (0, False)],
)
def test_booleans_from_strings_and_bits(sent: object, expected: bool) -> None:
    """Booleans may arrive as "true"/"false" or 1/0."""
    assert structure({"locked": sent}, Node).locked is expected


@pytest.mark.parametrize("blank_field", ["id", "locked", "createdDate", "cpuCount"])
def test_blank_string_in_a_typed_field_is_none(blank_field: str) -> None:
    """An empty string where a number, boolean or date is expected counts as absent."""
    node = structure({blank_field: ""}, Node)
    assert node == Node()


def test_numbers_in_string_fields_become_strings() -> None:
    """A number where a string is expected is kept as its text."""
    assert structure({"registrationNumber": 556612345678}, BusinessUnit).registration_number == (
        "556612345678"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-06-10T11:10:11.321Z", datetime(2023, 6, 10, 11, 10, 11, 321000, tzinfo=UTC)),
        ("2023-06-09T00:00:00Z", datetime(2023, 6, 9, tzinfo=UTC)),
        (
            "2024-05-20T19:06:03.0810281+02:00",
            datetime(2024, 5, 20, 19, 6, 3, 81028, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-05-20T19:06:03-05:30", datetime(2024, 5, 21, 0, 36, 3, tzinfo=UTC)),
        ("2023-06-09", datetime(2023, 6, 9, tzinfo=UTC)),
        ("2023-06-09T08:30:00", datetime(2023, 6, 9, 8, 30, tzinfo=UTC)),
        ("2023-06-09T08:30:00.5", datetime(2023, 6, 9, 8, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_date_shapes(text: str, expected: datetime) -> None:
    """Every date shape becomes an aware datetime at the same instant."""
    created = structure({"createdDate": text}, Consumer).created_date
    assert created == expected
    assert created is not None
    assert created.tzinfo is not None


def test_seven_fraction_digits_are_truncated() -> None:
    """.NET's 100 ns ticks are truncated, not rounded, to microseconds."""
    parsed = parse_datetime("2024-05-20T19:06:03.9999999Z")
    assert parsed.microsecond == 999999
    assert parsed.second == 3


def test_offset_is_kept() -> None:
    """A date with an offset keeps it."""
    parsed = parse_datetime("2024-05-20T19:06:03+02:00")
    assert parsed.utcoffset() == timedelta(hours=2)


# .NET writes an unset DateTime as its MinValue, in the server's zone or none.
DOTNET_DEFAULT_DATES = [
    "0001-01-01T00:00:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.0000000+02:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-05:00",
    "0001-01-01T01:00:00+02:00",  # not MinValue, but before it in UTC
]
# Instants past the last one Python can hold in UTC (.NET's MaxValue in a western zone).
LATE_DATES = ["9999-12-31T23:59:59.9999999-05:00", "9999-12-31T20:00:00-12:00"]
FAR_END = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize("reading", [_converter.STRICT, TOLERANT], ids=["strict", "tolerant"])
@pytest.mark.parametrize("text", DOTNET_DEFAULT_DATES)
def test_the_dotnet_default_date_reads_as_no_date(text: str, reading: Reading) -> None:
    """0001-01-01T00:00:00 in any zone is "no date": None, no drift, the text kept in raw."""
    drifts: list[SchemaDrift] = []
    reading = attrs.evolve(reading, report=drifts.append)
    body = {"id": 1, "completed": text, "actualStart": "2024-05-20T19:06:03+02:00"}
    job = structure(body, Job, reading)
    assert job.completed is None
    assert job.actual_start == datetime(2024, 5, 20, 17, 6, 3, tzinfo=UTC)
    assert (job.unparsed, drifts) == ({}, [])
    assert job.raw["completed"] == text
    assert to_payload(attrs.evolve(job, id=2)) == {**body, "id": 2}


@pytest.mark.parametrize("reading", [_converter.STRICT, TOLERANT], ids=["strict", "tolerant"])
@pytest.mark.parametrize("text", LATE_DATES)
def test_a_date_past_the_range_in_utc_reads_as_the_last_instant(
    text: str, reading: Reading
) -> None:
    """MaxValue in a western zone is the last instant Python holds, in UTC: it stays "later"."""
    drifts: list[SchemaDrift] = []
    consumer = structure(
        {"createdDate": text, "billingEndDate": text},
        Consumer,
        attrs.evolve(reading, report=drifts.append),
    )
    assert consumer.created_date == consumer.billing_end_date == FAR_END
    assert (consumer.unparsed, drifts) == ({}, [])
    assert consumer.created_date is not None
    assert consumer.created_date.astimezone(UTC) > datetime.now(UTC)
    assert to_payload(attrs.evolve(consumer, name="x"))["createdDate"] == text


@pytest.mark.parametrize("text", DOTNET_DEFAULT_DATES + LATE_DATES)
def test_every_date_at_the_ends_converts_to_utc_and_formats(text: str) -> None:
    """parse_datetime gives an instant that astimezone(UTC) and format_datetime can handle."""
    parsed = parse_datetime(text)
    assert parsed.astimezone(UTC) == parsed  # no OverflowError
    assert parse_datetime(format_datetime(parsed)) == parsed


def test_format_datetime_of_a_hand_built_date_past_the_range() -> None:
    """A datetime a user builds at the very start with a positive offset is written, not raised."""
    start = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(start) == "0001-01-01T00:00:00Z"
    end = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    assert format_datetime(end) == "9999-12-31T23:59:59.999999Z"


def test_a_date_of_the_first_day_that_is_not_the_default_is_kept() -> None:
    """Only MinValue itself is "no date": a later moment of year 1 reads as a date."""
    job = structure({"completed": "0001-01-01T03:00:00+02:00"}, Job)
    assert job.completed == datetime(1, 1, 1, 1, tzinfo=UTC)


def test_parse_datetime_without_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regular-expression parser (used on Python 3.10) reads every shape too."""
    monkeypatch.setattr(_converter._dates, "_FAST_ISO", False)
    assert parse_datetime("2023-06-10T11:10:11.321Z") == datetime(
        2023, 6, 10, 11, 10, 11, 321000, tzinfo=UTC
    )
    assert parse_datetime("2024-05-20T19:06:03.0810281+02:00") == datetime(
        2024, 5, 20, 17, 6, 3, 81028, tzinfo=UTC
    )
    assert parse_datetime("2023-06-09") == datetime(2023, 6, 9, tzinfo=UTC)
    assert parse_datetime("2023-06-09T08:30:00") == datetime(2023, 6, 9, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime("2023-13-45")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01:02:03", timedelta(hours=1, minutes=2, seconds=3)),
        ("00:00:03.1234567", timedelta(seconds=3, microseconds=123456)),
        ("2.01:02:03", timedelta(days=2, hours=1, minutes=2, seconds=3)),
        ("2.01:02:03.5", timedelta(days=2, hours=1, minutes=2, seconds=3, milliseconds=500)),
        ("-01:00:00", timedelta(hours=-1)),
        ("-1.00:00:01", -timedelta(days=1, seconds=1)),
        ("30:00:00", timedelta(hours=30)),
    ],
)
def test_timespan_shapes(text: str, expected: timedelta) -> None:
    """.NET TimeSpans become timedeltas."""
    assert structure({"duration": text}, Job).duration == expected


@pytest.mark.parametrize(
    "span",
    [
        timedelta(hours=1, minutes=2, seconds=3),
        timedelta(days=3, seconds=59),
        timedelta(seconds=1, microseconds=5),
        -timedelta(days=1, hours=2),
        timedelta(0),
    ],
)
def test_timespan_round_trip(span: timedelta) -> None:
    """format_timespan and parse_timespan are inverse."""
    assert parse_timespan(format_timespan(span)) == span


def test_format_timespan_shapes() -> None:
    """Durations are written as [-][d.]hh:mm:ss[.fffffff]."""
    assert format_timespan(timedelta(hours=1, minutes=2, seconds=3)) == "01:02:03"
    assert format_timespan(timedelta(days=2, hours=1)) == "2.01:00:00"
    assert format_timespan(timedelta(seconds=3, microseconds=123456)) == "00:00:03.1234560"
    assert format_timespan(-timedelta(hours=1)) == "-01:00:00"


def test_unknown_keys_are_kept_in_extra_and_raw() -> None:
    """Keys no field maps go to extra; raw keeps the whole object."""
    data = {"id": 1, "name": "a", "systemId": "x-1", "operations": ["GET"]}
    bu = structure(data, BusinessUnit)
    assert bu.extra == {"systemId": "x-1", "operations": ["GET"]}
    assert bu.raw == data


def test_unknown_keys_of_nested_models_stay_with_them() -> None:
    """Each nested model has its own extra."""
    bu = structure(
        {"timeZone": {"name": "UTC", "archivedDate": "2020-01-01T00:00:00Z"}}, BusinessUnit
    )
    assert bu.extra == {}
    assert bu.time_zone is not None
    assert bu.time_zone.extra == {"archivedDate": "2020-01-01T00:00:00Z"}


def test_doc_spelling_overrides() -> None:
    """$type and the reference's `examindedFiles` map to their attributes."""
    activity = structure({"$type": "T", "examindedFiles": 4}, Activity)
    assert activity.dotnet_type == "T"
    assert activity.examined_files == 4
    assert json_keys(Activity)["examined_files"] == "examindedFiles"
    assert json_keys(Node)["replication_server_secondary2"] == "replicationServerSecondary2"


def test_audit_log_entry() -> None:
    """Audit log entries get an AuditLogType, unknown values included."""
    entry = structure({"type": "100", "typeName": "Create", "userId": 5}, AuditLogEntry)
    assert entry.type is AuditLogType.CREATE
    assert entry.type_name == "Create"
    assert structure({"type": 450}, AuditLogEntry).type == 450


def test_billing_end_date_accepts_a_boolean_or_a_date() -> None:
    """Documented as boolean, named as a date: both are accepted."""
    assert structure({"billingEndDate": False}, Consumer).billing_end_date is False
    assert structure({"billingEndDate": "2024-01-31T00:00:00Z"}, Consumer).billing_end_date == (
        datetime(2024, 1, 31, tzinfo=UTC)
    )


def test_node_remote_activities_stay_plain_json() -> None:
    """The undocumented SAP HANA list is kept as JSON values."""
    node = structure({"remoteActivities": [{"a": 1}]}, Node)
    assert node.remote_activities == ({"a": 1},)


# --- errors ------------------------------------------------------------------------------


def test_string_where_object_expected_raises_conversion_error() -> None:
    """A wrong shape raises ConversionError naming the class and the field path."""
    with pytest.raises(ConversionError) as caught:
        structure({"businessUnit": {"timeZone": "W. Europe"}}, Consumer)
    message = str(caught.value)
    assert "Consumer" in message
    assert "$.business_unit.time_zone" in message
    assert "expected a JSON object" in message


def test_conversion_error_is_a_value_error() -> None:
    """ConversionError is a ValueError and lists each problem."""
    with pytest.raises(ValueError, match="Lookup") as caught:
        structure({"id": "one", "name": ["x"]}, Lookup)
    assert isinstance(caught.value, ConversionError)
    assert caught.value.type_name == "Lookup"
    assert sorted(caught.value.errors) == [
        "expected a string, got list ['x'] @ $.name",
        "expected an integer, got str 'one' @ $.id",
    ]


def test_conversion_error_names_list_indexes() -> None:
    """A bad element of a list is named by its index."""
    with pytest.raises(ConversionError, match=r"\$\.tags\[1\]\.id"):
        structure({"tags": [{"id": 1}, {"id": "x"}]}, Consumer)


def test_conversion_error_hides_cattrs() -> None:
    """The cattrs error is only the cause, never what is raised."""
    with pytest.raises(ConversionError) as caught:
        structure("not an object", Consumer)
    assert not isinstance(caught.value, cattrs.BaseValidationError)
    assert "expected a JSON object, got str 'not an object' @ $" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"id": 12.5}, "expected an integer"),
        ({"locked": "maybe"}, "expected a boolean"),
        ({"createdDate": "yesterday"}, "expected an ISO 8601 date"),
        ({"createdDate": 1700000000}, "expected an ISO 8601 date"),
        ({"schedules": "x"}, "expected a JSON array, got str 'x'"),
        ({"name": {"first": "x"}}, "expected a string"),
        ({"cpuCount": True}, "expected an integer"),
    ],
)
def test_wrong_values_raise(data: dict[str, Any], problem: str) -> None:
    """Values that cannot be converted raise instead of being guessed."""
    with pytest.raises(ConversionError, match=problem):
        structure(data, Node)


def test_bad_timespan_raises() -> None:
    """A duration that is not a TimeSpan raises."""
    with pytest.raises(ConversionError, match=r"TimeSpan.*\$\.duration"):
        structure({"duration": "an hour"}, Job)


# --- lists and collections ---------------------------------------------------------------


def test_structure_list() -> None:
    """structure_list converts a JSON array; null gives an empty list."""
    assert structure_list([{"id": 1}, {"id": "2"}], Lookup) == [Lookup(id=1), Lookup(id=2)]
    assert structure_list(None, Lookup) == []


def test_structure_list_error_names_the_index() -> None:
    """A bad element is reported with its index."""
    with pytest.raises(ConversionError, match=r"list\[Lookup\].*\$\[1\]"):
        structure_list([{}, True], Lookup)


def test_structure_collection() -> None:
    """A list body becomes a Collection of typed items."""
    page = structure_collection(
        {"href": "h", "total": 2, "offset": 0, "first": "f", "items": [load("consumer"), {}]},
        Consumer,
    )
    assert (page.href, page.total, page.offset, page.first) == ("h", 2, 0, "f")
    assert page.items[0].name == "JennysWS"
    assert page.items[1] == Consumer()


def test_structure_collection_accepts_a_bare_array() -> None:
    """A bare JSON array is taken as the items."""
    page = structure_collection([{"id": 1}], User)
    assert page.items == (User(id=1),)
    assert page.total is None


def test_collection_round_trips() -> None:
    """A collection's payload is its JSON, items included."""
    data = {"href": "h", "total": "1", "items": [load("consumer")], "limit": 50}
    assert to_payload(structure_collection(data, Consumer)) == data


# --- payloads ----------------------------------------------------------------------------


def test_evolve_of_one_field_changes_only_that_key() -> None:
    """Changing the note changes the note and nothing else."""
    data = load("consumer")
    payload = to_payload(attrs.evolve(structure(data, Consumer), note="new"))
    assert payload == {**data, "note": "new"}


def test_nested_evolve_changes_only_the_nested_key() -> None:
    """A change deep down keeps the nested object's other keys as sent."""
    data = load("business_unit")
    bu = structure(data, BusinessUnit)
    assert bu.time_zone is not None
    changed = attrs.evolve(bu, time_zone=attrs.evolve(bu.time_zone, name="UTC"))
    expected = copy.deepcopy(data)
    expected["timeZone"]["name"] = "UTC"
    assert to_payload(changed) == expected


def test_unknown_fields_survive_evolve() -> None:
    """Keys the models do not know are sent back after a change."""
    data = {**load("consumer"), "systemId": "abc", "operations": [{"op": 1}]}
    consumer = structure(data, Consumer)
    assert consumer.extra == {"systemId": "abc", "operations": [{"op": 1}]}
    payload = to_payload(attrs.evolve(consumer, name="Renamed"))
    assert payload["systemId"] == "abc"
    assert payload["operations"] == [{"op": 1}]
    assert payload["name"] == "Renamed"


def test_field_set_to_none_is_sent_as_null() -> None:
    """Clearing a field sends an explicit null."""
    data = load("consumer")
    payload = to_payload(attrs.evolve(structure(data, Consumer), note=None))
    assert payload == {**data, "note": None}


def test_unchanged_values_keep_their_original_form() -> None:
    """Numeric strings, 100.0 and 7-digit dates are sent back exactly as received."""
    data = {
        "id": "12",
        "limitHighStorage": 100.0,
        "createdDate": "2024-05-20T19:06:03.0810281+02:00",
        "name": "x",
    }
    payload = to_payload(attrs.evolve(structure(data, Consumer), name="y"))
    assert payload == {**data, "name": "y"}


def test_changed_datetime_is_written_in_utc() -> None:
    """A changed date is written as ISO 8601 UTC with Z."""
    consumer = structure({"billingStartDate": "2023-06-09T00:00:00Z"}, Consumer)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    payload = to_payload(attrs.evolve(consumer, billing_start_date=when))
    assert payload == {"billingStartDate": "2024-01-02T02:04:05Z"}


def test_changed_list_of_models_keeps_each_element_raw() -> None:
    """Appending to a list keeps the JSON of the elements that were there."""
    data = {"tags": [{"id": 1, "text": "a", "color": "red"}]}
    bu = structure(data, BusinessUnit)
    changed = attrs.evolve(bu, tags=(*bu.tags, BusinessUnitTag(text="b")))
    assert to_payload(changed) == {"tags": [{"id": 1, "text": "a", "color": "red"}, {"text": "b"}]}


def test_hand_built_model_gives_only_set_fields() -> None:
    """A model built by hand sends only its non-default fields."""
    assert to_payload(Consumer(name="LisasWS")) == {"name": "LisasWS"}


def test_hand_built_nested_payload() -> None:
    """Nested hand-built models are sent by their set fields, in camelCase."""
    node = Node(
        cpu_count=2,
        contact="it@example.com",
        operating_system=NodeOperatingSystem(id=3),
        tsm_password="pw",
        locked=False,
    )
    assert to_payload(node) == {
        "cpuCount": 2,
        "contact": "it@example.com",
        "operatingSystem": {"id": 3},
        "tsmPassword": "pw",
        "locked": False,
    }


def test_hand_built_payload_formats_dates_and_durations() -> None:
    """Hand-built dates, durations and enums become JSON values."""
    job = Job(
        completed=datetime(2024, 1, 1, 12, 0, 0, 250000, tzinfo=UTC),
        duration=timedelta(days=1, minutes=5),
    )
    assert to_payload(job) == {"completed": "2024-01-01T12:00:00.250000Z", "duration": "1.00:05:00"}
    assert to_payload(AuditLogEntry(type=AuditLogType.DELETE)) == {"type": 300}


def test_extra_changes_are_sent() -> None:
    """A key added to extra is sent along with raw."""
    tz = structure({"id": 4, "name": "x"}, TimeZone)
    changed = attrs.evolve(tz, extra={"systemId": "s"})
    assert to_payload(changed) == {"id": 4, "name": "x", "systemId": "s"}


def test_payload_does_not_share_containers_with_raw() -> None:
    """Mutating a payload leaves the model's raw untouched."""
    data = load("business_unit")
    bu = structure(data, BusinessUnit)
    payload = to_payload(bu)
    payload["timeZone"]["actions"].clear()
    assert bu.raw["timeZone"]["actions"] != []


def test_unstructure_gives_set_fields_in_camel_case() -> None:
    """unstructure drops None and empty fields and formats values."""
    consumer = Consumer(
        name="a",
        tags=(BusinessUnitTag(id=1, inheritable=False),),
        created_date=datetime(2023, 6, 10, 11, 10, 11, 321000, tzinfo=UTC),
        business_unit=BusinessUnit(id=22, dotnet_type="T", users=Collection(total=0)),
    )
    assert unstructure(consumer) == {
        "name": "a",
        "tags": [{"id": 1, "inheritable": False}],
        "createdDate": "2023-06-10T11:10:11.321000Z",
        "businessUnit": {"$type": "T", "users": {"total": 0}, "id": 22},
    }


def test_unstructure_leaves_out_raw_and_extra() -> None:
    """unstructure is the model's own view, not the server's JSON."""
    tz = structure({"name": "x", "unknown": 1}, TimeZone)
    assert unstructure(tz) == {"name": "x"}


def test_unstructure_round_trips_through_structure() -> None:
    """Structuring what unstructure gives returns an equal model."""
    consumer = structure(load("consumer"), Consumer)
    assert structure(unstructure(consumer), Consumer) == consumer


# --- helpers -----------------------------------------------------------------------------


def test_format_datetime() -> None:
    """Dates are written in UTC with Z, microseconds only when not zero."""
    assert format_datetime(datetime(2023, 6, 9, tzinfo=UTC)) == "2023-06-09T00:00:00Z"
    assert format_datetime(datetime(2023, 6, 9, 1, 2, 3, 321000, tzinfo=UTC)) == (
        "2023-06-09T01:02:03.321000Z"
    )
    assert format_datetime(datetime(2023, 6, 9, 2, tzinfo=timezone(timedelta(hours=2)))) == (
        "2023-06-09T00:00:00Z"
    )


def test_format_datetime_naive_and_date() -> None:
    """Naive datetimes are taken as UTC; a date is midnight UTC."""
    assert format_datetime(datetime(2023, 6, 9, 8, 0)) == "2023-06-09T08:00:00Z"
    assert format_datetime(date(2023, 11, 3)) == "2023-11-03T00:00:00Z"


def test_datetime_round_trip() -> None:
    """parse_datetime reads what format_datetime writes."""
    when = datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC)
    assert parse_datetime(format_datetime(when)) == when


def test_every_structuring_function_generates() -> None:
    """The per-class functions of all models can be generated up front."""
    for hooks in (_converter._hooks.eager_hooks,):
        hooks.build_all()
        assert hooks.pending == []
        assert len(hooks.hooks) >= len(ALL_MODELS)


def test_every_reader_generates_and_reads_an_empty_object() -> None:
    """Each model type's generated reader builds the model of ``{}``, strict or tolerant."""
    for cls in (*ALL_MODELS, Collection):
        reader = _converter._readers.reader_for(cls)
        assert reader is not None
        for reading in (_converter.STRICT, TOLERANT):
            built = reader.read({}, reading, None)
            assert type(built) is cls  # never the class it was filled in as
            assert built == (Collection[Any]() if cls is Collection else cls())
            assert (built.raw, built.extra, built.unparsed) == ({}, {}, {})


@pytest.mark.parametrize("name", ["consumer", "business_unit", "simple_business_unit", "time_zone"])
def test_a_reader_builds_what_the_eager_converter_builds(name: str) -> None:
    """The generated fast path and cattrs' generated functions agree on every field."""
    cls = {"consumer": Consumer, "business_unit": BusinessUnit}.get(name)
    cls = cls or {"simple_business_unit": SimpleBusinessUnit, "time_zone": TimeZone}[name]
    data = load(name)
    eager = _converter._hooks.eager_converter.structure(data, cls)
    for reading in (_converter.STRICT, TOLERANT):
        read = structure(data, cls, reading)
        assert read == eager
        assert (read.raw, read.extra, read.unparsed) == (eager.raw, eager.extra, eager.unparsed)
        assert [m.extra for m in all_models(read)] == [m.extra for m in all_models(eager)]


def test_a_reader_reads_the_common_case_inline_and_other_shapes_by_their_hooks() -> None:
    """Values of the modelled type are kept as they are; other shapes still read."""
    data = {"id": "7", "name": 12, "limitHighStorage": 100, "allowNoActivity": "true"}
    data |= {"dataSourceType": 2, "businessUnit": "", "tags": None, "comments": {"items": []}}
    consumer = structure(data, Consumer, TOLERANT)
    assert (consumer.id, consumer.name, consumer.limit_high_storage) == (7, "12", 100.0)
    assert consumer.allow_no_activity is True
    assert consumer.data_source_type == Lookup(id=2)
    assert (consumer.business_unit, consumer.tags, consumer.comments) == (None, (), ())
    assert consumer.unparsed == {}


def test_converter_is_private() -> None:
    """The package has its own converters and leaves cattrs' global one alone."""
    assert _converter._hooks.eager_converter is not cattrs.global_converter
    assert cattrs.structure("12", int) == 12
    with pytest.raises(ValueError, match="invalid literal"):
        cattrs.structure("12.5", int)


def test_nan_sent_as_text_is_kept() -> None:
    """.NET writes NaN as a string: it is read as a float and sent back unchanged."""
    consumer = structure({"limitHighStorage": "NaN", "name": "a"}, Consumer)
    assert consumer.limit_high_storage is not None
    assert math.isnan(consumer.limit_high_storage)
    assert to_payload(attrs.evolve(consumer, name="b")) == {"limitHighStorage": "NaN", "name": "b"}


def test_enum_lookups_accept_a_bare_number() -> None:
    """.NET enums such as ErrorStatus may arrive as numbers; they become Lookup(id=n)."""
    report = structure({"status": 2, "name": "ws"}, NodeReport)
    assert report.status is not None
    assert report.status.id == 2
    assert to_payload(report) == {"status": 2, "name": "ws"}


# --- shapes that mean the same thing -----------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("Active", Lookup(name="Active")), ("3", Lookup(id=3)), (3, Lookup(id=3))],
)
def test_a_lookup_may_arrive_as_a_bare_name_or_number(sent: object, expected: Lookup) -> None:
    """A bare name or id where an {id, name} lookup is modelled is that lookup."""
    consumer = structure({"dataSourceState": sent, "name": "ws"}, Consumer)
    assert consumer.data_source_state == expected
    assert consumer.unparsed == {}
    assert to_payload(attrs.evolve(consumer, name="x")) == {"dataSourceState": sent, "name": "x"}


def test_a_collection_object_where_an_array_is_modelled_gives_its_items() -> None:
    """{href, total, items} in a list field is read as its items; raw keeps the object."""
    tags = {"href": "h", "total": 1, "items": [{"id": 1, "text": "a"}]}
    bu = structure({"tags": tags, "consumers": {"items": None}}, BusinessUnit)
    assert bu.tags == (BusinessUnitTag(id=1, text="a"),)
    assert bu.consumers == ()
    assert to_payload(bu) == {"tags": tags, "consumers": {"items": None}}


def test_an_array_where_a_collection_is_modelled_gives_a_collection() -> None:
    """A bare array in a Collection field is that collection's items."""
    bu = structure({"users": [{"id": 5, "name": "u"}]}, BusinessUnit)
    assert bu.users is not None
    assert bu.users.items == (User(id=5, name="u"),)
    assert to_payload(bu) == {"users": [{"id": 5, "name": "u"}]}


@pytest.mark.parametrize(
    ("sent", "expected"),
    [(90, timedelta(seconds=90)), (1.5, timedelta(seconds=1.5)), ("3600", timedelta(hours=1))],
)
def test_a_timespan_may_arrive_as_seconds(sent: object, expected: timedelta) -> None:
    """A number of seconds where a TimeSpan is modelled is that span."""
    assert structure({"duration": sent}, Job).duration == expected


def test_a_blank_string_in_an_object_or_list_field_counts_as_absent() -> None:
    """A blank string where an object or an array is modelled is read like null."""
    job = structure({"type": "", "tags": "", "name": "j"}, Job)
    assert job == Job(name="j")
    assert job.unparsed == {}


# --- tolerant reading --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "attr", "default"),
    [
        ("id", 12.5, "id", None),
        ("locked", "yes", "locked", None),
        ("createdDate", "yesterday", "created_date", None),
        ("createdDate", 1700000000, "created_date", None),
        ("schedules", "x", "schedules", ()),
        ("name", {"first": "x"}, "name", None),
        ("name", ["x"], "name", None),
        ("cpuCount", True, "cpu_count", None),
        ("operatingSystem", "Linux", "operating_system", None),
        ("consumer", [1], "consumer", None),
    ],
)
def test_tolerant_reading_records_what_it_cannot_convert(
    key: str, value: object, attr: str, default: object
) -> None:
    """An unreadable value leaves its field at the default and lands in unparsed as sent."""
    data = {"href": "h", "contact": "it", "tsmName": "N1", key: value}
    node = structure(data, Node, TOLERANT)
    assert getattr(node, attr) == default
    assert node.unparsed == {key: value}
    assert (node.href, node.contact, node.tsm_name) == ("h", "it", "N1")
    assert node.raw == data
    assert to_payload(node) == data


def test_conversion_is_never_lossy_for_strings() -> None:
    """An object or a list in a string field is never turned into its Python repr."""
    bu = structure({"name": {"sv": "Enhet"}, "note": ["a"], "id": 3}, BusinessUnit, TOLERANT)
    assert (bu.name, bu.note, bu.id) == (None, None, 3)
    assert bu.unparsed == {"name": {"sv": "Enhet"}, "note": ["a"]}


def test_unparsed_is_read_only() -> None:
    """unparsed is a read-only mapping."""
    lookup = structure({"id": "one"}, Lookup, TOLERANT)
    with pytest.raises(TypeError):
        lookup.unparsed["id"] = 1  # type: ignore[index]


def test_drift_in_a_nested_model_stays_with_it() -> None:
    """A nested model keeps its own unparsed; the outer model and its other fields are intact."""
    data = load("consumer")
    data["businessUnit"]["timeZone"] = "W. Europe"
    data["businessUnit"]["invoiceDay"] = "the first"
    consumer = structure(data, Consumer, TOLERANT)
    assert consumer.unparsed == {}
    assert consumer.name == "JennysWS"
    bu = consumer.business_unit
    assert bu is not None
    assert bu.unparsed == {"timeZone": "W. Europe", "invoiceDay": "the first"}
    assert bu.time_zone is None
    assert bu.invoice_day is None
    assert bu.registration_number == "123456789999"
    assert to_payload(attrs.evolve(consumer, note="n")) == {**data, "note": "n"}


def test_a_list_keeps_every_item_it_can_read() -> None:
    """Items that are not objects are left out and recorded by index; bad fields stay inside."""
    data = {"tags": [{"id": 1}, "red", {"id": "x", "text": "t"}, None], "name": "ws"}
    consumer = structure(data, Consumer, TOLERANT)
    assert consumer.tags == (BusinessUnitTag(id=1), BusinessUnitTag(text="t"))
    assert consumer.tags[1].unparsed == {"id": "x"}
    assert consumer.unparsed == {"tags[1]": "red", "tags[3]": None}
    assert consumer.name == "ws"
    assert to_payload(consumer) == data


def test_a_list_of_strings_keeps_its_strings() -> None:
    """A list of strings drops only the items that are not strings."""
    address = structure({"emails": ["a@x", {"b": 1}, "c@x"]}, Address, TOLERANT)
    assert address.emails == ("a@x", "c@x")
    assert address.unparsed == {"emails[1]": {"b": 1}}


def test_a_collection_records_items_that_are_not_objects() -> None:
    """A list body keeps the consumers it can read; the others are in its unparsed."""
    body = {"href": "h", "total": 3, "items": [{"id": 1}, 7, {"id": 3, "name": ["x"]}]}
    page = structure_collection(body, Consumer, TOLERANT)
    assert [c.id for c in page.items] == [1, 3]
    assert page.items[1].unparsed == {"name": ["x"]}
    assert page.unparsed == {"items[1]": 7}
    assert (page.href, page.total) == ("h", 3)
    assert page.raw == body


def test_structure_list_leaves_out_what_it_cannot_read() -> None:
    """A tolerant list read returns the readable items and reports the others."""
    seen: list[SchemaDrift] = []
    items = structure_list([{"id": 1}, True], Lookup, Reading(strict=False, report=seen.append))
    assert items == [Lookup(id=1)]
    assert [(d.model, d.key, d.json_type, d.path) for d in seen] == [
        ("list[Lookup]", "[1]", "boolean", "$[1]")
    ]


def test_each_unreadable_value_is_reported_without_the_value() -> None:
    """The report names model, field, key, JSON type, expected type and path, never the value."""
    seen: list[SchemaDrift] = []
    data = {"name": "ws", "node": {"tsmPassword": ["s3cret"], "locked": "yes"}, "tags": ["x"]}
    structure(data, Consumer, Reading(strict=False, report=seen.append))
    assert seen == [
        SchemaDrift(
            model="Node",
            field="locked",
            key="locked",
            json_type="string",
            expected="bool | None",
            path="$.node.locked",
        ),
        SchemaDrift(
            model="Node",
            field="tsm_password",
            key="tsmPassword",
            json_type="array",
            expected="str | None",
            path="$.node.tsm_password",
        ),
        SchemaDrift(
            model="Consumer",
            field="tags",
            key="tags[0]",
            json_type="string",
            expected="tuple[BusinessUnitTag, ...]",
            path="$.tags[0]",
        ),
    ]
    assert "s3cret" not in repr(seen)


def test_a_well_formed_body_reports_nothing() -> None:
    """Nothing is reported, and unparsed stays empty, when everything can be read."""
    seen: list[SchemaDrift] = []
    consumer = structure(load("consumer"), Consumer, Reading(strict=False, report=seen.append))
    assert seen == []
    assert all(model.unparsed == {} for model in all_models(consumer))


def test_strict_reading_names_every_bad_field() -> None:
    """Strict mode raises one ConversionError listing each unreadable value's path."""
    with pytest.raises(ConversionError) as caught:
        structure({"node": {"locked": "yes"}, "tags": [{"id": 1}, "x"]}, Consumer)
    assert caught.value.errors == (
        "expected a boolean, got str 'yes' @ $.node.locked",
        "expected a JSON object, got str 'x' @ $.tags[1]",
    )


def test_strict_errors_never_show_a_secret_field_value() -> None:
    """A node password that cannot be read is named, but its value is not shown."""
    with pytest.raises(ConversionError) as caught:
        structure({"tsmPassword": ["s3cret"]}, Node)
    assert "s3cret" not in str(caught.value)
    assert "$.tsm_password" in str(caught.value)


def test_a_body_that_is_not_an_object_raises_even_when_tolerant() -> None:
    """There is nothing to read in a string where a model is expected."""
    with pytest.raises(ConversionError, match=r"expected a JSON object, got str 'x' @ \$"):
        structure("x", Consumer, TOLERANT)


def test_drift_log_logs_each_model_field_once_and_counts_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client's drift log warns once per (model, field) and counts every value."""
    log = DriftLog()
    reading = Reading(strict=False, report=log.record)
    with caplog.at_level("WARNING", logger="cloutility_async"):
        structure({"id": "uno", "name": "ok"}, Lookup, reading)
        structure({"id": "dos"}, Lookup, reading)
        structure({"name": ["x"]}, Lookup, reading)
    assert log.count == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert all(m.startswith("cloutility.schema_drift: Lookup.") for m in messages)
    assert "got a JSON string, expected int | None" in messages[0]
    assert not any("uno" in m or "dos" in m for m in messages)
    assert caplog.records[0].drift.field == "id"  # type: ignore[attr-defined]


# --- tolerant reads build nested objects on first access ---------------------------------


def test_drift_in_a_nested_object_is_reported_when_it_is_first_read() -> None:
    """A tolerant read reports a nested object's drift once, when the field is first read."""
    seen: list[SchemaDrift] = []
    data = {"name": "ws", "node": {"tsmName": "WS1", "locked": "yes"}}
    consumer = structure(data, Consumer, Reading(strict=False, report=seen.append))
    assert consumer.name == "ws"
    assert seen == []
    node = consumer.node
    assert node is not None
    assert (node.tsm_name, node.locked, node.unparsed) == ("WS1", None, {"locked": "yes"})
    assert [(d.model, d.field, d.path) for d in seen] == [("Node", "locked", "$.node.locked")]
    assert consumer.node is node
    assert len(seen) == 1
    assert consumer.unparsed == {}


def test_a_strict_read_raises_for_drift_in_a_nested_object_at_the_call() -> None:
    """A strict read checks nested objects at the call: a bad value raises before it returns."""
    data = {"name": "ws", "node": {"tsmName": "WS1", "locked": "yes"}}
    with pytest.raises(ConversionError, match=r"\$\.node\.locked"):
        structure(data, Consumer)


def test_a_strict_read_keeps_its_checked_nested_objects_unbuilt_until_read() -> None:
    """A strict read holds no more than a tolerant one: nested objects are built on access."""
    data = load("consumer")
    consumer = structure(data, Consumer)
    slot = type(consumer).__dict__["business_unit"].slot  # the descriptor's own slot
    assert type(slot.__get__(consumer)) is dict  # the object as received
    assert consumer.business_unit == _converter._hooks.eager_converter.structure(
        data["businessUnit"], BusinessUnit
    )
    assert type(slot.__get__(consumer)) is BusinessUnit


def test_a_nested_object_of_a_list_item_reports_its_place() -> None:
    """The path of drift in a list item's nested object names the item's index."""
    seen: list[SchemaDrift] = []
    items = [{"id": 1}, {"id": 2, "businessUnit": {"id": 22, "timeZone": {"offset": "x"}}}]
    page = structure_collection({"items": items}, Consumer, Reading(False, seen.append))
    unit = page.items[1].business_unit
    assert unit is not None
    assert unit.time_zone is not None
    assert unit.time_zone.unparsed == {"offset": "x"}
    assert [d.path for d in seen] == ["$.items[1].business_unit.time_zone.offset"]


def test_a_model_with_unbuilt_nested_objects_behaves_like_a_built_one() -> None:
    """Equality, hashing, repr, evolve and to_payload see the nested objects as built."""
    data = load("consumer")
    lazy = structure(data, Consumer, TOLERANT)
    eager = _converter._hooks.eager_converter.structure(data, Consumer)
    assert lazy == eager
    assert hash(structure(data, Consumer, TOLERANT)) == hash(eager)
    assert repr(structure(data, Consumer, TOLERANT)) == repr(eager)
    assert attrs.evolve(structure(data, Consumer, TOLERANT), note="n") == attrs.evolve(
        eager, note="n"
    )
    assert to_payload(structure(data, Consumer, TOLERANT)) == data
    assert [m.raw for m in all_models(lazy)] == [m.raw for m in all_models(eager)]
    assert pickle.loads(pickle.dumps(structure(data, Consumer, TOLERANT))) == eager
    assert copy.deepcopy(structure(data, Consumer, TOLERANT)).business_unit == eager.business_unit


def test_a_model_built_by_hand_keeps_what_it_was_given() -> None:
    """Only a read leaves objects for a field to build: a hand-built model returns its values."""
    given: Any = {"id": 22}
    consumer = Consumer(business_unit=given, name="ws")
    assert consumer.business_unit is given
    assert Consumer(business_unit=BusinessUnit(id=22)).business_unit == BusinessUnit(id=22)
