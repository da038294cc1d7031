"""The OAuth token as data: wall-clock expiry, a repr without secrets, a JSON form.

Expiry is wall-clock UTC (not an event loop's clock, which differs between
processes and backends) so that a token saved by one process means the same
in another; the JSON form is what the token stores keep.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import attrs

from ._converter import format_datetime

__all__ = ["Token"]

_UTC = dt.timezone.utc


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("Token.expires_at must be timezone-aware (UTC)")
    return value.astimezone(_UTC)


def _expiry_from_now(token: Token) -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time() + token.expires_in, _UTC)


_UNREADABLE = object()  # json.loads failed


@attrs.frozen(repr=False)
class Token:
    """An OAuth access token with its refresh token; its repr hides both secrets.

    ``expires_at`` is wall-clock UTC (by default ``expires_in`` seconds from
    now); ``client_id`` and ``username`` say whose token it is, so that a
    token store shared by mistake between two logins is noticed.
    """

    access_token: str
    refresh_token: str | None
    expires_in: float
    expires_at: dt.datetime = attrs.field(
        default=attrs.Factory(_expiry_from_now, takes_self=True), converter=_utc
    )
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    client_id: str | None = attrs.field(default=None, kw_only=True)
    username: str | None = attrs.field(default=None, kw_only=True)
    # ``expires_at`` as a POSIX timestamp: requests check it, so it is computed once.
    _deadline: float = attrs.field(
        init=False,
        eq=False,
        default=attrs.Factory(lambda self: self.expires_at.timestamp(), takes_self=True),
    )

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until expiry (negative once expired); ``now`` is a ``time.time()``."""
        return self._deadline - (time.time() if now is None else now)

    def to_json(self) -> str:
        """The token as JSON, secrets included: what a token store keeps."""
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "token_type": self.token_type,
                "expires_in": self.expires_in,
                "expires_at": format_datetime(self.expires_at),
                "client_id": self.client_id,
                "username": self.username,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Token:
        """The token that ``to_json`` wrote.

        Raises:
            ValueError: not such JSON (the message never quotes the text).
        """
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError):
            data = _UNREADABLE
        if data is _UNREADABLE:
            # Raised outside the `except`: the JSON error's `doc` is the text, tokens and all.
            raise ValueError("a stored token is not valid JSON")
        if not isinstance(data, Mapping):
            raise ValueError("a stored token is not a JSON object")  # noqa: TRY004
        access, refresh = data.get("access_token"), data.get("refresh_token")
        expires_in, expires_at = data.get("expires_in"), data.get("expires_at")
        if not isinstance(access, str) or not access:
            raise ValueError("a stored token has no access_token")
        if refresh is not None and not isinstance(refresh, str):
            raise ValueError("a stored token has an invalid refresh_token")
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, (int, float))
            or not math.isfinite(expires_in)
        ):
            raise ValueError("a stored token has an invalid expires_in")
        if not isinstance(expires_at, str):
            raise ValueError("a stored token has no expires_at")  # noqa: TRY004
        token_type = _optional_text(data, "token_type") or "bearer"
        client_id, username = _optional_text(data, "client_id"), _optional_text(data, "username")
        try:
            moment = _utc(dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00")))
        except (TypeError, ValueError, OverflowError):
            raise ValueError("a stored token has an invalid expires_at") from None
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_in=float(expires_in),
            expires_at=moment,
            token_type=token_type,
            client_id=client_id,
            username=username,
        )

    def __repr__(self) -> str:
        return (
            f"Token(access_token='***', refresh_token={'***' if self.refresh_token else None},"
            f" expires_in={self.expires_in:g}, expires_at={self.expires_at.isoformat()!r})"
        )

    __str__ = __repr__


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"a stored token has an invalid {key}")
    return value
