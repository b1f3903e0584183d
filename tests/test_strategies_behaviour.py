"""Each strategy's defining behaviour on a case small enough to check by hand, plus property tests.

Most cases use a synthetic context: a real QueryContext whose forward pass (logits, embeddings) is preset, with a
linear head behind dropout, so MC dropout, ALFA-Mix and the gradient strategies run exactly as in a job.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from alscope_autoal.pool import LabelState
from alscope_autoal.profiles import PROFILES
from alscope_autoal.strategies import QueryContext, make_strategy
from alscope_autoal.strategies.batchbald import BatchBALD
from alscope_autoal.strategies.gradient import (badge_factors, expected_gradient_length, factored_distance_to,
                                                gradient_embedding)
from alscope_autoal.strategies.learning_loss import feature_taps, ranking_loss
from alscope_autoal.strategies.mc_dropout import bald_score, mean_std, variation_ratio
from alscope_autoal.strategies.open_set import lfosa_scores
from alscope_autoal.strategies.uncertainty import entropy
from alscope_autoal.training import ImageSpec
from conftest import rng


class LinearModel(nn.Module):
    """embed = flatten of the (already numeric) input; head = dropout + linear, like the task models."""

    def __init__(self, weight: torch.Tensor, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.classifier.weight.copy_(weight)
            self.classifier.bias.zero_()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def synthetic(z, labeled=(), logits=None, labels=None, weight=None, dropout=0.0) -> QueryContext:
    """A context over embeddings z (n, d); logits default to z @ weight^T (weight default: identity)."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    weight = torch.eye(z.shape[1]) if weight is None else torch.as_tensor(weight, dtype=torch.float32)
    model = LinearModel(weight, dropout).eval()
    logits = model.classifier(z).detach() if logits is None else torch.as_tensor(logits, dtype=torch.float32)
    n, c = logits.shape
    pool = LabelState(n)
    if len(labeled):
        pool.label(np.asarray(labeled), 0)
    y = torch.zeros(n, dtype=torch.long) if labels is None else torch.as_tensor(labels)
    spec = ImageSpec(1, c, torch.zeros(1), torch.ones(1), False)
    ctx = QueryContext(model, pool, torch.zeros(n, 1, 1, 1, dtype=torch.uint8), y, spec, PROFILES.get("smoke"),
                       torch.device("cpu"), 0, seed=0)
    ctx._cache["forward"] = (logits, z)
    return ctx


def on_circle(degrees) -> np.ndarray:
    rad = np.radians(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(rad), np.sin(rad)], 1)


def pick(name: str, ctx: QueryContext, budget: int, **params) -> list[int]:
    return sorted(make_strategy(name, params).select(ctx, budget, rng(0)).indices.tolist())


# ---- AutoAL's candidates ------------------------------------------------------------------------------------

def test_kmeans_takes_the_sample_nearest_each_centre():
    z = [[-1, 0], [0, 0], [1, 0], [99, 0], [100, 0], [101, 0]]
    assert pick("kmeans", synthetic(z), 2) == [1, 4]


def test_mc_statistics_on_hand_made_passes():
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]]])  # (T=4, n=1, C=2)
    uniform = torch.full((4, 1, 2), 0.5)
    assert bald_score(disagree).item() == pytest.approx(math.log(2))
    assert bald_score(uniform).item() == pytest.approx(0, abs=1e-9)
    assert mean_std(disagree).item() == pytest.approx(0.5)
    three_of_four = torch.tensor([[[0.9, 0.1]], [[0.8, 0.2]], [[0.6, 0.4]], [[0.3, 0.7]]])
    assert variation_ratio(three_of_four).item() == pytest.approx(0.25)


def test_mc_dropout_strategies_sample_passes_with_dropout_on_and_bn_frozen(digits_context):
    ctx = digits_context
    candidates = ctx.pool.unlabeled_indices()
    mc = ctx.mc_probs(candidates, 7)
    assert mc.shape == (7, len(candidates), ctx.n_classes)
    assert not torch.allclose(mc[0], mc[1])  # dropout is active
    assert not ctx.model.training and not any(m.training for m in ctx.model.modules())  # eval afterwards
    assert mean_std(mc).max() > 0 and bald_score(mc).max() > 0


