"""POST /oauth: the password and refresh-token grants."""

from __future__ import annotations

from urllib.parse import parse_qs

from ..._auth import AuthState, GrantError, Token
from .._context import Ctx
from .._responses import CT_JSON, JSON, Response, dumps
from .._router import RouteSpec


def oauth(ctx: Ctx) -> Response:
    form = {
        k: v[0]
        for k, v in parse_qs(ctx.body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }
    origin = ctx.origin.decode("latin-1") if ctx.origin is not None else None
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    try:
        token = _grant(ctx.auth, grant_type, client_id, origin, form)
    except GrantError as exc:
        ctx.stats.rejections[exc.reason] += 1
        err = {"error": exc.error, "error_description": exc.description}
        return Response(400, dumps(err).encode())
    ctx.stats.grants[grant_type] += 1
    body: JSON = {
        "access_token": token.value,
        "token_type": "bearer",
        "expires_in": int(ctx.auth.token_lifetime),
        "refresh_token": token.session.refresh_token,
    }
    return Response(
        200,
        dumps(body).encode(),
        CT_JSON,
        [(b"cache-control", b"no-cache"), (b"pragma", b"no-cache")],
    )


def _grant(
    auth: AuthState, grant_type: str, client_id: str, origin: str | None, form: dict[str, str]
) -> Token:
    if grant_type == "password":
        return auth.password_grant(
            client_id, origin, form.get("username", ""), form.get("password", "")
        )
    if grant_type == "refresh_token":
        return auth.refresh_grant(client_id, origin, form.get("refresh_token", ""))
    raise GrantError(
        "unsupported_grant_type",
        f"The grant type '{grant_type}' is not supported.",
        "unsupported_grant_type",
    )


ROUTES: list[RouteSpec] = [
    ("POST", "oauth", oauth),
]
