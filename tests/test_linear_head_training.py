"""The linear profile's head: full-batch L-BFGS on the dropout-marginalised loss, on real features (scikit-learn's
digits, standardised, as stand-in embeddings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from alscope_autoal.errors import UserError
from alscope_autoal.models.linear import LinearHead
from alscope_autoal.profiles import PROFILES
from alscope_autoal import training
from alscope_autoal.encoders.cache import embedded_dataset
from alscope_autoal.training import ImageSpec, train_model

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def features():
    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    return x[:1200], y[:1200], x[1200:], y[1200:]


def spec(dim: int) -> ImageSpec:
    return ImageSpec(dim, 10, torch.zeros(dim), torch.ones(dim), False)


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_head_reaches_logistic_regression_and_keeps_its_dropout(features):
    x, y, x_test, y_test = features
    model = train_model(x, y, spec(x.shape[1]), PROFILES.get("linear"), 0, CPU)
    logistic = LogisticRegression(C=10.0, max_iter=5000).fit(x.numpy(), y.numpy())
    assert accuracy(model, x_test, y_test) >= logistic.score(x_test.numpy(), y_test.numpy()) - 0.02
    assert isinstance(model, LinearHead) and model.dropout.p == 0.3  # what MC-dropout strategies sample
    model.train()  # MC dropout: passes differ
    assert not torch.equal(model(x_test[:5]), model(x_test[:5]))


def test_same_seed_same_head_other_seed_other_start(features):
    x, y, _, _ = features
    profile = PROFILES.get("linear")
    first, again = (train_model(x[:100], y[:100], spec(x.shape[1]), profile, 3, CPU) for _ in range(2))
    other = train_model(x[:100], y[:100], spec(x.shape[1]), profile, 4, CPU)
    assert torch.equal(first.classifier.weight, again.classifier.weight)
    assert not torch.equal(first.classifier.weight, other.classifier.weight)


def test_marginal_loss_is_the_dropout_loss_monte_carlo_gives():
    """At default init dropout adds 2.8 % to the loss; the marginalised loss matches 4,000 sampled masks to 0.1 %,
    and leaving the penalty out would miss by the whole 2.8 %."""
    torch.manual_seed(0)
    head = LinearHead(64, 5, dropout=0.3)
    x, y = torch.randn(200, 64), torch.randint(0, 5, (200,))
    head.train()
    with torch.no_grad():
        sampled = torch.stack([torch.nn.functional.cross_entropy(head(x), y) for _ in range(4000)]).mean().item()
        plain = torch.nn.functional.cross_entropy(head.classifier(x), y).item()
        marginal = head.marginal_loss(x, y).item()
    assert marginal == pytest.approx(sampled, rel=1e-3)
    assert plain != pytest.approx(sampled, rel=2e-2)


def test_closed_form_gradients_are_autograd_s_of_the_marginal_loss():
    """In float64, with weights large enough that the softmax is far from uniform (as after a few iterations)."""
    torch.manual_seed(0)
    head = LinearHead(32, 6, dropout=0.3).double()
    with torch.no_grad():
        head.classifier.weight.mul_(8)
    x, y = torch.randn(150, 32, dtype=torch.float64), torch.randint(0, 6, (150,))
    head.marginal_loss(x, y).backward()
    loss, d_weight, d_bias = head.marginal_loss_and_grads(x, y, x * x)
    assert loss.item() == pytest.approx(head.marginal_loss(x, y).item(), rel=1e-12)
    torch.testing.assert_close(d_weight, head.classifier.weight.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(d_bias, head.classifier.bias.grad, rtol=1e-10, atol=1e-12)


def test_without_dropout_the_head_is_logistic_regression_at_the_documented_c(features, monkeypatch):
    """weight_decay w is scikit-learn's C = 1 / (w x mean ||x||^2): with dropout off and L-BFGS run to a tight
    tolerance, the two fit the same weights; at the profile's tolerance they still predict alike."""
    x, y, x_test, _ = features
    profile = PROFILES.get("linear").with_(dropout=0.0, weight_decay=0.05, epochs=2000)
    c = 1 / (profile.weight_decay * float(x.square().sum(1).mean()))
    logistic = LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(x.numpy(), y.numpy())
    default_tolerance = train_model(x, y, spec(x.shape[1]), profile, 0, CPU)
    monkeypatch.setattr(training, "HEAD_TOLERANCES", {"tolerance_grad": 1e-6, "tolerance_change": 1e-12})
    tight = train_model(x, y, spec(x.shape[1]), profile, 0, CPU)
    weight = tight.classifier.weight.detach().numpy()
    assert np.abs(weight - logistic.coef_).max() < 0.03 * np.abs(logistic.coef_).max()
    with torch.no_grad():
        agree = (default_tolerance(x_test).argmax(1).numpy() == logistic.predict(x_test.numpy())).mean()
    assert agree >= 0.98


def test_a_separable_labeled_set_has_one_head_wherever_the_iterations_stop(shared_data, minilm_weights,
                                                                             monkeypatch):
    """500 TREC questions are linearly separable in MiniLM's 384 dimensions, and the dropout penalty vanishes as
    the softmax saturates: without the L2 term the loss has no minimum and the weights grow until the loss rounds
    to zero in float32 (a norm of ~60 after 10 iterations, ~700 after 40). With it, a cap of 200 or 1,000
    iterations and either seed give the same head."""
    data = embedded_dataset("trec", "minilm", shared_data)
    x, y = torch.as_tensor(data.train_x[:500]).float(), torch.as_tensor(data.train_y[:500])
    head_spec = ImageSpec(x.shape[1], data.n_classes, torch.zeros(1), torch.ones(1), False)
    profile = PROFILES.get("linear")
    heads = [train_model(x, y, head_spec, profile.with_(epochs=epochs), seed, CPU).classifier.weight.detach()
             for epochs, seed in ((200, 0), (1000, 0), (200, 1))]
    for other in heads[1:]:
        assert (other - heads[0]).norm() < 0.05 * heads[0].norm()
    monkeypatch.setattr(training, "HEAD_TOLERANCES", {"tolerance_grad": 1e-9, "tolerance_change": 1e-12})
    unregularised = [train_model(x, y, head_spec, profile.with_(epochs=epochs, weight_decay=0.0), 0,
                                 CPU).classifier.weight.norm() for epochs in (10, 40)]
    assert unregularised[1] > 5 * unregularised[0] and unregularised[1] > 5 * heads[0].norm()


def test_lbfgs_on_a_cnn_is_a_one_line_error(features):
    profile = PROFILES.get("cpu").with_(optimizer="lbfgs")
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(UserError, match="linear head only"):
        train_model(images, torch.tensor([0, 1, 0, 1]), ImageSpec(1, 2, torch.zeros(1), torch.ones(1), False),
                    profile, 0, CPU)
