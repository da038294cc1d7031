"""``--demo``: the simulator on a loopback port, so every command works without an account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._exceptions import ConfigurationError
from ._config import Settings

__all__ = ["DEMO_CONSUMERS", "demo_settings"]

DEMO_CONSUMERS = 40


@contextmanager
def demo_settings(
    consumers: int = DEMO_CONSUMERS, *, seed: int = 0, drift: bool = False
) -> Iterator[Settings]:
    """Serve a fresh simulated portal on 127.0.0.1 (a real socket, in a thread) and
    yield the settings that log in to it; the server stops on exit.  ``drift``: the
    portal sends the deviations of the simulator's drift mode."""
    try:
        import uvicorn  # noqa: F401 - serve_in_thread needs it

        from ..testing import Simulator
    except ImportError as exc:  # the simulator's extra (starlette, uvicorn) is missing
        raise ConfigurationError(
            f"--demo needs the simulator ({exc.name} is not installed): "
            "pip install 'cloutility-async[cli]'"
        ) from None
    if consumers < 0:
        raise ConfigurationError(f"--demo-consumers must be >= 0, got {consumers}")
    sim = Simulator(consumers=consumers, seed=seed, drift=drift)
    with sim.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield Settings(**sim.client_options(base_url))