def test_mc_dropout_masks_are_consistent_across_the_pool(monkeypatch):
    """Consistent MC dropout (Kirsch et al. 2019): pass k draws ONE mask for the whole pool, so the same input
    at two positions, even in different chunks, gets the same probabilities within a pass; passes differ."""
    import alscope_autoal.strategies.base as base

    monkeypatch.setattr(base, "MC_CHUNK", 3)  # positions 0 and 4 fall in different chunks
    z = np.random.default_rng(0).normal(size=(6, 8))
    z[4] = z[0]
    ctx = synthetic(z, weight=np.random.default_rng(1).normal(size=(3, 8)), dropout=0.5)
    mc = ctx.mc_probs(np.arange(6), 10)
    assert torch.allclose(mc[:, 0], mc[:, 4], atol=1e-6)
    assert not torch.allclose(mc[0, 0], mc[1, 0])
    other_subset = ctx.mc_probs(np.array([0, 2]), 10)  # a pass is one draw of the weights, whatever the subset
    assert torch.allclose(mc[:, 0], other_subset[:, 0], atol=1e-6)


def test_passes_is_a_parameter_of_the_mc_strategies():
    z = np.random.default_rng(0).normal(size=(30, 4))
    for name in ("bald", "var-ratio", "mean-std", "max-entropy"):
        ctx = synthetic(z, dropout=0.5)
        make_strategy(name, {"passes": 5}).select(ctx, 3, rng(0))
        assert [k[1] for k in ctx._cache if k[0] == "mc"] == [5]


def test_bald_prefers_disagreement_to_agreed_uncertainty():
    """Two samples of equal predictive entropy: BALD picks the one whose passes disagree."""
    z = np.zeros((2, 2))
    ctx = synthetic(z)
    ctx._cache[("mc", 4, np.arange(2).tobytes())] = torch.cat(
        [torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]]]), torch.full((4, 1, 2), 0.5)], 1)
    assert pick("bald", ctx, 1, passes=4) == [0]
    assert entropy(ctx.mc_probs(np.arange(2), 4).mean(0)).tolist() == pytest.approx([math.log(2)] * 2)


# ---- diversity and coverage -----------------------------------------------------------------------------------

def test_coreset_picks_the_point_farthest_from_the_labeled_set_then_from_its_picks():
    z = [[0, 0], [1, 0], [2, 0], [6, 0], [10, 0], [11, 0]]
    ctx = synthetic(z, labeled=[0])
    assert make_strategy("coreset").select(ctx, 2, rng(0)).indices.tolist() == [5, 3]


def test_badge_gradient_embedding_is_the_last_layer_gradient():
    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g, requires_grad=True)
    probs = torch.softmax(h @ w.T, 1)
    for i in range(5):
        loss = nn.functional.cross_entropy((h[i] @ w.T)[None], probs[i].argmax()[None])
        (grad,) = torch.autograd.grad(loss, w)
        assert torch.allclose(gradient_embedding(probs.detach(), h)[i], grad.flatten(), atol=1e-6)
    explicit = gradient_embedding(probs.detach(), h)
    distance_to = factored_distance_to(badge_factors(probs.detach()), h)
    assert torch.allclose(distance_to(2), ((explicit - explicit[2]) ** 2).sum(1), atol=1e-5)


def test_badge_starts_from_the_largest_gradient():
    z = np.array([[0.1, 0.0], [3.0, 2.9], [0.0, 0.2], [0.05, 0.05]])  # sample 1: large features, split vote
    assert make_strategy("badge").select(synthetic(z), 1, rng(0)).indices.tolist() == [1]


def test_egl_equals_the_expected_norm_of_the_last_layer_gradient():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(3, 4, generator=g)
    layer = nn.Linear(4, 3)
    probs = torch.softmax(layer(h), 1).detach()
    for i in range(3):
        expected = 0.0
        for y in range(3):
            layer.zero_grad()
            nn.functional.cross_entropy(layer(h[i:i + 1]), torch.tensor([y])).backward()
            norm = torch.cat([layer.weight.grad.flatten(), layer.bias.grad]).norm()
            expected += probs[i, y].item() * norm.item()
        assert expected_gradient_length(probs, h)[i].item() == pytest.approx(expected, rel=1e-5)


