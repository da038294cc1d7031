"""The public API as a type checker sees it (the README, the docs, the examples, user
code), and the run-time side of those types.

One ``mypy --strict`` run (module-scoped) checks every Python block of the README and
of the docs' pages, every example, and a user module (``USER_CODE``) whose lines say what mypy must
make of them: ``# revealed: T`` for a ``reveal_type`` and ``# error: text`` for
a line that must not pass.
"""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import attrs
import pytest
from fakeportal import BASE_URL, FakePortal
from typecheck import ROOT, UNCHECKED_PAGES, Snippet, python_blocks, python_files, run_mypy

from cloutility_async import (
    BusinessUnit,
    BusinessUnitRef,
    ClientOptions,
    Cloutility,
    Collection,
    CollectionRef,
    ConfigurationError,
    Consumer,
    ConsumerEntry,
    ConsumerRef,
    Err,
    MapResult,
    Node,
    NodeRef,
    Ok,
    ResourceRef,
    SimpleBusinessUnit,
    TimeZone,
    TimeZoneRef,
    User,
    ValidationError,
)

USER_CODE = """
import httpx

from cloutility_async import (
    BusinessUnit,
    Cloutility,
    Collection,
    Consumer,
    ConsumerEntry,
    Err,
    Node,
    Ok,
    SimpleBusinessUnit,
    TimeZone,
    User,
    sync,
)


async def follow(
    api: Cloutility,
    consumer: Consumer,
    bunit: BusinessUnit,
    simple: SimpleBusinessUnit,
    node: Node,
    zone: TimeZone,
    users: Collection[User],
    entry: ConsumerEntry,
) -> None:
    reveal_type(api.ref(consumer))  # revealed: ConsumerRef
    reveal_type(api.ref(bunit))  # revealed: BusinessUnitRef
    reveal_type(api.ref(simple))  # revealed: BusinessUnitRef
    reveal_type(api.ref(node))  # revealed: NodeRef
    reveal_type(api.ref(zone))  # revealed: TimeZoneRef
    reveal_type(api.ref(users))  # revealed: CollectionRef[User]
    reveal_type(await api.ref(users).list())  # revealed: list[User]
    reveal_type(await api.ref(await api.me()).get())  # revealed: User
    reveal_type(api.ref("bunits/22"))  # revealed: Ref
    reveal_type(api.ref(httpx.URL("bunits/22")))  # revealed: Ref
    reveal_type(entry.id)  # revealed: int
    reveal_type(entry.name)  # revealed: str | None
    reveal_type(entry.consumer.note)  # revealed: str | None
    entry.storage_mb_typo  # error: "ConsumerEntry" has no attribute "storage_mb_typo"


def options() -> None:
    Cloutility.from_env(max_concurrency=8, strict=True)
    Cloutility.from_env(max_concurency=8)  # error: Unexpected keyword argument "max_concurency"
    Cloutility.from_env(timeout="slow")  # error: Argument "timeout" to "from_env"


async def results(api: Cloutility) -> None:
    async def size(entry: ConsumerEntry) -> int:
        return len(entry.name or "")

    async with api.map(size, api.walk_consumers()) as stream:
        async for result in stream:
            reveal_type(result)  # revealed: Ok[ConsumerEntry, int] | Err[ConsumerEntry, int]
            if result.ok:
                reveal_type(result.value)  # revealed: int
            else:
                reveal_type(result.error)  # revealed: Exception
            if isinstance(result, Ok):
                reveal_type(result.value + 1)  # revealed: int
            elif isinstance(result, Err):
                reveal_type(result.value)  # revealed: None
            result.value + 1  # error: Unsupported operand types for + ("None" and "int")


def blocking(api: sync.Cloutility, consumer: Consumer, users: Collection[User]) -> None:
    reveal_type(api.me())  # revealed: User
    reveal_type(api.bunit(22).consumer(408).get())  # revealed: Consumer
    reveal_type(api.bunit(22).consumer(408).node.get())  # revealed: Node
    reveal_type(api.ref(consumer).jobs())  # revealed: list[Job]
    reveal_type(api.ref(users).list())  # revealed: list[User]
    reveal_type(api.ref("bunits/22"))  # revealed: Ref
    log = api.bunit(22).consumer(408).audit_log()
    reveal_type(log)  # revealed: BlockingIterator[AuditLogEntry]
    reveal_type(api.walk_consumers())  # revealed: BlockingIterator[ConsumerEntry]
    for entry in api.walk_consumers(unit_errors="yield"):
        reveal_type(entry)  # revealed: ConsumerEntry | UnitError
    api.bunit(22).get(bogus=1)  # error: Unexpected keyword argument "bogus"

    def size(entry: sync.ConsumerEntry) -> int:
        return len(entry.name or "")

    with api.map(size, api.walk_consumers()) as results:
        for result in results:
            if result.ok:
                reveal_type(result.value)  # revealed: int


def blocking_options() -> None:
    sync.Cloutility.from_env(max_concurrency=8, backend="trio")
    sync.Cloutility(client_id="c", origin="o", username="u", password="p", timeout=5.0)
    sync.Cloutility(client_id="c", origin="o", username="u")  # error: Missing named argument
    sync.Cloutility.from_env(max_concurency=8)  # error: Unexpected keyword argument
"""

