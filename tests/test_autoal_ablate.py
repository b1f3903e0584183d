"""`autoal ablate` on digits (smoke profile): runs the variants through bench's machinery, writes the table
(Markdown, CSV, LaTeX) and the figure, and states which candidates each variant used."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from alscope_autoal.ablation import AblationRequest, variants
from alscope_autoal.bench import BenchRequest
from alscope_autoal.errors import UserError
from cli.app import app


def test_ablate_writes_table_and_figure(tmp_path):
    out = tmp_path / "ablation"
    result = CliRunner().invoke(app, [
        "ablate", "--num-candidates", "1,2", "--components", "hard-mask", "--candidates", "entropy,margin",
        "--datasets", "digits", "--profile", "smoke", "--rounds", "1", "--baselines", "random", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for ext in ("md", "csv", "tex", "png"):
        assert (out / f"ablation.{ext}").stat().st_size > 0
    table = pd.read_csv(out / "ablation.csv")
    assert list(table.variant) == ["K=1", "K=2", "K=2 hard-mask", "random"]
    assert list(table.candidates.fillna("")) == ["entropy", "entropy,margin", "entropy,margin", ""]
    assert table.aubc.between(0, 1).all()
    assert "K=2 hard-mask: candidates entropy,margin" in result.output


def test_default_order_is_the_papers_and_components_get_a_reference():
    chosen = variants(AblationRequest(BenchRequest(), num_candidates=(3,), components=("no-loss-head",)))
    assert [(v.name, v.candidates) for v in chosen] == [
        ("K=7", ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio", "mean-std")),
        ("K=3", ("entropy", "margin", "least-confidence")),
        ("K=7 no-loss-head", ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio",
                              "mean-std")),
    ]
    assert chosen[2].params == {"use_loss_head": False}


def test_every_component_names_a_real_autoal_parameter():
    from alscope_autoal.ablation import COMPONENTS
    from alscope_autoal.strategies.autoal import AutoAL

    for name, params in COMPONENTS.items():
        strategy = AutoAL(candidates="entropy,margin", **params)
        assert all(strategy.options.get(k, getattr(strategy, k, None)) == v for k, v in params.items()), name


@pytest.mark.parametrize("request_, message", [
    (AblationRequest(BenchRequest(), num_candidates=(9,)), "out of range"),
    (AblationRequest(BenchRequest(), components=("no-fitnet",)), "unknown component"),
    (AblationRequest(BenchRequest()), "nothing to ablate"),
])
def test_bad_ablations_are_user_errors(request_, message):
    with pytest.raises(UserError, match=message):
        variants(request_)


@pytest.mark.parametrize("args, message", [
    (["--num-candidates", "x"], "comma-separated whole numbers"),
    (["--num-candidates", "9"], "out of range"),
    (["--components", "foo"], "unknown component"),
])
def test_ablate_cli_refuses_bad_options_in_one_line(args, message):
    result = CliRunner().invoke(app, ["ablate", *args, "--datasets", "digits", "--profile", "smoke"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_lookahead_components_each_change_one_autoal_parameter():
    from alscope_autoal.ablation import COMPONENTS
    from alscope_autoal.strategies.autoal import AutoAL, AutoALLookahead

    single = ["frozen-fitnet", "fitnet-val-model", "lookahead", "softmax-mixing", "running-threshold", "query-ratio"]
    for name in single:
        (key, value), = COMPONENTS[name].items()
        assert AutoAL.DEFAULTS[key] != value == AutoALLookahead.DEFAULTS[key]
    whole, strategy = AutoAL(**COMPONENTS["all-lookahead"]), AutoALLookahead()
    for attribute in ("options", "thresholds", "val_model", "loss_weight"):  # all-lookahead is autoal-lookahead
        assert getattr(whole, attribute) == getattr(strategy, attribute)