def test_typiclust_takes_the_densest_point_of_the_uncovered_cluster():
    covered = list(range(-4, 5))  # labeled cluster around 0 degrees
    uncovered = [70, 86, 88, 89.5, 90, 90.5, 92, 94, 110]  # 90 has the closest 4 neighbours
    ctx = synthetic(on_circle(covered + uncovered), labeled=[4])
    assert pick("typiclust", ctx, 1) == [len(covered) + uncovered.index(90)]


def test_probcover_takes_the_ball_that_covers_most_uncovered_points():
    ctx = synthetic(on_circle([0, 1, 2, 3, 4, 60, 120]))
    delta = float(np.linalg.norm(on_circle([0])[0] - on_circle([2.5])[0]))
    assert pick("probcover", ctx, 1, delta=delta) == [2]
    assert pick("probcover", ctx, 3, delta=delta) == [2, 5, 6]  # then the isolated ones


def test_cluster_margin_takes_low_margins_from_distinct_clusters():
    z = np.array([[5.0, 0], [0, 5.0], [0.5, 0.5], [0.52, 0.5], [10.5, 10.5], [10.52, 10.5]])
    picked = pick("cluster-margin", synthetic(z), 2, ratio=2)
    assert len(set(picked) & {2, 3}) == 1 and len(set(picked) & {4, 5}) == 1


def test_alfa_mix_picks_the_sample_whose_label_flips_towards_an_anchor():
    z = [[1.0, 0.0], [0.0, 1.0], [0.52, 0.48], [5.0, -5.0], [-5.0, 5.0]]  # far: margin 10 > distance to anchors
    ctx = synthetic(z, labeled=[0, 1], labels=[0, 1, 0, 0, 1])
    selection = make_strategy("alfa-mix").select(ctx, 1, rng(0))
    assert selection.indices.tolist() == [2]
    assert selection.extras == {"alfamix_candidates": 1}  # the far samples never flip


def test_alfa_mix_interpolation_stays_within_eps_and_keeps_negative_alphas():
    """The closed-form alpha* = eps' ||z* - z|| g / ||g|| / (z* - z) moves z along the loss gradient g by
    eps' ||z* - z|| with eps' = eps / sqrt(d) (as the authors' code), never more than eps ||z* - z||; alphas
    below 0 (g points away from the anchor) are kept, not clamped."""
    gen = np.random.default_rng(3)
    z, weight = gen.normal(size=(6, 4)), gen.normal(size=(3, 4))
    ctx = synthetic(z, weight=weight)
    anchors = torch.as_tensor(gen.normal(size=(3, 4)), dtype=torch.float32)
    inputs, head = [], ctx.model.head
    ctx.model.head = lambda x: inputs.append(x.detach().clone()) or head(x)
    z = torch.as_tensor(z, dtype=torch.float32)
    eps = 0.5
    make_strategy("alfa-mix").changes(ctx, z, anchors, eps)
    mixes = [x for x in inputs if not torch.equal(x, z)]
    assert len(mixes) == len(anchors)
    with torch.enable_grad():
        zg = z.clone().requires_grad_(True)
        logits = head(zg)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, logits.argmax(1), reduction="sum"), zg)
    negative_alphas = 0
    for anchor, mix in zip(anchors, mixes):
        step, diff = mix - z, anchor - z
        expected = eps / 2 * diff.norm(dim=1, keepdim=True) * grad / grad.norm(dim=1, keepdim=True)
        assert torch.allclose(step, expected, atol=1e-5)
        assert (step.norm(dim=1) <= eps * diff.norm(dim=1) + 1e-6).all()
        negative_alphas += int(((step / diff) < 0).sum())
    assert negative_alphas > 0


# ---- Bayesian batches, committees, perturbations, trained auxiliaries ---------------------------------------

def test_batchbald_does_not_query_a_duplicate():
    g = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(20, 1, 4, generator=g) * 3, -1)
    b = torch.softmax(torch.randn(20, 1, 4, generator=g) * 2.5, -1)
    low = torch.softmax(torch.randn(20, 5, 4, generator=g) * 0.1, -1)
    mc = torch.cat([a, a, b, low], 1)
    ctx = synthetic(np.zeros((8, 4)))
    ctx._cache[("mc", 20, np.arange(8).tobytes())] = mc
    assert bald_score(mc)[:3].argsort(descending=True).tolist() == [0, 1, 2]
    assert sorted(BatchBALD(passes=20).select(ctx, 2, rng(0)).indices.tolist()) == [0, 2]


