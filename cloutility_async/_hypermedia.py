"""The pure side of hypermedia: the base URL, hrefs under it, the route table, actions.

Nothing here sends, awaits or holds state: these are functions of URLs and
strings, testable without an event loop. Each route of the API is declared
once, in the table at the end (method, path template, what the answer is read
as, whether a failed attempt may be repeated, what ``api.ref()`` makes of an
href of it); the proxies build their requests from it, ``match`` follows
hrefs through it, and the route tests are driven by it.

Proxies build a URL for every request of a bulk run, so ``Base.at`` builds
id-made paths from the base's parsed URL without parsing them again (about
ten times cheaper than ``httpx.URL(text)``); hrefs that come from outside
(``api.ref()``, actions) are parsed and checked by ``Base.under``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import httpx

from ._checks import bool_param, iso_utc
from ._exceptions import ValidationError

if TYPE_CHECKING:
    from . import _models as models
    from ._models import APIEndpoint
else:

    class _ModelNames:
        """``models.Consumer`` is ``"Consumer"``: the table names the classes (see `Route`)."""

        def __getattr__(self, name: str) -> str:
            return name

    models = _ModelNames()
from ._retry import repeatable  # a route's default: the retry policy's answer for its method

__all__ = [
    "ROUTES",
    "Base",
    "Follow",
    "Route",
    "action_request",
    "match",
    "repeatable",
    "same_origin",
    "with_params",
]

M = TypeVar("M")

# What an id-made path may hold: the fast build skips percent-encoding, so only
# characters that never need it.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/-]*")


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    """Scheme, host and port equal (httpx normalises case and the default port)."""
    return url.scheme == base.scheme and url.host == base.host and url.port == base.port


_FAST: bool | None = None  # checked by the first Base: httpx loads with a client, not at import


class Base:
    """The API's base URL (its path ends with ``/``), parsed once."""

    __slots__ = ("build", "head", "path", "prefix", "text", "url")

    def __init__(self, url: httpx.URL) -> None:
        global _FAST
        from . import _fasturl  # a subclass of httpx.URL: with the first client, not at import

        if _FAST is None:
            _FAST = _fasturl.works()
        if not url.path.endswith("/"):
            url = url.copy_with(path=url.path + "/")
        self.url = url
        self.path = url.path
        self.text = str(url)
        scheme, userinfo, host, port, _, query, fragment = url._uri_reference
        self.head = (scheme, userinfo, host, port)
        self.prefix = str(url.copy_with(path="", query=None, fragment=None))
        # Built from parts only under a base without query or fragment (as an API's is).
        fast = _FAST and query is None and fragment is None
        self.build = _fasturl.build if fast else None

    def at(self, path: str) -> httpx.URL:
        """The URL of ``path`` under the base, for paths made of checked ids and names."""
        if self.build is not None and _PLAIN_PATH.fullmatch(path):
            return self.build(self.head, self.prefix, self.path + path, None)
        return httpx.URL(self.text + path)

    def under(self, href: str | httpx.URL) -> httpx.URL:
        """``href`` (absolute, or relative to the base) if it is under the base URL.

        Raises ``ValidationError`` for another origin, a path outside the
        base's, or dot segments: nothing is ever sent there.
        """
        try:
            url = href if isinstance(href, httpx.URL) else self.url.join(href)
        except (httpx.InvalidURL, TypeError):
            raise ValidationError(f"not a valid href: {href!r}") from None
        if not same_origin(url, self.url) or not url.path.startswith(self.path):
            raise ValidationError(f"{url} is not under the API's base URL {self.url}")
        if any(part in ("..", ".") for part in url.path.split("/")):
            raise ValidationError(f"{url} has dot segments")
        return url

    def relative(self, url: httpx.URL) -> str:
        """The path of ``url`` below the base, without slashes around it."""
        return self.under(url).path[len(self.path) :].strip("/")


Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


