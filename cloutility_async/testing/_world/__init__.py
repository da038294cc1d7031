"""The simulator's in-memory portal state (``Simulator.world``)."""

from __future__ import annotations

from ._generation import ApiError, World

__all__ = ["ApiError", "World"]
