"""The clients the benchmarks compare, one module each, each run in its own process.

``python benchmarks/_worker.py CLIENT ...`` imports exactly one of them:

- ``sdk``: the SDK (asyncio with its default transport, trio, or httpx's transport);
- ``raw_aiohttp``: a hand-written aiohttp script (``json`` or ``orjson``);
- ``raw_httpx``: the same script on ``httpx.AsyncClient`` and its default transport;
- ``sequential``: the reference's ``requests`` calls, one after another;
- ``sdk_runs``: the SDK-only scenarios (token churn, streaming audit, model memory).

Only ``sdk`` and ``sdk_runs`` import ``cloutility_async``, so that a raw client's memory
and instruction counts never include the SDK's.
"""
