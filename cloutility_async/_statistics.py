"""What the client has done, as a frozen snapshot (``Cloutility.statistics()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._auth import TokenStatistics
    from ._exchanges import SenderStatistics

__all__ = ["NOTHING_YET", "ClientStatistics", "snapshot"]


@attrs.frozen
class ClientStatistics:
    """A snapshot of what the client has done, for monitoring and benchmarks.

    ``requests``, ``in_flight`` and ``peak_in_flight`` count API requests
    (each attempt), which all wait for the limiter, so ``peak_in_flight`` is
    at most ``max_concurrency``; the OAuth grants, which never queue behind
    the requests waiting for them, are counted in ``grants``.
    """

    requests: int
    retries: int
    replays_after_401: int
    in_flight: int
    peak_in_flight: int
    password_grants: int
    refresh_grants: int
    refresh_refused: int
    proactive_refreshes: int
    token_waits: int
    #: Values the models could not read (each is in a model's ``unparsed``).
    schema_drift: int = 0
    #: Renewals that took a token another client had saved in the token store.
    tokens_from_store: int = 0
    #: Renewals that could not use the token store and granted a token of their own.
    token_store_failures: int = 0
    #: DELETEs retried after an attempt that may have deleted, then answered 404: done.
    deletes_already_gone: int = 0
    #: Requests sent to the OAuth endpoint (each attempt), apart from ``requests``.
    grants: int = 0


#: The statistics of a client that has not been entered yet.
NOTHING_YET = ClientStatistics(
    requests=0,
    retries=0,
    replays_after_401=0,
    in_flight=0,
    peak_in_flight=0,
    password_grants=0,
    refresh_grants=0,
    refresh_refused=0,
    proactive_refreshes=0,
    token_waits=0,
)


def snapshot(
    sender: SenderStatistics, token: TokenStatistics, schema_drift: int
) -> ClientStatistics:
    """The statistics now, from the sender's and the token manager's counters."""
    return ClientStatistics(
        requests=sender.requests,
        retries=sender.retries,
        replays_after_401=sender.replays_after_401,
        in_flight=sender.in_flight,
        peak_in_flight=sender.peak_in_flight,
        password_grants=token.password_grants,
        refresh_grants=token.refresh_grants,
        refresh_refused=token.refresh_refused,
        proactive_refreshes=token.proactive_refreshes,
        token_waits=token.waits,
        tokens_from_store=token.tokens_from_store,
        token_store_failures=token.token_store_failures,
        schema_drift=schema_drift,
        deletes_already_gone=sender.deletes_already_gone,
        grants=sender.grants,
    )