def with_params(url: httpx.URL, params: Params | None) -> httpx.URL:
    """``url`` with ``params`` added to its query (values encoded as httpx does)."""
    if not params:
        return url
    with_query = getattr(url, "with_query", None)  # a URL built under the base
    if url.query or with_query is None:
        return url.copy_merge_params(params)  # type: ignore[arg-type]
    built: httpx.URL = with_query(str(httpx.QueryParams(params)))  # type: ignore[arg-type]
    return built


def action_request(action: APIEndpoint, params: dict[str, Any]) -> tuple[str, httpx.URL]:
    """The method and URL of a hypermedia action, its parameters URL-encoded.

    An action's href names its parameters without values (``.../offset?date``);
    each must be given, dates become ISO 8601 UTC. The URL is not yet checked
    against the base (``Base.under`` does that).
    """
    if not action.href:
        raise ValidationError(f"the action {action.name!r} has no href")
    try:
        url = httpx.URL(action.href)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationError(f"the action {action.name!r} has an invalid href") from exc
    expected = [key for key, _ in url.params.multi_items()]
    missing = [key for key in expected if key not in params]
    unknown = [key for key in params if key not in expected]
    if missing or unknown:
        raise ValidationError(
            f"the action {action.name!r} takes {expected}; missing {missing}, unknown {unknown}"
        )
    values: dict[str, str | int | float] = {}
    for key, value in params.items():
        if isinstance(value, dt.date):
            values[key] = iso_utc(value, key)
        elif isinstance(value, bool):
            values[key] = bool_param(value, key)
        elif isinstance(value, (str, int, float)):
            values[key] = value
        else:
            raise ValidationError(f"{key} must be a date, text or a number, got {value!r}")
    return (action.method or "GET").upper(), url.copy_with(params=values)


# -- the route table -------------------------------------------------------------------


class Follow(enum.Enum):
    """What ``api.ref()`` gives for an href of a route."""

    RESOURCE = "ResourceRef"  # of the route's model
    COLLECTION = "CollectionRef"  # of the route's item model
    BUNIT = "BusinessUnitRef"
    CONSUMER = "ConsumerRef"
    NODE = "NodeRef"
    TIMEZONE = "TimeZoneRef"


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_DATE_PART = r"(\d{4}-\d{2}-\d{2})"


