"""Token stores: where clients that share a login keep their token (see ``_base``)."""

from __future__ import annotations

from ._base import TokenStore
from ._file import FileTokenStore
from ._memory import MemoryTokenStore
from ._redis import RedisTokenStore

__all__ = ["FileTokenStore", "MemoryTokenStore", "RedisTokenStore", "TokenStore"]
