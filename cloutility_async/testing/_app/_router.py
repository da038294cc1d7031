"""The route table: a segment trie matched case-insensitively, as ASP.NET does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._responses import Response

if TYPE_CHECKING:
    from ._context import Ctx

__all__ = ["Handler", "Route", "RouteSpec", "Router"]


Handler = Callable[["Ctx"], Response]
# (method, path template relative to /v1 with {param} segments, handler)
RouteSpec = tuple[str, str, Handler]


class Route:
    """A matched route template and its handlers by method."""

    __slots__ = ("allow", "keys", "methods", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        self.methods: dict[str, Handler] = {}
        self.keys: dict[str, str] = {}
        self.allow = b""


class _Node:
    __slots__ = ("literal", "param", "route")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.route: Route | None = None


class Router:
    """A segment trie; literal segments win over ``{param}`` segments."""

    def __init__(self) -> None:
        self._root = _Node()
        self.routes: dict[str, Route] = {}

    def add(self, method: str, template: str, handler: Handler) -> Route:
        node = self._root
        for seg in template.strip("/").split("/"):
            if seg.startswith("{"):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literal.setdefault(seg.lower(), _Node())
        if node.route is None:
            node.route = Route("/" + template.strip("/"))
            self.routes[node.route.template] = node.route
        route = node.route
        route.methods[method] = handler
        route.keys[method] = f"{method} {route.template}"
        route.allow = ", ".join(sorted(route.methods)).encode()
        return route

    def match(self, segments: list[str]) -> tuple[Route | None, list[str]]:
        params: list[str] = []
        route = self._walk(self._root, segments, 0, params)
        return route, params

    def _walk(self, node: _Node, segs: list[str], i: int, params: list[str]) -> Route | None:
        if i == len(segs):
            return node.route
        seg = segs[i]
        child = node.literal.get(seg.lower())
        if child is not None:
            found = self._walk(child, segs, i + 1, params)
            if found is not None:
                return found
        if node.param is not None and seg:
            params.append(seg)
            found = self._walk(node.param, segs, i + 1, params)
            if found is not None:
                return found
            params.pop()
        return None