@attrs.frozen
class Route(Generic[M]):
    """One route of the API, declared once.

    ``model`` is what the answer is read as: a model (the items' model when
    ``many``), ``str`` (a bare string), ``bytes`` (a file), ``object`` (any
    JSON) or ``type(None)`` (no body). ``retry_safe`` says whether an attempt
    that may have reached the server can be repeated (a GET that changes
    state is not); ``follow`` what ``api.ref()`` makes of an href of it.
    Placeholders are ids (``{bunit}``), or ``{date}`` for ``YYYY-MM-DD``.

    The table names its model classes (``models.Consumer`` is ``"Consumer"`` at
    run time) and ``model`` looks each up on first use: the classes, most of
    ``import cloutility_async``, are imported by the first request, not here.
    """

    method: str
    template: str
    # Not compared: it changes from the name to the class on first use.
    _model: type[M] = attrs.field(alias="model", eq=False)
    many: bool = False
    follow: Follow | None = None
    retry_safe: bool = attrs.field(
        default=attrs.Factory(lambda self: repeatable(self.method), takes_self=True)
    )
    _format: str = attrs.field(init=False, repr=False, eq=False)
    # Compiled by the first `match` (`pattern`): 60 compiles were 7% of the import.
    _pattern: re.Pattern[str] | None = attrs.field(init=False, default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_format", _PLACEHOLDER.sub("{}", self.template))

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regex: a group per placeholder (ids, or a ``{date}``)."""
        pattern = self._pattern
        if pattern is None:
            regex = _PLACEHOLDER.sub(
                lambda m: _DATE_PART if m.group(1) == "date" else r"(\d+)", self.template
            )
            pattern = re.compile(regex)
            object.__setattr__(self, "_pattern", pattern)
        return pattern

    @property
    def model(self) -> type[M]:
        """What the answer is read as (see the class docstring)."""
        model: Any = self._model
        if type(model) is str:
            from . import _models

            model = getattr(_models, model)
            object.__setattr__(self, "_model", model)
        resolved: type[M] = model
        return resolved

    @property
    def shared(self) -> bool:
        """Concurrent requests may share one answer: a safe read."""
        return self.method == "GET" and self.retry_safe

    def path(self, *values: object) -> str:
        """The path below the base URL with the placeholders filled in order."""
        return self._format.format(*values)


_ALL: list[Route[Any]] = []


def _route(
    method: str,
    template: str,
    model: type[M],
    *,
    many: bool = False,
    follow: Follow | bool = True,
    retry_safe: bool | None = None,
) -> Route[M]:
    """Declare a route; a GET of a model is followable unless ``follow=False``."""
    kind: Follow | None = follow if isinstance(follow, Follow) else None
    if follow is True and method == "GET" and model not in (str, bytes, object):
        kind = Follow.COLLECTION if many else Follow.RESOURCE
    route: Route[M] = (
        Route(method, template, model, many, kind)
        if retry_safe is None
        else Route(method, template, model, many, kind, retry_safe)
    )
    _ALL.append(route)
    return route


NO_BODY = type(None)
_B = "bunits/{bunit}"
_C = _B + "/consumers/{consumer}"
_N = _C + "/node"
_S = _B + "/defaultserver"

# The client's own routes.
FULL_VERSION = _route("GET", "fullVersion", str)
ME = _route("GET", "me", models.User)
BUNIT_TREE = _route("GET", "bunits", models.SimpleBusinessUnit, follow=False)
SEARCH_BUNITS = _route("GET", "search/bunits", models.BusinessUnit, many=True, follow=False)
TIMEZONES = _route("GET", "timezones", models.TimeZone, many=True)
TIMEZONE = _route("GET", "timezones/{timezone}", models.TimeZone, follow=Follow.TIMEZONE)
TIMEZONE_OFFSET = _route("GET", "timezones/{timezone}/offset", object)
OPERATING_SYSTEMS = _route("GET", "nodeoperatingsystems", models.NodeOperatingSystem, many=True)
OPERATING_SYSTEM = _route("GET", "nodeoperatingsystems/{id}", models.NodeOperatingSystem)
NODE_TYPES = _route("GET", "nodetypes", models.NodeType, many=True)
NODE_TYPE = _route("GET", "nodetypes/{id}", models.NodeType)
WARNING_TYPES = _route("GET", "nodewarningtypes", models.NodeWarningType, many=True)
WARNING_TYPE = _route("GET", "nodewarningtypes/{id}", models.NodeWarningType)

# Business units.
BUNIT = _route("GET", _B, models.BusinessUnit, follow=Follow.BUNIT)
BUNIT_UPDATE = _route("PUT", _B, models.BusinessUnit)
BUNIT_DELETE = _route("DELETE", _B, NO_BODY)
BUNIT_CHILDREN = _route("GET", _B + "/bunits", models.BusinessUnit, many=True)
BUNIT_CREATE_CHILD = _route("POST", _B + "/bunits", models.BusinessUnit)
BUNIT_ANCESTORS = _route("GET", _B + "/ancestors", models.BusinessUnit, many=True)
BUNIT_USERS = _route("GET", _B + "/users", models.User, many=True)
BUNIT_USER = _route("GET", _B + "/users/{user}", models.User)
BUNIT_ADDRESSES = _route("GET", _B + "/addresses", models.Address, many=True)
BUNIT_CONSUMERS = _route("GET", _B + "/consumers", models.Consumer, many=True)
CONSUMER_CREATE = _route("POST", _B + "/consumers", models.Consumer)
DEFAULT_SERVER = _route("GET", _S, models.BackupServer)
DOMAINS = _route("GET", _S + "/domains", models.Domain, many=True)
DOMAIN = _route("GET", _S + "/domains/{domain}", models.Domain)
OPTION_SETS = _route("GET", _S + "/clientoptionsets", models.ClientOptionSet, many=True)
OPTION_SET = _route("GET", _S + "/clientoptionsets/{set}", models.ClientOptionSet)

# Billing of a business unit.
CONTRACT = _route("GET", _B + "/contract", models.Contract)
INVOICES = _route("GET", _B + "/invoices", models.Invoice, many=True)
INVOICE = _route("GET", _B + "/invoices/{date}", models.Invoice)
INVOICE_FILES = _route("GET", _B + "/invoicefiles", models.InvoiceFile, many=True)
INVOICE_FILE_UPLOAD = _route("POST", _B + "/invoicefiles", models.InvoiceFile)
INVOICE_FILE_CONTENT = _route("GET", _B + "/invoicefiles/{file}", bytes)
BILLING = _route("GET", _B + "/billing", models.BillingData, many=True)
BILLING_FOR = _route("GET", _B + "/billing/{date}", models.BillingData)

# Consumption units.
CONSUMER = _route("GET", _C, models.Consumer, follow=Follow.CONSUMER)
CONSUMER_UPDATE = _route("PUT", _C, models.Consumer)
CONSUMER_DELETE = _route("DELETE", _C, NO_BODY)
AUDIT_LOGS = _route("GET", _C + "/auditlogs", models.AuditLogEntry, many=True)
AUDIT_LOG_ENTRY = _route("GET", _C + "/auditlogs/{entry}", models.AuditLogEntry)
REPORTS = _route("GET", _C + "/reports", models.NodeReport, many=True)
REPORT_LATEST = _route("GET", _C + "/reports/latest", models.NodeReport)
REPORT = _route("GET", _C + "/reports/{report}", models.NodeReport)
JOBS = _route("GET", _C + "/jobs", models.Job, many=True)
FIRST_JOB = _route("GET", _C + "/jobs/first", models.Job)
JOB = _route("GET", _C + "/jobs/{job}", models.Job)

# The backup node of a consumer.
NODE = _route("GET", _N, models.Node, follow=Follow.NODE)
NODE_CREATE = _route("POST", _N, models.Node)
NODE_UPDATE = _route("PUT", _N, models.Node)
NODE_DELETE = _route("DELETE", _N, NO_BODY)
NODE_PASSWORD = _route("POST", _N + "/password", models.Node)
NODE_SUGGESTED_NAME = _route("GET", _N + "/spname", str)
# A GET that changes state: repeated only when it certainly never reached the server.
NODE_ACTIVATE = _route("GET", _N + "/activate", str, retry_safe=False)
FILESPACES = _route("GET", _N + "/filespaces", models.Filespace, many=True)
FILESPACE = _route("GET", _N + "/filespaces/{filespace}", models.Filespace)
PROXY_NODES = _route("GET", _N + "/possibleproxynodes", models.Node, many=True)
PROXY_AGENT_ADD = _route("POST", _N + "/proxyagents", models.Node)
PROXY_AGENT_REMOVE = _route("DELETE", _N + "/proxyagents/{agent}", NO_BODY)
PROXY_TARGET_ADD = _route("POST", _N + "/proxytargets", models.Node)
PROXY_TARGET_REMOVE = _route("DELETE", _N + "/proxytargets/{target}", NO_BODY)

#: Every route of the SDK, in declaration order.
ROUTES: tuple[Route[Any], ...] = tuple(_ALL)
_FOLLOWABLE = tuple(route for route in ROUTES if route.follow is not None)


def match(relative: str) -> tuple[Route[Any], tuple[str, ...]] | None:
    """The followable route of a path below the base URL, and its placeholder values."""
    for route in _FOLLOWABLE:
        found = route.pattern.fullmatch(relative)
        if found:
            return route, found.groups()
    return None
