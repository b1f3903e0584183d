"""One conformance suite over every registered strategy: the checks `autoal check` runs
(alscope_autoal/strategies/conformance.py), so a new strategy is tested for free and a strategy from outside the
package is held to exactly what the built-ins pass."""

from __future__ import annotations

import pytest

from alscope_autoal.strategies import STRATEGIES
from alscope_autoal.strategies.conformance import check_strategy
from conftest import TEST_DEVICE

ALL = STRATEGIES.names()


def failed_checks(name: str, family: str) -> dict[str, str]:
    results = check_strategy(name, families=(family,), device=str(TEST_DEVICE))
    assert len(results) == 8
    return {result.name.split(" (")[0]: result.reason for result in results if not result.passed}


def assert_conforms(name: str, family: str) -> None:
    failed = failed_checks(name, family)
    assert not failed, failed


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_passes_the_checks_with_the_cnn_on_images(name):
    assert_conforms(name, "cnn")


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_every_strategy_passes_the_checks_with_the_linear_head_on_embeddings(name):
    assert_conforms(name, "linear")


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_is_described(name):
    assert len(STRATEGIES.describe(name)) > 10
