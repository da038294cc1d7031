"""The model classes as attributes loaded on first read, for annotations: ``models.Consumer``.

The models load on first use, not with the package (most of its import time), so
a module that only names them in annotations cannot import them. Written
``models.Consumer``, with this module as ``models``, such an annotation still
resolves at run time (``typing.get_type_hints``, as FastAPI or cattrs call it):
the first read loads the models.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import *  # noqa: F403
else:

    def __getattr__(name: str) -> object:
        if name.startswith("_"):  # ``__wrapped__``, ``__path__``...: probes load nothing
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from . import _models

        return getattr(_models, name)
