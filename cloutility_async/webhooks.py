"""Receive the portal's billing notifications: ``BillingWebhook``, an ASGI app.

Host it with any ASGI server (its lifespan holds the task group callbacks
run in), or mount it in Starlette/FastAPI and enter ``webhook.running()`` in
the parent app's lifespan::

    api = Cloutility.from_env()

    async def on_billing(data: BillingData, note: BillingNotification) -> None:
        ...  # hand the billing data to your invoicing

    webhook = BillingWebhook(secret, billing_fetcher(api, bunit_id, on_billing))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with api, webhook.running():
            yield

    app = Starlette(routes=[Mount("/baas-report", app=webhook)], lifespan=lifespan)
"""

from ._public import say_public as _say_public
from ._webhooks import (
    BillingCallback,
    BillingNotification,
    BillingWebhook,
    WebhookStatistics,
    billing_fetcher,
    code_matches,
    fetch_latest_billing,
    parse_billing_notification,
)

__all__ = [
    "BillingCallback",
    "BillingNotification",
    "BillingWebhook",
    "WebhookStatistics",
    "billing_fetcher",
    "code_matches",
    "fetch_latest_billing",
    "parse_billing_notification",
]

# Reprs and tracebacks say ``cloutility_async.webhooks.BillingWebhook``.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__ == "cloutility_async._webhooks":
        _say_public(_obj, __name__)
    elif getattr(_obj, "__module__", "") == "cloutility_async._webhooks":
        _obj.__module__ = __name__
del _name, _obj, _say_public
