"""The documentation: docstrings that the API reference renders, and the site's coverage."""

from __future__ import annotations

import inspect
import re

from cloutility_async import Cloutility


def documented_args(doc: str) -> set[str]:
    """The names of a Google-style ``Args:`` section."""
    section = re.search(r"^Args:\n((?:(?: .*)?\n?)*)", doc, re.M)
    assert section, "no Args: section"
    return set(re.findall(r"^ {4}(\w+):", section.group(1), re.M))


def test_help_of_the_client_describes_every_constructor_argument() -> None:
    """``help(Cloutility)`` names and explains each keyword of ``Cloutility(...)``."""
    parameters = set(inspect.signature(Cloutility).parameters)
    assert documented_args(inspect.getdoc(Cloutility) or "") == parameters
