"""A faithful in-memory Cloutility portal for tests: ``Simulator``, faults, stats, fixtures.

In-process (no sockets)::

    sim = Simulator(consumers=40, seed=0)
    async with Cloutility(**sim.client_options()) as api:  # httpx.ASGITransport(sim.app)
        ...

On a loopback socket::

    with sim.serve_in_thread() as base_url:  # "http://127.0.0.1:<port>/v1/"
        async with Cloutility(**sim.client_options(base_url)) as api:
            ...

or from a shell: ``python -m cloutility_async.testing serve --port 8080`` (it prints
``export CLOUTILITY_...=`` lines; ``GET /_simulator/stats`` answers the counters).
``Simulator(drift=True)`` sends the deviations the vendor's pages warn about
(:class:`Drift`), seeded and reproducible.

Faults are set at run time on ``sim.faults`` (latency, 429 with ``Retry-After``, 5xx,
HTML pages, dropped connections, and a deterministic queue with
:meth:`Faults.inject`); ``sim.stats`` counts grants, requests by route, rejections by
reason and creations.  Billing subscribers: ``sim.test_billing_subscriber(url)`` sends
what the portal's "Test" button sends (``Expect: 100-continue`` and all) to a loopback
URL, ``sim.add_billing_subscriber`` / ``sim.notify_billing_subscribers`` post new-data
notifications.  The simulator never imports the SDK: it judges it from outside.

Simulator choices where the reference is silent: ``POST`` creations answer ``200``;
``DELETE`` of a consumer, business unit or proxy answers ``204`` while ``DELETE .../node``
answers ``200`` with the deleted node (as public clients expect); audit logs return at
most ``limit`` entries (default 100); creating a consumer whose name exists on another
business unit moves it there (``sim.world.move_on_duplicate_name = False`` disables).
"""

from ._app import FULL_VERSION
from ._auth import ClientRegistration
from ._drift import DRIFT_KINDS, Drift
from ._faults import Faults, InjectedFault, SimulatedDisconnect
from ._simulator import DEMO_CLIENT_ID, Simulator
from ._stats import SimulatorStats
from ._subscribers import BillingSubscriber, SubscriberTestResult
from ._world import ApiError, World

__all__ = [
    "DEMO_CLIENT_ID",
    "DRIFT_KINDS",
    "FULL_VERSION",
    "ApiError",
    "BillingSubscriber",
    "ClientRegistration",
    "Drift",
    "Faults",
    "InjectedFault",
    "SimulatedDisconnect",
    "Simulator",
    "SimulatorStats",
    "SubscriberTestResult",
    "World",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
