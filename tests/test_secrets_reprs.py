"""A model's repr never shows a signed link's credential, wherever the link sits.

A portal href may be signed (``?access_token=...``). The repr of a model shows
such a link with the value ``REDACTED``, as the errors and log records do: in a
text field, and inside a field that holds plain JSON (a list or an object kept as
it came, such as ``Node.remote_activities``), a tuple of texts, or a mapping. The
data itself is untouched: the field, ``raw`` and ``to_dict()`` (what a PUT sends
back) hold exactly what the server sent. The blocking facade's proxies repr a
link REDACTED too, as the async proxies do.
"""

from __future__ import annotations

from typing import Any

from cloutility_async import BusinessUnit, Node, User
from cloutility_async._converter import structure
from cloutility_async._models import Schedule

SIGNED = "https://h.example/v1/bunits/1/consumers/2/node?access_token=at-SECRET-9&view=full"
SHOWN = "https://h.example/v1/bunits/1/consumers/2/node?access_token=REDACTED&view=full"

BODY: dict[str, Any] = {
    "name": "node-1",
    "remoteActivities": [
        {"href": SIGNED, "state": "running"},
        [SIGNED, {"next": f"{SIGNED}&page=2"}],
        f"see {SIGNED}",
    ],
}


def test_a_plain_json_field_with_a_signed_link_reprs_it_redacted() -> None:
    """A link in a JSON object or list kept as it came shows REDACTED in the repr."""
    node = structure(BODY, Node)
    assert "SECRET" not in repr(node)
    assert repr(node).count("access_token=REDACTED") == 4
    assert f"'href': '{SHOWN}'" in repr(node)
    assert "'state': 'running'" in repr(node)  # the rest of the JSON is shown as it is


def test_the_data_of_a_redacted_repr_is_what_the_server_sent() -> None:
    """Only the repr is redacted: the field, raw and the PUT payload keep the link."""
    node = structure(BODY, Node)
    repr(node)
    assert node.remote_activities[0] == {"href": SIGNED, "state": "running"}
    assert node.raw == BODY
    assert node.to_dict() == BODY


def test_a_tuple_of_texts_with_a_signed_link_reprs_it_redacted() -> None:
    """A tuple-of-text field (``as_node_names``, ``domain_filter``) redacts each link in it."""
    schedule = Schedule(name="nightly", as_node_names=(SIGNED, "plain"))
    assert repr(schedule) == f"Schedule(name='nightly', as_node_names=('{SHOWN}', 'plain'))"
    assert schedule.as_node_names[0] == SIGNED
    unit = BusinessUnit(domain_filter=("x?password=pw-SECRET-1",))
    assert repr(unit) == "BusinessUnit(domain_filter=('x?password=REDACTED',))"


def test_a_mapping_in_a_model_field_reprs_links_redacted() -> None:
    """A hand-built model given a dict where a model goes (no build): the dict's links too."""
    node = Node(name="n", consumer={"href": SIGNED})  # type: ignore[arg-type]
    assert repr(node) == f"Node(name='n', consumer={{'href': '{SHOWN}'}})"
    assert node.consumer == {"href": SIGNED}


def test_nested_models_and_plain_fields_read_as_before() -> None:
    """A nested model still reprs through its own (redacting) repr; nothing is masked twice."""
    user = User(href=SIGNED, name="a")
    unit = BusinessUnit(name="u", users=None, domain_filter=("a.example",))
    assert repr(user) == f"User(href='{SHOWN}', name='a')"
    assert repr(unit) == "BusinessUnit(domain_filter=('a.example',), name='u')"


def test_a_blocking_proxy_of_a_signed_link_reprs_it_redacted() -> None:
    """The blocking facade's proxies repr a link as the async ones do: REDACTED."""
    from cloutility_async import sync

    api = sync.Cloutility(
        client_id="c", origin="https://o.example", username="u", password="p",
        base_url="https://h.example/v1/",
    )  # fmt: skip
    link = "https://h.example/v1/me?access_token=at-SECRET-9&view=full"
    ref = api.ref(link)
    assert repr(ref) == "<sync.ResourceRef https://h.example/v1/me?access_token=REDACTED&view=full>"
    assert str(ref.href) == link
    assert (
        repr(api.bunit(1).consumer(2))
        == "<sync.ConsumerRef https://h.example/v1/bunits/1/consumers/2>"
    )
