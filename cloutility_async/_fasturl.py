"""URLs built from a base URL's parsed parts, without parsing, that know their own text.

Proxies build a URL for every request of a bulk run. A `BuiltURL` is httpx's own
``URL`` whose parsed form (httpx's named tuple) is made directly from the base's
parts and a path of checked ids, and whose ``str()`` (a flight's key, the send
path) is the text it was built from, not the parts joined again. Its own module:
it subclasses ``httpx.URL``, so it is imported by the first ``Base``, not by
``import cloutility_async`` (httpx loads with a client).
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["BuiltURL", "build", "works"]

_ParseResult = type(httpx.URL()._uri_reference)
_new_tuple = tuple.__new__


class BuiltURL(httpx.URL):
    """An ``httpx.URL`` built from parts whose text is known."""

    _text: str

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        """httpx's ``URL('...')`` (password masked): the subclass is an implementation detail."""
        return "URL" + httpx.URL.__repr__(self).removeprefix(type(self).__name__)

    def with_query(self, query: str) -> httpx.URL:
        """This URL with ``query`` (already encoded) as its query; it must have none."""
        scheme, userinfo, host, port, path, _, _ = self._uri_reference
        prefix = self._text[: len(self._text) - len(path)]
        return build((scheme, userinfo, host, port), prefix, path, query)


def build(head: tuple[Any, ...], prefix: str, path: str, query: str | None) -> httpx.URL:
    """The URL of ``head`` (scheme, userinfo, host, port), ``path`` and ``query``.

    ``prefix`` is the text of ``head`` (``scheme://authority``).
    """
    url = BuiltURL.__new__(BuiltURL)
    url._uri_reference = _new_tuple(_ParseResult, (*head, path, query, None))
    url._text = prefix + path if query is None else f"{prefix}{path}?{query}"
    return url


def works() -> bool:
    """Whether a built URL is what httpx parses (the build leans on httpx's parsed form)."""
    try:
        base = httpx.URL("https://h.example:8443/v1/")
        scheme, userinfo, host, port, _, _, _ = base._uri_reference
        built = build((scheme, userinfo, host, port), "https://h.example:8443", "/v1/b/22", None)
        built = built.with_query(str(httpx.QueryParams({"a": "b c"})))  # type: ignore[attr-defined]
        parsed = httpx.URL("https://h.example:8443/v1/b/22?a=b+c")
        return (
            built == parsed
            and str(built) == str(parsed)
            and built._uri_reference == parsed._uri_reference
            and built.raw_path == parsed.raw_path
        )
    except Exception:
        return False
