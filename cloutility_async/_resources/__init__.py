"""Resource proxies: cheap handles whose methods send requests and return models."""

from ._base import CollectionRef, Ref, ResourceRef
from .billing import InvoiceFileSource
from .business_units import BusinessUnitRef
from .catalog import TimeZoneRef
from .consumers import ConsumerRef
from .nodes import NodeRef

__all__ = [
    "BusinessUnitRef",
    "CollectionRef",
    "InvoiceFileSource",
    "ConsumerRef",
    "NodeRef",
    "Ref",
    "ResourceRef",
    "TimeZoneRef",
]
