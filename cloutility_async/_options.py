"""The client's keyword options as a ``TypedDict``: typed ``**options`` everywhere.

``Cloutility.from_env(**options)`` and the blocking facade take the client's
options through ``Unpack[ClientOptions]``, so a type checker rejects a
misspelt option (``max_concurency=8``) and checks each value's type; at run
time ``check_options`` names a misspelt one before anything else happens.
``tests/test_client_options.py`` pins these keys to ``Cloutility.__init__``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypedDict

import httpx

from ._auth import TokenHook
from ._exceptions import ConfigurationError
from ._instrumentation import Hooks
from ._retry import RetryPolicy
from ._stores import TokenStore

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["ClientOptions", "SessionOptions", "Unpack", "check_options"]


class SessionOptions(TypedDict, total=False):
    """The client's options besides its credentials (all optional)."""

    base_url: str
    max_concurrency: int
    max_retries: int | None
    timeout: float | httpx.Timeout
    refresh_margin: float
    transport: httpx.AsyncBaseTransport | None
    on_token: TokenHook | None
    backoff_base: float | None
    max_retry_after: float | None
    strict: bool
    token_store: TokenStore | None
    hooks: Iterable[Hooks]
    retry: RetryPolicy | None


class ClientOptions(SessionOptions, total=False):
    """Every keyword argument of ``Cloutility(...)``, each optional.

    What ``Cloutility.from_env(**options)`` takes to override the environment,
    and what ``Simulator.client_options()`` returns:
    ``Cloutility(**{**sim.client_options(), "max_retries": 0})`` type-checks.
    """

    client_id: str
    origin: str
    username: str
    password: str


def check_options(given: Iterable[str]) -> None:
    """Raise ``ConfigurationError`` naming the first option ``Cloutility`` does not take."""
    names = ClientOptions.__required_keys__ | ClientOptions.__optional_keys__
    for name in given:
        if name not in names:
            import difflib  # a misspelt option's suggestion only

            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(f"unknown option {name!r}{hint}")
