"""A small backend over the portal: one client per process, opened in the lifespan."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request

from cloutility_async import Cloutility, FileTokenStore, NotFoundError

# One token file for every worker on this host: they share one login and one refresh.
TOKEN_FILE = os.environ.get("TOKEN_FILE", "~/.cache/cloutility/token.json")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Logs in (or finds a fresh token in the store) here, closes when the app stops.
    store = FileTokenStore(TOKEN_FILE)
    async with Cloutility.from_env(max_concurrency=32, token_store=store) as api:
        app.state.cloutility = api
        yield


app = FastAPI(lifespan=lifespan)


def cloutility(request: Request) -> Cloutility:
    """The process's client, for ``Depends``."""
    api: Cloutility = request.app.state.cloutility
    return api


Api = Annotated[Cloutility, Depends(cloutility)]


@app.get("/bunits/{bunit_id}/consumers")
async def consumers(bunit_id: int, api: Api) -> list[dict[str, Any]]:
    try:
        found = await api.bunit(bunit_id).consumers()
    except NotFoundError:
        raise HTTPException(status_code=404, detail="no such business unit") from None
    return [{"id": c.id, "name": c.name} for c in found]


@app.get("/bunits/{bunit_id}/consumers/{consumer_id}/node")
async def node(bunit_id: int, consumer_id: int, api: Api) -> dict[str, Any]:
    try:
        found = await api.bunit(bunit_id).consumer(consumer_id).node.get()
    except NotFoundError:
        raise HTTPException(status_code=404, detail="no node") from None
    activated = found.activated_date.isoformat() if found.activated_date else None
    return {"name": found.tsm_name, "activated": activated, "locked": found.locked}
