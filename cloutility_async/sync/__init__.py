"""The blocking client, for synchronous code: cron jobs, notebooks, plain scripts.

```python
from cloutility_async.sync import Cloutility

with Cloutility.from_env() as api:
    print(api.full_version())
    for entry in api.walk_consumers():
        print(entry.bunit.name, entry.name, entry.ref.node.get().tsm_name)
```

``Cloutility`` here has the constructor and the methods of
``cloutility_async.Cloutility``, called without ``await``. It runs that async
client in an event loop of its own thread, so everything but the calling
convention (retries, token refresh, limits, models, errors) is the async SDK's.
"""

from .._public import say_public as _say_public
from ._client import Cloutility
from ._portal import Backend, BlockingIterator
from ._proxies import (
    BusinessUnitRef,
    CollectionRef,
    ConsumerEntry,
    ConsumerRef,
    InvoiceFileSource,
    NodeRef,
    Ref,
    ResourceRef,
    TimeZoneRef,
)

__all__ = [
    "Backend",
    "BlockingIterator",
    "BusinessUnitRef",
    "Cloutility",
    "CollectionRef",
    "ConsumerEntry",
    "ConsumerRef",
    "InvoiceFileSource",
    "NodeRef",
    "Ref",
    "ResourceRef",
    "TimeZoneRef",
]

# Reprs and tracebacks say ``cloutility_async.sync.Cloutility``, not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith(f"{__name__}._"):
        _say_public(_obj, __name__)
del _name, _obj, _say_public
