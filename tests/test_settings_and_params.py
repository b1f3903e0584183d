"""ALScope's settings as a strategy run sees them (long tail, open set, per-round records), and strategy
parameters given as NAME.KEY=VALUE."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.data import load_dataset
from alscope_autoal.errors import UserError
from alscope_autoal.loop import run_job
from alscope_autoal.prepare import prepare
from alscope_autoal.profiles import PROFILES
from alscope_autoal.strategies.params import parse_strategy_params
from conftest import smoke_spec


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_long_tail_class_sizes_decay_geometrically(digits):
    prepared = prepare(digits, smoke_spec(imbalance_factor=10.0), PROFILES.get("cpu"))
    counts = np.bincount(prepared.pool_y.numpy())
    n_max = counts[0]
    expected = [round(n_max * 10 ** (-c / 9)) for c in range(10)]
    assert counts.tolist() == expected


def test_open_set_run_records_unknown_queries_and_labeled_class_counts(digits):
    rows = run_job(smoke_spec("random", open_set_ratio=0.4, query_size=30, rounds=2), digits)
    unknown_so_far = 0
    for row in rows:
        unknown_so_far += row["n_queried_unknown"]
        assert row["n_labeled"] == row["n_trainable"] + unknown_so_far  # unknowns cost budget, add no label
        assert len(row["labeled_class_counts"]) == 6 and sum(row["labeled_class_counts"]) == row["n_trainable"]
    assert unknown_so_far > 0  # 40% of the classes are unknown: random sampling hits some


def test_open_set_aware_strategy_wastes_less_budget_than_random(digits):
    spec = dict(open_set_ratio=0.4, initial=60, query_size=40, rounds=1)
    unknown = {s: run_job(smoke_spec(s, **spec), digits)[-1]["n_queried_unknown"] for s in ("random", "lfosa")}
    assert unknown["lfosa"] < unknown["random"]


def test_imbalanced_run_records_per_round_class_counts(digits):
    rows = run_job(smoke_spec("entropy", imbalance_factor=10.0, rounds=1), digits)
    assert [sum(r["labeled_class_counts"]) for r in rows] == [r["n_labeled"] for r in rows]


def test_strategy_params_are_parsed_and_typed():
    params = parse_strategy_params(["bald.passes=7", "probcover.delta=0.3", "bald.passes=9"], ["bald", "probcover"])
    assert params == {"bald": {"passes": 9}, "probcover": {"delta": 0.3}}


def test_rows_store_strategy_params_as_canonical_json_and_older_reprs_still_read():
    from alscope_autoal.analysis.aggregate import arm_name, parse_params
    from alscope_autoal.loop import params_text

    params = {"temperature": 0.5, "candidates": "entropy,margin", "hard_mask": True, "width": 16}
    text = params_text(params)
    assert text == '{"candidates":"entropy,margin","hard_mask":true,"temperature":0.5,"width":16}'
    assert params_text({}) == ""
    legacy = str(params)  # what rows held before the column was JSON
    assert parse_params(text) == parse_params(legacy) == params
    assert arm_name("autoal", text) == arm_name("autoal", legacy) == \
           "autoal(candidates=entropy,margin,hard_mask=True,temperature=0.5,width=16)"
    assert parse_params("not parameters") is None


@pytest.mark.parametrize("item, message", [
    ("bald=3", "malformed"), ("bald.passes", "malformed"), (".passes=3", "malformed"),
    ("entropy.passes=3", "not in --strategies"), ("bald.pases=3", "has no parameter 'pases'; it takes passes"),
    ("bald.passes=1", "at least 2"), ("bald.passes=many", "at least 2"),
])
def test_bad_strategy_params_are_refused_with_one_line(item, message):
    with pytest.raises(UserError, match=message):
        parse_strategy_params([item], ["bald"])


def test_cli_strategy_param_error_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--profile", "smoke", "--strategies", "bald",
                                      "--strategy-param", "bald.pases=20", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error: strategy 'bald' has no parameter 'pases'" in result.output
    assert "Traceback" not in result.output