def test_noise_stability_prefers_the_sample_on_the_decision_boundary():
    ctx = synthetic(np.zeros((4, 2)), weight=[[1.0, 0.0], [0.0, 1.0]])
    ctx.x = torch.tensor([[250, 0], [0, 250], [50, 50], [200, 10]], dtype=torch.uint8).view(4, 2, 1, 1)
    ctx.spec = ImageSpec(2, 2, torch.zeros(2), torch.full((2,), 0.1), False)
    ctx._cache.clear()  # real forward passes: sample 2 sits on the boundary, the others are saturated
    assert pick("noise-stability", ctx, 1, samples=5, noise_scale=0.05) == [2]


def test_noise_stability_spreads_its_batch_over_distinct_deviations():
    """Li et al. 2024 run k-center greedy on the concatenated output deviations: of two identical unstable
    samples it takes one, then the sample that deviates the other way, not the duplicate (top-b takes both)."""
    ctx = synthetic(np.zeros((5, 2)), weight=[[1.0, 0.0], [0.0, 1.0]])
    # z = (x / 255 - 0.5) / 0.1: samples 0, 1 at z = (1.6, 1.6), sample 2 at -0.9 of that, 3 and 4 saturated
    ctx.x = torch.tensor([[168, 168], [168, 168], [91, 91], [250, 0], [0, 250]], dtype=torch.uint8).view(5, 2, 1, 1)
    ctx.spec = ImageSpec(2, 2, torch.full((2,), 0.5), torch.full((2,), 0.1), False)
    ctx._cache.clear()
    picked = pick("noise-stability", ctx, 2, samples=5, noise_scale=0.05)
    assert 2 in picked and len(set(picked) & {0, 1}) == 1


def test_ensemble_committee_holds_the_loop_model_and_differently_seeded_members(digits_context):
    from alscope_autoal.strategies.committee import EnsembleVarRatio

    candidates = digits_context.pool.unlabeled_indices()[:50]
    probs = EnsembleVarRatio(members=3).member_probs(digits_context, candidates)
    assert probs.shape == (3, 50, digits_context.n_classes)
    assert torch.equal(probs[0], digits_context.probs(candidates))
    assert not torch.allclose(probs[1], probs[2])
    assert variation_ratio(probs[:1].repeat(3, 1, 1)).max() == 0  # agreeing members: no disagreement


def test_learning_loss_ranking_loss_and_feature_levels(digits_context):
    target = torch.tensor([3.0, 2.0, 1.0, 0.0])
    assert ranking_loss(torch.tensor([30.0, 20.0, 10.0, 0.0]), target).item() == 0
    assert ranking_loss(torch.tensor([0.0, 10.0, 20.0, 30.0]), target).item() > 1
    taps = feature_taps(digits_context.model, torch.zeros(2, 1, 8, 8, device=digits_context.device))
    assert len(taps) == 3  # small CNN: one level per resolution (8x8, 4x4, 2x2)


def test_learning_loss_reads_the_residual_stage_outputs():
    """Yoo & Kweon's module reads each ResNet stage's output, after the skip addition and ReLU: the captured
    features must equal the outputs of the last block at each of the four resolutions, computed by hand."""
    from alscope_autoal.models.resnet import ResNet18
    from alscope_autoal.strategies.learning_loss import Capture

    torch.manual_seed(0)
    model = ResNet18(3, 10).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        h, stage_outputs = model.stem(x), []
        for i, block in enumerate(model.stages):
            h = block(h)
            if i % 2 == 1:  # two blocks per stage
                stage_outputs.append(h)
        capture = Capture(feature_taps(model, x))
        model(x)
    features = capture.take()
    assert len(features) == 4
    for got, expected in zip(features, stage_outputs):
        assert got.shape == expected.shape and torch.allclose(got, expected)


def test_vaal_kl_term_is_summed_as_in_the_authors_code():
    """KL(N(mu, e^logvar) || N(0, 1)) = 0.5 sum(mu^2 + e^logvar - 1 - logvar), summed over latent dimensions and
    the batch (the authors' code) with beta = 1, beside a mean reconstruction MSE: by hand 0.5 + 0.5 (2 - 1 -
    ln 2) on this batch of 2 x 2 latents, with a perfect reconstruction."""
    from alscope_autoal.strategies.vaal import vae_loss

    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(2), 0.0]])
    x = torch.rand(2, 1, 4, 4)
    loss, _ = vae_loss(lambda images: (images, mu, logvar), x, beta=1.0)
    assert loss.item() == pytest.approx(0.5 + 0.5 * (1 - math.log(2)))
    recon_off = vae_loss(lambda images: (images + 0.1, mu, logvar), x, beta=1.0)[0] - loss
    assert recon_off.item() == pytest.approx(0.01)  # reconstruction: mean squared error


