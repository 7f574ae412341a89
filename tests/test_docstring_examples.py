"""Every docstring example in obskit runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import obskit

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(obskit.__path__, prefix="obskit.")
    if info.name != "obskit.testing._plugin"  # a pytest plugin: loaded by pytest itself
)


#: Modules whose examples need a library of the `tools` extra that this Python may lack
#: (grafana-foundation-sdk needs Python 3.11).
NEEDS: dict[str, str] = {"obskit._tools.grafana": "grafana_foundation_sdk"}


@pytest.mark.parametrize("name", ["obskit", *MODULES])
def test_docstring_examples(name: str) -> None:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    obskit.shutdown(timeout=1)  # examples may configure obskit; leave nothing behind
