"""The blocking proxies: each wraps the async proxy of the same name.

Every method is the async proxy's own, called through the portal
(``blocking``), so parameters, checks, retries and errors are the async
SDK's. Only what cannot be the same is written here: a proxy that returns
another proxy returns the blocking one, a paged listing is a plain iterator,
and an upload also takes a plain iterable of chunks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from typing import Generic, TypeAlias, TypeVar

import attrs
import httpx

from .. import _resources as aio
from .. import _walk
from .._models import (
    Collection,
    Consumer,
    InvoiceFile,
    SimpleBusinessUnit,
)
from ._portal import HasRunner, Runner, blocking, iterating, pulled

__all__ = [
    "BusinessUnitRef",
    "CollectionRef",
    "ConsumerEntry",
    "ConsumerRef",
    "InvoiceFileSource",
    "NodeRef",
    "Ref",
    "ResourceRef",
    "TimeZoneRef",
    "wrap_ref",
]

M = TypeVar("M")

#: What the blocking ``upload_invoice_file`` accepts: a path, the file's bytes,
#: or an iterable of byte chunks (read one at a time, in a worker thread).
InvoiceFileSource: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | Iterable[bytes]
)


class Ref(HasRunner):
    """Base of the blocking proxies: the async proxy it wraps, and its ``href``."""

    __slots__ = ()
    _async: aio.Ref

    @property
    def href(self) -> httpx.URL:
        """The absolute URL this proxy stands for."""
        return self._async.href

    def __repr__(self) -> str:  # a signed link's credential REDACTED, as the async proxy's
        return f"<sync.{repr(self._async)[1:]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and type(other) is type(self) and other._async == self._async

    def __hash__(self) -> int:
        return hash((type(self), self._async))


class NodeRef(Ref):
    """The backup node of a consumer; no I/O until a method is called."""

    __slots__ = ()
    _async: aio.NodeRef

    @property
    def bunit_id(self) -> int:
        """The id of the consumer's business unit."""
        return self._async.bunit_id

    @property
    def consumer_id(self) -> int:
        """The id of the consumer whose node this is."""
        return self._async.consumer_id

    get = blocking(aio.NodeRef.get)
    create = blocking(aio.NodeRef.create)
    update = blocking(aio.NodeRef.update)
    delete = blocking(aio.NodeRef.delete)
    set_password = blocking(aio.NodeRef.set_password)
    suggested_name = blocking(aio.NodeRef.suggested_name)
    activate = blocking(aio.NodeRef.activate)
    filespaces = blocking(aio.NodeRef.filespaces)
    possible_proxy_nodes = blocking(aio.NodeRef.possible_proxy_nodes)
    add_proxy_agent = blocking(aio.NodeRef.add_proxy_agent)
    remove_proxy_agent = blocking(aio.NodeRef.remove_proxy_agent)
    add_proxy_target = blocking(aio.NodeRef.add_proxy_target)
    remove_proxy_target = blocking(aio.NodeRef.remove_proxy_target)


class ConsumerRef(Ref):
    """A consumption unit; no I/O until a method is called."""

    __slots__ = ()
    _async: aio.ConsumerRef

    @property
    def id(self) -> int:
        """The consumer's id."""
        return self._async.id

    @property
    def bunit_id(self) -> int:
        """The id of the consumer's business unit."""
        return self._async.bunit_id

    @property
    def node(self) -> NodeRef:
        """The consumer's backup node (one to one); no I/O."""
        return NodeRef(self._runner, self._async.node)

    get = blocking(aio.ConsumerRef.get)
    update = blocking(aio.ConsumerRef.update)
    delete = blocking(aio.ConsumerRef.delete)
    reports = blocking(aio.ConsumerRef.reports)
    latest_report = blocking(aio.ConsumerRef.latest_report)
    first_job = blocking(aio.ConsumerRef.first_job)
    jobs = blocking(aio.ConsumerRef.jobs)

    audit_log = iterating(aio.ConsumerRef.audit_log)