_EXPECTATION = re.compile(r"# (?P<kind>revealed|error): (?P<text>.*)$")


def _unqualified(text: str) -> str:
    """``cloutility_async._walk.ConsumerEntry`` as ``ConsumerEntry``: what users import."""
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text)


def docs_blocks() -> list[Snippet]:
    """The Python blocks of the docs' pages (an included example is checked as its file)."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        where = page.relative_to(ROOT / "docs").as_posix()
        if f"docs/{where}" in UNCHECKED_PAGES:
            continue
        slug = re.sub(r"\W", "_", where.removesuffix(".md"))
        for snippet in python_blocks(page):
            name = f"docs_{slug}_block_{snippet.name.rpartition('_block_')[2]}"
            origin = f"docs/{where}:{snippet.origin.rsplit(':', 1)[1]}"
            found.append(attrs.evolve(snippet, name=name, origin=origin))
    return found


@pytest.fixture(scope="module")
def mypy_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What mypy --strict says of each snippet (one run for the whole module)."""
    snippets = [
        *python_blocks(ROOT / "README.md"),
        *docs_blocks(),
        *python_files(ROOT / "examples"),
        Snippet("user_code", "USER_CODE:1", USER_CODE),
    ]
    return run_mypy(snippets, tmp_path_factory.mktemp("typecheck"))


def test_every_python_block_of_the_readme_passes_mypy_strict(
    mypy_messages: dict[str, list[str]],
) -> None:
    """Users copy the README's blocks: each type-checks under ``mypy --strict`` as it is."""
    blocks = [name for name in mypy_messages if name.startswith("readme_block_")]
    assert len(blocks) >= 8  # every block was found, not none
    problems = [line for name in blocks for line in mypy_messages[name]]
    assert problems == []


def test_every_python_block_of_the_docs_passes_mypy_strict(
    mypy_messages: dict[str, list[str]],
) -> None:
    """The pages' blocks are copied too: each type-checks as it is (a fragment that awaits
    as the body of an async function given an open client ``api``)."""
    blocks = [snippet.name for snippet in docs_blocks()]
    assert len(blocks) >= 25
    assert [line for name in blocks for line in mypy_messages[name]] == []


def test_every_example_passes_mypy_strict(mypy_messages: dict[str, list[str]]) -> None:
    """The scripts under ``examples/`` type-check under ``mypy --strict``."""
    examples = [snippet.name for snippet in python_files(ROOT / "examples")]
    assert len(examples) >= 10
    assert [line for name in examples for line in mypy_messages[name]] == []


def test_user_code_gets_precise_types_and_the_mistakes_fail(
    mypy_messages: dict[str, list[str]],
) -> None:
    """ref() per model, typed entries and options, narrowing results: as the comments say."""
    expected: dict[int, tuple[str, str]] = {}
    for number, line in enumerate(USER_CODE.splitlines(), start=1):
        found = _EXPECTATION.search(line)
        if found:
            expected[number] = (found["kind"], found["text"])
    seen: dict[int, list[str]] = {}
    for message in mypy_messages["user_code"]:
        _, number, rest = message.split(":", 2)
        seen.setdefault(int(number), []).append(rest.strip())
    for number, (kind, text) in expected.items():
        said = seen.pop(number, [])
        if kind == "revealed":
            revealed = [_unqualified(m) for m in said if m.startswith("note: Revealed type")]
            assert revealed == [f'note: Revealed type is "{text}"'], (number, said)
        else:
            assert any(m.startswith("error: ") and text in m for m in said), (number, said)
    assert seen == {}, "mypy said more than the comments expect"


