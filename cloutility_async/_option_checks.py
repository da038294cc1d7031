"""The client's options, checked: a bad value is a ConfigurationError before anything is sent."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import httpx

from ._exceptions import ConfigurationError
from ._hypermedia import Base
from ._stores import MemoryTokenStore, TokenStore

__all__ = [
    "check_base_url",
    "check_callback",
    "check_flag",
    "check_origin",
    "check_timeout",
    "check_token_store",
    "check_transport",
    "positive",
    "require_text",
]

C = TypeVar("C")


def require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string")
    return value


def _check_http_url(name: str, value: object) -> httpx.URL:
    text = require_text(name, value)
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError(f"{name} is not a valid URL: {text!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{name} must be an http(s) URL with a host, got {text!r}")
    return url


def check_origin(origin: str) -> str:
    """The ``Origin`` header to send: an http(s) origin, its trailing ``/`` dropped."""
    url = _check_http_url("origin", origin)
    return origin.rstrip("/") if url.path in ("", "/") else origin


def check_base_url(base_url: str) -> Base:
    url = _check_http_url("base_url", base_url)
    if url.query or url.fragment:
        raise ConfigurationError(f"base_url must not have a query or fragment, got {base_url!r}")
    return Base(url)


def check_token_store(token_store: object) -> TokenStore:
    """``token_store``, or a ``MemoryTokenStore`` of the client's own for None."""
    if token_store is None:
        return MemoryTokenStore()
    if not isinstance(token_store, TokenStore):
        raise ConfigurationError(
            "token_store must be a TokenStore (load, save and grant_lock),"
            f" got {type(token_store).__name__}"
        )
    return token_store


def positive(name: str, value: Any, *, allow_zero: bool = False, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        kind = "whole number" if integer else "number"
        raise ConfigurationError(f"{name} must be a {kind}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def check_transport(transport: object) -> httpx.AsyncBaseTransport | None:
    if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
        raise ConfigurationError("transport must be an httpx.AsyncBaseTransport")
    return transport


def check_callback(name: str, callback: C) -> C:
    if callback is not None and not callable(callback):
        raise ConfigurationError(f"{name} must be callable, got {callback!r}")
    return callback


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def check_timeout(value: object) -> httpx.Timeout:
    """Seconds for each of connect, read, write and the pool wait, or an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"timeout must be a number or an httpx.Timeout, got {value!r}")
    return httpx.Timeout(positive("timeout", value))