class BusinessUnitRef(Ref):
    """A business unit; no I/O until a method is called."""

    __slots__ = ()
    _async: aio.BusinessUnitRef

    @property
    def id(self) -> int:
        """The business unit's id."""
        return self._async.id

    def consumer(self, consumer_id: int | str) -> ConsumerRef:
        """A proxy for one consumption unit; no I/O."""
        return ConsumerRef(self._runner, self._async.consumer(consumer_id))

    def upload_invoice_file(
        self,
        file: InvoiceFileSource,
        *,
        filename: str | None = None,
        content_type: str = "application/pdf",
        erp_reference: str | None = None,
        send_to_billing_address: bool = False,
    ) -> InvoiceFile:
        """Upload an invoice document (see the async ``upload_invoice_file``).

        ``file`` may also be a plain iterable of byte chunks (a generator
        reading a stream, say); it is read one chunk at a time in a worker
        thread and sent chunked.
        """
        source: aio.InvoiceFileSource
        if isinstance(file, (str, os.PathLike, bytes, bytearray, memoryview)):
            source = file
        else:
            source = _chunks(pulled(file))
        return self._runner.call(
            self._async.upload_invoice_file,
            source,
            filename=filename,
            content_type=content_type,
            erp_reference=erp_reference,
            send_to_billing_address=send_to_billing_address,
        )

    get = blocking(aio.BusinessUnitRef.get)
    update = blocking(aio.BusinessUnitRef.update)
    delete = blocking(aio.BusinessUnitRef.delete)
    children = blocking(aio.BusinessUnitRef.children)
    create_child = blocking(aio.BusinessUnitRef.create_child)
    users = blocking(aio.BusinessUnitRef.users)
    consumers = blocking(aio.BusinessUnitRef.consumers)
    create_consumer = blocking(aio.BusinessUnitRef.create_consumer)
    default_server = blocking(aio.BusinessUnitRef.default_server)
    domains = blocking(aio.BusinessUnitRef.domains)
    client_option_sets = blocking(aio.BusinessUnitRef.client_option_sets)
    contract = blocking(aio.BusinessUnitRef.contract)
    invoices = blocking(aio.BusinessUnitRef.invoices)
    invoice = blocking(aio.BusinessUnitRef.invoice)
    invoices_csv = blocking(aio.BusinessUnitRef.invoices_csv)
    invoice_csv = blocking(aio.BusinessUnitRef.invoice_csv)
    invoice_files = blocking(aio.BusinessUnitRef.invoice_files)
    download_invoice_file = blocking(aio.BusinessUnitRef.download_invoice_file)
    download_invoice_file_to = blocking(aio.BusinessUnitRef.download_invoice_file_to)
    billing = blocking(aio.BusinessUnitRef.billing)
    billing_for = blocking(aio.BusinessUnitRef.billing_for)
    billing_csv = blocking(aio.BusinessUnitRef.billing_csv)


class TimeZoneRef(Ref):
    """A time zone; no I/O until a method is called."""

    __slots__ = ()
    _async: aio.TimeZoneRef

    @property
    def id(self) -> int:
        """The time zone's id."""
        return self._async.id

    get = blocking(aio.TimeZoneRef.get)
    utc_offset = blocking(aio.TimeZoneRef.utc_offset)


class ResourceRef(Ref, Generic[M]):
    """Any single resource of the model type ``M``."""

    __slots__ = ()
    _async: aio.ResourceRef[M]

    @property
    def model(self) -> type[M]:
        """The model class ``get()`` returns."""
        return self._async.model

    def get(self) -> M:
        """Fetch the full resource."""
        return self._runner.call(self._async.get)


class CollectionRef(Ref, Generic[M]):
    """A linked collection of ``M``: ``list()`` fetches its members."""

    __slots__ = ()
    _async: aio.CollectionRef[M]

    @property
    def model(self) -> type[M]:
        """The model class of the members."""
        return self._async.model

    def list(self) -> list[M]:
        """Fetch the collection's members (thin objects, as list routes send them)."""
        return self._runner.call(self._async.list)

    def page(self) -> Collection[M]:
        """Fetch the collection with its ``total``, ``offset`` and ``first``."""
        return self._runner.call(self._async.page)


@attrs.frozen
class ConsumerEntry(_walk.ConsumerFields):
    """A consumer found by ``walk_consumers``: its unit, its (thin) model and a proxy.

    As the async ``ConsumerEntry``, with a blocking ``ref``
    (``entry.ref.node.get()``).
    """

    bunit: SimpleBusinessUnit
    consumer: Consumer
    ref: ConsumerRef

    @classmethod
    def of(cls, runner: Runner, entry: _walk.ConsumerEntry) -> ConsumerEntry:
        """The blocking twin of an async entry."""
        return cls(entry.bunit, entry.consumer, ConsumerRef(runner, entry.ref))


_SYNC_OF: dict[type[aio.Ref], type[Ref]] = {
    aio.BusinessUnitRef: BusinessUnitRef,
    aio.ConsumerRef: ConsumerRef,
    aio.NodeRef: NodeRef,
    aio.TimeZoneRef: TimeZoneRef,
    aio.ResourceRef: ResourceRef,
    aio.CollectionRef: CollectionRef,
    aio.Ref: Ref,
}


def wrap_ref(runner: Runner, ref: aio.Ref) -> Ref:
    """The blocking proxy of an async one (the class of the same name)."""
    return _SYNC_OF[type(ref)](runner, ref)


async def _chunks(source: Iterable[bytes] | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if isinstance(source, AsyncIterator):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk
