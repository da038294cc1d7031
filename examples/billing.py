import contextlib
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount

from cloutility_async import BillingData, Cloutility
from cloutility_async.webhooks import BillingNotification, BillingWebhook, billing_fetcher

api = Cloutility.from_env()
logger = logging.getLogger("billing")


async def on_billing(data: BillingData, note: BillingNotification) -> None:
    for invoice in data.invoices:  # push each invoice to your invoicing system here
        logger.info("%s: invoice %s, %d lines", note.trigger, invoice.id, len(invoice.lines))


webhook = BillingWebhook(os.environ["BILLING_SECRET"], billing_fetcher(api, 22, on_billing))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with api, webhook.running():  # mounted apps get no lifespan of their own
        yield


app = Starlette(routes=[Mount("/baas-report", app=webhook)], lifespan=lifespan)
