"""The look-ahead search rewards usefulness, the paper's objective rewards hardness: a planted test on digits.

Set-up (real digit images): FitNet is pre-trained on L_fit, which holds almost no 9s, so its held-out loss on
L_hold (rich in 9s) is high. L_val holds three groups, each picked by one candidate:
- "useful": 9s with their true labels (the labels that would most lower the held-out loss);
- "hard": common digits with wrong labels (FitNet's loss on them is highest, and learning them hurts);
- "neutral": common digits with true labels (already learned).
The look-ahead objective must move the candidate weights toward "useful"; the paper's hardness objective
must not (it moves them toward "hard").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alscope_autoal.data import load_dataset
from alscope_autoal.errors import UserError
from alscope_autoal.strategies import make_strategy
from alscope_autoal.strategies.autoal import AutoAL, AutoALLookahead
from alscope_autoal.strategies.autoal.search import LookAhead, SearchConfig, Threshold, search
from alscope_autoal.training import ImageSpec, normalise
from conftest import make_context, rng, smoke_spec

USEFUL, HARD, NEUTRAL = 0, 1, 2
GROUP = 40  # samples per L_val group
RARE = 9


@pytest.fixture(scope="module")
def planted():
    data = load_dataset("digits")
    x, y = data.train_x, data.train_y
    mean, std = data.channel_stats()
    img = ImageSpec(data.n_channels, data.n_classes, mean, std, False)
    draw = np.random.default_rng(0)
    rare = draw.permutation(np.flatnonzero(y.numpy() == RARE))
    common = draw.permutation(np.flatnonzero(y.numpy() != RARE))
    fit = np.concatenate([common[:150], rare[:3]])
    hold = np.concatenate([common[150:250], rare[3:43]])
    val = np.concatenate([rare[43:43 + GROUP], common[250:250 + GROUP], common[290:290 + GROUP]])
    y_val = y[torch.as_tensor(val)].clone()
    hard = slice(GROUP, 2 * GROUP)
    y_val[hard] = (y_val[hard] + torch.from_numpy(draw.integers(1, 9, GROUP))) % 9  # a wrong common class
    assert (y_val[hard] != y[torch.as_tensor(val[hard])]).all()
    picks = torch.zeros(len(val), 3)
    for group in (USEFUL, HARD, NEUTRAL):
        picks[group * GROUP:(group + 1) * GROUP, group] = 1
    on = lambda idx: torch.as_tensor(idx)  # noqa: E731
    return dict(fit=(x[on(fit)], y[on(fit)]), val=(x[on(val)], y_val, picks), hold=(x[on(hold)], y[on(hold)]),
                img=img)


def shares_after_search(planted, **changes) -> np.ndarray:
    """Each candidate's mean share of the effective weights over L_val after one search."""
    cfg = SearchConfig(**(dict(backbone="small-cnn", width=8, pretrain_steps=80, search_steps=100, batch_size=32,
                               lr=0.01, temperature=0.1, ratio=1 / 3) | changes))
    outcome = search(planted["fit"], planted["val"], planted["img"], cfg, 3, torch.device("cpu"), None,
                     planted["hold"])
    with torch.no_grad():
        weights, _ = outcome.net(normalise(planted["val"][0], planted["img"]))
        effective = outcome.net.mixing() * weights
    return (effective / effective.sum(1, keepdim=True)).mean(0).numpy()


def test_lookahead_weights_move_to_the_useful_candidate(planted):
    shares = shares_after_search(planted, objective="lookahead", mixing="softmax", threshold="running",
                                 use_loss_head=False)
    assert shares[USEFUL] > 0.6 > 1 / 3  # from a uniform start
    assert shares[USEFUL] > 4 * max(shares[HARD], shares[NEUTRAL])


def test_paper_hardness_objective_does_not_find_the_useful_candidate(planted):
    shares = shares_after_search(planted)  # the paper's game: joint FitNet, sigmoid mixing, batch threshold
    assert shares[USEFUL] < 1 / 3
    assert shares[HARD] > shares[USEFUL]


