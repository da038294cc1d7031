"""One request as the handlers see it: query and route parameters, body, token, scope."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from .._auth import AuthState, Token
from .._errors import ApiError
from .._formats import parse_bool, parse_iso
from .._stats import SimulatorStats
from .._world import BusinessUnit, Consumer, World

__all__ = ["Ctx"]


class Ctx:
    """One request as the handlers see it, with the state they read and change."""

    __slots__ = (
        "_query",
        "accept",
        "auth",
        "base",
        "body",
        "content_type",
        "method",
        "origin",
        "params",
        "path",
        "query_string",
        "stats",
        "token",
        "world",
    )

    def __init__(
        self,
        world: World,
        auth: AuthState,
        stats: SimulatorStats,
        method: str,
        path: str,
        query_string: bytes,
        params: list[str],
        base: str,
        token: Token | None,
        accept: bytes,
        content_type: bytes,
        origin: bytes | None,
        body: bytes,
    ) -> None:
        self.world = world
        self.auth = auth
        self.stats = stats
        self.method = method
        self.path = path
        self.query_string = query_string
        self.params = params
        self.base = base
        self.token = token
        self.accept = accept
        self.content_type = content_type
        self.origin = origin
        self.body = body
        self._query: dict[str, list[str]] | None = None

    # query ------------------------------------------------------------------------------

    def query(self) -> dict[str, list[str]]:
        """Query parameters with lower-cased names (ASP.NET binds them case-insensitively)."""
        if self._query is None:
            parsed = parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)
            out: dict[str, list[str]] = {}
            for k, v in parsed.items():
                out.setdefault(k.lower(), []).extend(v)
            self._query = out
        return self._query

    def q(self, name: str) -> str | None:
        if not self.query_string:
            return None
        values = self.query().get(name.lower())
        return values[0] if values else None

    def q_bool(self, name: str, default: bool = False) -> bool:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            return parse_bool(raw)
        except ValueError:
            raise ApiError(400, f"The value '{raw}' is not valid for {name}.") from None

    def q_int(self, name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"The value '{raw}' is not valid for {name}.") from None
        if value < minimum:
            raise ApiError(400, f"{name} must be at least {minimum}.")
        return value

    def q_time(self, name: str) -> datetime | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_iso(raw)
        except ValueError:
            raise ApiError(
                400,
                f"The value '{raw}' is not valid for {name}.",
                developer=f"{name} must be an ISO 8601 date, e.g. 2023-11-03T08:00:00Z.",
            ) from None

    @property
    def url(self) -> str:
        """The request URL as the client sent it (absolute)."""
        url = self.base + self.path.lstrip("/")
        if self.query_string:
            url += "?" + self.query_string.decode("latin-1")
        return url

    def wants_csv(self) -> bool:
        return b"text/csv" in self.accept

    # params -----------------------------------------------------------------------------

    def int_param(self, index: int) -> int:
        raw = self.params[index]
        if not raw.isdigit() or len(raw) > 12:
            raise ApiError(
                400,
                f"The request is invalid: '{raw}' is not a valid id.",
                developer=f"Route parameter '{raw}' must be a positive integer.",
            )
        return int(raw)

    @property
    def root_id(self) -> int:
        assert self.token is not None
        bound = self.token.client.bunit_id
        return bound if bound is not None else self.world.root_id

    def bunit(self, index: int = 0) -> BusinessUnit:
        bid = self.int_param(index)
        bu = self.world.bunits.get(bid)
        if bu is None:
            raise ApiError(404, f"Business unit {bid} was not found.")
        if not self.world.is_within(bid, self.root_id):
            raise ApiError(
                403,
                f"You do not have access to business unit {bid}.",
                developer="The business unit is outside the client ID's tree.",
            )
        return bu

    def consumer(self, bu: BusinessUnit, index: int = 1) -> Consumer:
        cid = self.int_param(index)
        c = self.world.consumers.get(cid)
        if c is None or c.bu_id != bu.id:
            raise ApiError(404, f"Consumption unit {cid} was not found in business unit {bu.id}.")
        return self.world.details(c)

    def bu_and_consumer(self) -> tuple[BusinessUnit, Consumer]:
        bu = self.bunit(0)
        return bu, self.consumer(bu, 1)

    def json_body(self) -> dict[str, Any]:
        if not self.body.strip():
            raise ApiError(400, "The request body is required.")
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "The request body is not valid JSON.", developer=str(exc)) from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data

    def optional_json_body(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        return self.json_body()