def test_a_misspelt_option_is_named_at_run_time() -> None:
    """from_env(max_concurency=8) raises ConfigurationError naming it, and the likely fix."""
    environ = {
        "CLOUTILITY_CLIENT_ID": "c",
        "CLOUTILITY_ORIGIN": "https://app.example",
        "CLOUTILITY_USERNAME": "u",
        "CLOUTILITY_PASSWORD": "p",
    }
    options: dict[str, typing.Any] = {"max_concurency": 8}
    with pytest.raises(ConfigurationError, match=r"'max_concurency'.*'max_concurrency'"):
        Cloutility.from_env(environ, **options)
    assert Cloutility.from_env(environ, max_concurrency=8) is not None


def test_client_options_are_exactly_the_constructors_keyword_arguments() -> None:
    """ClientOptions names every argument of Cloutility(...) with the same type, nothing else."""
    signature = inspect.signature(Cloutility.__init__)
    hints = typing.get_type_hints(Cloutility.__init__)
    parameters = {name for name in signature.parameters if name != "self"}
    options = typing.get_type_hints(ClientOptions)
    assert set(options) == parameters
    assert options == {name: hints[name] for name in parameters}
    assert ClientOptions.__required_keys__ == frozenset()


def test_the_readme_blocks_are_found_with_their_lines() -> None:
    """Block extraction: a fragment becomes an async function body and keeps its line numbers."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    for snippet in python_blocks(Path(ROOT / "README.md")):
        first_line = snippet.code.splitlines()[snippet.offset]
        assert readme[snippet.source_line(snippet.offset + 1) - 1] == first_line.removeprefix(
            "    " if snippet.offset else ""
        )


@pytest.mark.anyio
async def test_ref_gives_the_proxy_its_overload_promises() -> None:
    """Each model kind gives its own proxy class at run time, as the overloads say."""
    portal = FakePortal()
    async with portal.client() as api:
        base = BASE_URL
        assert type(api.ref(Consumer(href=f"{base}bunits/22/consumers/408"))) is ConsumerRef
        assert type(api.ref(BusinessUnit(href=f"{base}bunits/22"))) is BusinessUnitRef
        assert type(api.ref(SimpleBusinessUnit(id=22))) is BusinessUnitRef
        assert type(api.ref(Node(href=f"{base}bunits/22/consumers/408/node"))) is NodeRef
        assert type(api.ref(TimeZone(href=f"{base}timezones/4"))) is TimeZoneRef
        users = api.ref(Collection[User](href=f"{base}bunits/22/users"))
        assert type(users) is CollectionRef
        assert users.model is User
        user = api.ref(User(href=f"{base}bunits/22/users/7"))
        assert type(user) is ResourceRef
        assert user.model is User


@pytest.mark.anyio
async def test_a_model_whose_href_leads_elsewhere_is_refused() -> None:
    """A Consumer whose href is a business unit's cannot pass for a ConsumerRef."""
    portal = FakePortal()
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="Consumer"):
            api.ref(Consumer(href=f"{BASE_URL}bunits/22"))
        with pytest.raises(ValidationError, match="User"):
            api.ref(User(href=f"{BASE_URL}bunits/22/consumers/408"))
    assert portal.grants == ["password"]  # and nothing but the login was sent


@pytest.mark.anyio
async def test_reading_a_consumer_field_through_the_entry_is_deprecated() -> None:
    """entry.note still works but warns; the typed way is entry.consumer.note."""
    portal = FakePortal()
    portal.route("GET", "bunits", json={"id": 22, "name": "Root", "businessUnits": []})
    portal.route(
        "GET", "bunits/22/consumers", json={"items": [{"id": 7, "name": "ws7", "note": "n"}]}
    )
    async with portal.client() as api:
        (entry,) = [e async for e in api.walk_consumers()]
    assert isinstance(entry, ConsumerEntry)
    with pytest.warns(DeprecationWarning, match=r"entry\.consumer\.note"):
        assert entry.note == "n"  # type: ignore[attr-defined]
    assert entry.href is None
    assert entry.consumer.note == "n"
    with pytest.raises(AttributeError, match="storage_mb_typo"):
        _ = entry.storage_mb_typo  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_map_results_are_ok_or_err() -> None:
    """A success comes out as an Ok with its value, a failure as an Err with its error."""
    portal = FakePortal()

    async def half(n: int) -> int:
        if n % 2:
            raise ValueError(f"{n} is odd")
        return n // 2

    async with portal.client() as api, api.map(half, [1, 2]) as stream:
        results = {result.item: result async for result in stream}
    ok, err = results[2], results[1]
    assert isinstance(ok, Ok)
    assert isinstance(ok, MapResult)
    assert (ok.ok, ok.value, ok.error, ok.unwrap()) == (True, 1, None, 1)
    assert isinstance(err, Err)
    assert (err.ok, err.value) == (False, None)
    with pytest.raises(ValueError, match="1 is odd"):
        err.unwrap()