def test_lookahead_loss_is_the_held_out_change_after_one_virtual_step():
    """Hand-checkable: two classes, a weight of zeros, one feature, two samples at the held-out sample's place,
    one labeled as the held-out sample is, one the other way; the loss is (CE after - CE before) / eta."""
    weight = torch.zeros(2, 2)  # C=2 classes, d=1 feature + the bias column
    look = LookAhead(weight, val_inputs=torch.tensor([[1.0, 1.0], [1.0, 1.0]]),
                     val_residuals=torch.tensor([[-0.5, 0.5], [0.5, -0.5]]),
                     hold_inputs=torch.tensor([[1.0, 1.0]]), hold_labels=torch.tensor([0]), lr=0.5)
    mask = torch.tensor([1.0, 0.0], requires_grad=True)
    loss = look.loss(torch.tensor([0, 1]), mask, expected=1.0)
    moved = weight - 0.5 * torch.tensor([[-0.5, -0.5], [0.5, 0.5]])  # the first sample's gradient, eta 0.5
    after = torch.nn.functional.cross_entropy(torch.tensor([[1.0, 1.0]]) @ moved.T, torch.tensor([0]))
    expected = (after - torch.log(torch.tensor(2.0))) / 0.5
    assert torch.isclose(loss, expected)
    loss.backward()
    assert mask.grad[0] < 0  # the first sample's label lowers the held-out loss: raise its mask
    assert mask.grad[1] > 0  # the second's pushes the held-out sample the wrong way


def test_running_threshold_averages_the_batch_quantiles():
    running, batch = Threshold("running", 0.5), Threshold("batch", 0.5)
    first, second = torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])
    assert float(running(first)) == float(batch(first)) == 0.5
    assert float(batch(second)) == 2.5
    assert float(running(second)) == pytest.approx(0.9 * 0.5 + 0.1 * 2.5)


def test_softmax_mixing_sums_to_one_and_theta_has_its_own_optimiser(planted):
    from alscope_autoal.strategies.autoal.networks import SearchNet
    from alscope_autoal.strategies.autoal.search import search_optimisers

    net = SearchNet("small-cnn", 1, 3, 8, mixing="softmax")
    assert float(net.mixing().detach().sum()) == pytest.approx(1.0)
    cfg = SearchConfig(backbone="small-cnn", width=8, pretrain_steps=1, search_steps=1, batch_size=8, lr=0.01,
                       temperature=0.1, ratio=0.2, mixing="softmax")
    trunk, theta = search_optimisers(net, cfg)
    assert isinstance(theta, torch.optim.Adam) and theta.param_groups[0]["params"] == [net.theta]
    assert all(p is not net.theta for p in trunk.param_groups[0]["params"])


def test_lookahead_strategy_splits_labeled_set_in_three_and_logs_its_objective():
    ctx = make_context(smoke_spec(), n_extra_labeled=70)
    strategy = make_strategy("autoal-lookahead", {"candidates": "entropy,margin,kmeans"})
    fit, val, hold = strategy.split(ctx)
    labeled = ctx.pool.trainable_indices()
    assert sorted(np.concatenate([fit, val, hold])) == sorted(labeled)
    assert min(len(fit), len(val), len(hold)) == len(labeled) // 3
    selection = strategy.select(ctx, 10, rng())
    picked, log = selection.indices, selection.extras
    assert len(set(picked)) == 10 and not ctx.pool.labeled_mask[picked].any()
    assert np.isfinite(log["autoal_objective_start"]) and np.isfinite(log["autoal_objective_end"])
    assert sum(log[f"autoal_weight_{n}"] for n in ("entropy", "margin", "kmeans")) == pytest.approx(1.0)


def test_lookahead_defaults_differ_from_autoal_only_in_the_documented_choices():
    paper, lookahead = AutoAL.DEFAULTS, AutoALLookahead.DEFAULTS
    changed = {k for k in paper if paper[k] != lookahead[k]}
    assert changed == {"objective", "fitnet_updates", "val_model", "mixing", "threshold", "thresholds", "ratio",
                       "use_loss_head"}
    assert AutoAL().options["objective"] == "hardness"  # autoal stays the paper's formulation


@pytest.mark.parametrize("params, message", [
    ({"objective": "oracle"}, "objective must be one of hardness, lookahead"),
    ({"mixing": "max"}, "mixing must be one of sigmoid, softmax"),
    ({"threshold": "global"}, "threshold must be one of batch, running"),
    ({"fitnet_updates": "never"}, "fitnet_updates must be one of joint, frozen"),
    ({"ratio": "half"}, "ratio"),
    ({"lookahead_lr": 0}, "lookahead_lr > 0"),
    ({"candidates": "entropy,margn"}, "did you mean"),
])
def test_bad_lookahead_parameters_are_one_line_errors(params, message):
    with pytest.raises(UserError, match=message):
        AutoALLookahead(**params)
