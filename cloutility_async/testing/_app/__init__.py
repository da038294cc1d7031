"""The simulator's ASGI application (``Simulator.app``)."""

from __future__ import annotations

from ._asgi import FULL_VERSION, SimulatorApp

__all__ = ["FULL_VERSION", "SimulatorApp"]