def test_vaal_queries_what_does_not_look_like_the_labeled_set(digits_context):
    """Labeled images are all dark; the pool mixes dark and bright ones: VAAL's discriminator singles out bright."""
    n = 60
    x = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    x[40:] = 255
    ctx = synthetic(np.zeros((n, 2)), labeled=list(range(20)))
    ctx.x, ctx.spec = x, ImageSpec(1, 2, torch.tensor([0.5]), torch.tensor([0.5]), False)
    ctx.profile = ctx.profile.with_(min_steps=40, batch_size=16)
    assert set(pick("vaal", ctx, 10)) <= set(range(40, 60))


def test_lfosa_ranks_likely_known_samples_first_and_predicted_unknowns_last():
    logits = torch.tensor([[9.0, 0, 0], [8.8, 0, 0], [9.2, 0, 0], [2.0, 0, 0], [2.2, 0, 0], [1.8, 0, 0],
                           [0, 0, 5.0]])  # class 2 is the unknown class
    scores = lfosa_scores(logits, unknown_class=2, seed=0)
    assert scores[:3].min() > 0.9 and scores[3:6].max() < 0.1 and scores[6] == -1


def test_lfosa_avoids_unknown_samples_in_an_open_set_pool():
    from conftest import make_context, smoke_spec

    ctx = make_context(smoke_spec(open_set_ratio=0.4), n_extra_labeled=60)  # some labeled samples are unknown
    assert ctx.pool.is_unknown[ctx.pool.labeled_indices()].any()
    unknown_rate = ctx.pool.is_unknown[ctx.pool.unlabeled_indices()].mean()
    picked = make_strategy("lfosa").select(ctx, 40, rng(0)).indices
    assert ctx.pool.is_unknown[picked].mean() < unknown_rate / 2


# ---- properties ----------------------------------------------------------------------------------------------

prob_rows = arrays(np.float64, st.tuples(st.integers(2, 20), st.integers(2, 6)),
                   elements=st.floats(0.01, 1.0)).map(lambda a: a / a.sum(1, keepdims=True))


@settings(deadline=None)  # checks a ranking, not speed: a wall-clock deadline fails on busy shared cores
@given(prob_rows)
def test_entropy_ranks_a_uniform_row_above_a_one_hot_row(probs):
    c = probs.shape[1]
    rows = np.vstack([probs, np.full(c, 1 / c), np.eye(c)[0]])
    ctx = synthetic(np.zeros((len(rows), 2)), logits=np.log(np.clip(rows, 1e-12, None)))
    order = make_strategy("entropy").select(ctx, len(rows), rng(0)).indices.tolist()
    assert order.index(len(rows) - 2) < order.index(len(rows) - 1)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(6, 25), st.just(3)), elements=st.floats(-5, 5)),
       st.integers(0, 2**31 - 1), st.sampled_from(["entropy", "margin", "least-confidence", "coreset", "egl"]))
def test_permuting_the_pool_permutes_the_selection(z, seed, name):
    perm = np.random.default_rng(seed).permutation(len(z))
    ctx, ctx_perm = synthetic(z, labeled=[0]), synthetic(z[perm], labeled=[int(np.argsort(perm)[0])])
    # uncertainty scores depend on a row's probabilities, not their order: rows that are permutations of each
    # other (same sorted probabilities) tie, as do equal embeddings
    scores = np.sort(np.round(ctx.probs(np.arange(len(z))).numpy(), 6), axis=1)
    if len(np.unique(scores, axis=0)) < len(z) or len(np.unique(np.round(z, 6), axis=0)) < len(z):
        return  # ties are broken at random, so only tie-free pools are permutation-equivariant
    picked = make_strategy(name).select(ctx, 3, rng(1)).indices
    picked_perm = make_strategy(name).select(ctx_perm, 3, rng(1)).indices
    assert sorted(perm[picked_perm].tolist()) == sorted(picked.tolist())
