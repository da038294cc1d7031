"""OpenTelemetry traces and metrics for the client: ``pip install 'cloutility-async[otel]'``.

Hand an `OpenTelemetryHooks` to the client; the application configures the
OpenTelemetry SDK (providers and exporters) as usual::

    from cloutility_async import Cloutility
    from cloutility_async.otel import OpenTelemetryHooks

    api = Cloutility.from_env(hooks=[OpenTelemetryHooks()])

Only ``opentelemetry-api`` is needed at run time.
"""

from ._public import say_public as _say_public

try:
    from ._otel import INSTRUMENTATION_NAME, OpenTelemetryHooks
except ModuleNotFoundError as exc:
    if not (exc.name or "").startswith("opentelemetry"):
        raise
    raise ModuleNotFoundError(
        "cloutility_async.otel needs opentelemetry-api: pip install 'cloutility-async[otel]'",
        name=exc.name,
    ) from None

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryHooks"]

# Reprs and tracebacks say ``cloutility_async.otel.OpenTelemetryHooks``.
_say_public(OpenTelemetryHooks, __name__)
del _say_public
