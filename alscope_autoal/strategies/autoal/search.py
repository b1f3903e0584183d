"""AutoAL's bi-level search on the labeled set (paper Sec. 3, Eqs. 6-9), repaired as docs/autoal.md describes.

One half of the labeled set (L_fit) pre-trains FitNet; the other half (L_val) stands in for the unlabeled pool.
Each step draws ONE batch of L_val positions and every pass of the step (FitNet's loss, SearchNet's weights, the
cached candidate picks, the loss head) reads exactly those samples, in that order.

Per sample x of the batch, with cached candidate picks S_k(x) in {0, 1} and SearchNet weights W_k(x):

    Sbar(x) = sum_k lambda * sigmoid(Theta_k) * W_k(x) * S_k(x)            (Eq. 6, DARTS-style relaxation)
    theta_t = the (1 - t) quantile of Sbar over the batch (detached)
    m(x)    = sigmoid((Sbar(x) - theta_t) / tau)                             (relaxed selection mask, finite tau)
    FitNet:    minimise mean(stopgrad(m) * CE_F(x))                          (Eq. 7: learn what was selected)
    SearchNet: minimise -mean(m * stopgrad(CE_F(x))) + beta * (mean(m) - t)^2  (Eqs. 8-9: select hard samples,
               keep the soft count near t * batch; the count is differentiable, unlike the released code's)
    Loss head: Yoo & Kweon's margin ranking loss against stopgrad(CE_F(x)).

`hard_mask=True` replaces tau by 1e-11, the released code's sigmoid(1e11 * (s - theta)): a step whose
gradient is zero almost everywhere, so SearchNet does not learn (kept for the ablation and the defect test).
The threshold is the batch quantile rather than a Gaussian-mixture fit: for a mixture the (1 - t) quantile is
what the paper uses the fit for, and the quantile needs no iterative fit that can fail on tied scores.

Departures from the paper, each a SearchConfig field (and an AutoAL parameter) so an ablation can isolate it
(docs/autoal-lookahead.md says why each exists):

- objective="lookahead": the bi-level objective the relaxation was meant for (DARTS-style one-step look-ahead).
  L is split into L_fit / L_val / L_hold; FitNet, pre-trained on L_fit, takes one virtual step on the
  mask-weighted CE of an L_val batch, and the outer loss is FitNet's CE on L_hold after that step. The step is
  taken on FitNet's last layer only, where a sample's gradient factorises as (p - y) [h, 1]^T, so the step of
  a batch is one (C, d+1) matrix product and no per-sample gradient is stored. The gradient reaching the mask
  is about -<grad CE_hold, grad CE(x)>: samples whose labels would lower held-out loss, not merely hard ones.
- fitnet_updates="frozen": FitNet stops learning after pre-training, so it never fits the samples whose loss
  scores the selection (under "joint", the paper's game, it memorises L_val and the signal fades).
- mixing="softmax": Theta competes across candidates (softmax) and has its own Adam optimiser, instead of K
  independent sigmoids that a recomputed threshold cancels in common mode.
- threshold="running": a moving average of the batch quantiles instead of each batch's own quantile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn
from torch.nn import functional as F

from ...training import ImageSpec, batches, forward_pool, normalise, seeded
from .networks import SearchNet, fitnet

HARD_TEMPERATURE = 1e-11  # the released code's sigmoid(1e11 * (s - theta))


@dataclass(frozen=True)
class SearchConfig:
    backbone: str  # "small-cnn" or "resnet18"
    width: int  # small-cnn width (ignored by resnet18)
    pretrain_steps: int  # FitNet steps on L_fit before the alternation
    search_steps: int  # alternating FitNet / SearchNet / loss-head steps on L_val
    batch_size: int
    lr: float  # FitNet (Adam) and SearchNet (SGD, momentum 0.9) learning rate
    temperature: float  # tau of the relaxed mask
    ratio: float  # t: the fraction of a batch to select (and each candidate's pick fraction on L_val)
    budget_weight: float = 1.0  # beta of the budget regulariser
    mixing_scale: float = 1.0  # lambda of Eq. 6
    use_loss_head: bool = True
    pretrain: bool = True
    hard_mask: bool = False
    objective: str = "hardness"  # or "lookahead" (needs L_hold)
    fitnet_updates: str = "joint"  # or "frozen" (always frozen under the look-ahead objective)
    mixing: str = "sigmoid"  # lambda * sigmoid(Theta) (paper), or softmax(Theta) with its own optimiser
    threshold: str = "batch"  # the batch's quantile, or "running": a moving average of them
    lookahead_lr: float | None = None  # eta of the virtual step on FitNet's last layer; None: FitNet's lr

    @property
    def virtual_lr(self) -> float:
        return self.lr if self.lookahead_lr is None else self.lookahead_lr

    @property
    def frozen_fitnet(self) -> bool:
        return self.objective == "lookahead" or self.fitnet_updates == "frozen"


OBJECTIVES = ("hardness", "lookahead")
FITNET_UPDATES = ("joint", "frozen")
MIXINGS = ("sigmoid", "softmax")
THRESHOLDS_OVER = ("batch", "running")
RUNNING_MOMENTUM = 0.9


@dataclass
class SearchOutcome:
    net: SearchNet
    grad_norm: float  # mean L2 norm of the selection objective's gradient on SearchNet, over the steps
    steps: int
    objective_start: float = float("nan")  # the selection objective's mean over the first tenth of the steps
    objective_end: float = float("nan")  # ... and over the last tenth: did the search improve it?


def relaxed_mask(sbar: torch.Tensor, ratio: float, temperature: float,
                 threshold: torch.Tensor | None = None) -> torch.Tensor:
    """sigmoid((Sbar - theta_t) / tau) with theta_t the detached (1 - ratio) batch quantile, or `threshold`."""
    theta = batch_quantile(sbar, ratio) if threshold is None else threshold
    return torch.sigmoid((sbar - theta) / temperature)


def batch_quantile(sbar: torch.Tensor, ratio: float) -> torch.Tensor:
    return torch.quantile(sbar.detach(), 1 - ratio, interpolation="midpoint")


class Threshold:
    """theta_t per step: the batch's own (1 - ratio) quantile, or a moving average of those quantiles, so that
    one batch's score distribution does not decide alone which of its samples count as selected."""

    def __init__(self, kind: str, ratio: float):
        self.kind, self.ratio, self.value = kind, ratio, None

    def __call__(self, sbar: torch.Tensor) -> torch.Tensor:
        current = batch_quantile(sbar, self.ratio)
        if self.kind == "batch":
            return current
        self.value = current if self.value is None else (
            RUNNING_MOMENTUM * self.value + (1 - RUNNING_MOMENTUM) * current)
        return self.value


@dataclass(frozen=True)
class LookAhead:
    """The look-ahead objective on FitNet's frozen last layer (weight and bias as one (C, d+1) matrix).

    For an L_val batch with mask m, the virtual step is W' = W - eta * sum_x m(x) (p_x - y_x) [h_x, 1]^T / k,
    k the expected number of selected samples; `loss` returns (CE_hold(W') - CE_hold(W)) / eta, negative when
    the selected samples' labels would lower FitNet's held-out loss. Dividing by eta keeps its scale that of a
    gradient inner product whatever eta. As in DARTS, eta is the inner optimiser's learning rate (FitNet's lr):
    a step as large as 1 overshoots, and the search then prefers samples that barely move the weights
    (measured on the planted test set-up of tests/test_autoal_lookahead.py: the weight went to the neutral
    candidate at eta = 1, to the useful one at eta = 0.1 and 0.01).
    """

    weight: torch.Tensor  # (C, d + 1)
    val_inputs: torch.Tensor  # (n_val, d + 1): FitNet's features with a constant 1 appended
    val_residuals: torch.Tensor  # (n_val, C): softmax(FitNet(x)) - onehot(y)
    hold_inputs: torch.Tensor  # (n_hold, d + 1)
    hold_labels: torch.Tensor  # (n_hold,)
    lr: float

    def hold_loss(self, weight: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.hold_inputs @ weight.T, self.hold_labels)

    @cached_property
    def hold_loss_before(self) -> torch.Tensor:
        """CE_hold(W): FitNet is frozen, so it is the same for every step."""
        return self.hold_loss(self.weight)

    def loss(self, idx: torch.Tensor, mask: torch.Tensor, expected: float) -> torch.Tensor:
        step = (mask[:, None] * self.val_residuals[idx]).T @ self.val_inputs[idx] / max(expected, 1.0)
        return (self.hold_loss(self.weight - self.lr * step) - self.hold_loss_before) / self.lr


def with_bias_column(features: torch.Tensor) -> torch.Tensor:
    return torch.cat([features, torch.ones(len(features), 1, device=features.device)], 1)


def lookahead_objective(fit_net: nn.Module, val_logits: torch.Tensor, val_features: torch.Tensor,
                        y_val: torch.Tensor, hold: tuple[torch.Tensor, torch.Tensor], img: ImageSpec, lr: float,
                        device: torch.device) -> LookAhead:
    """What the look-ahead needs from the frozen FitNet: its last layer, L_val's features and residuals (from
    the pass `search` already made over L_val), and L_hold's features."""
    classifier = fit_net.classifier
    weight = torch.cat([classifier.weight, classifier.bias[:, None]], 1).detach()
    residuals = torch.softmax(val_logits, 1) - F.one_hot(y_val, val_logits.shape[1]).float()
    _, hold_features = forward_pool(fit_net, hold[0], img, device)
    return LookAhead(weight, with_bias_column(val_features.to(device)), residuals.to(device),
                     with_bias_column(hold_features.to(device)), hold[1].to(device), lr)


def aggregate(net: SearchNet, weights: torch.Tensor, picks: torch.Tensor, scale: float) -> torch.Tensor:
    """Sbar: each candidate's pick, weighted per sample by SearchNet and globally by lambda * sigmoid(Theta)."""
    return (net.mixing(scale) * weights * picks).sum(1)


def ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Yoo & Kweon's loss-prediction objective: pair the batch's first half with its reversed second half and
    ask the predicted losses to order each pair as the true losses do, by at least `margin`."""
    half = len(predicted) // 2
    if half == 0:
        return predicted.sum() * 0
    p_i, p_j = predicted[:half], predicted[-half:].flip(0)
    t_i, t_j = target[:half], target[-half:].flip(0)
    sign = torch.sign(t_i - t_j)
    return F.relu(-sign * (p_i - p_j) + margin).mean()


def pretrain_fitnet(net: nn.Module, x: torch.Tensor, y: torch.Tensor, img: ImageSpec, cfg: SearchConfig,
                    gen: torch.Generator, device: torch.device) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for idx in batches(len(x), cfg.batch_size, cfg.pretrain_steps, gen):
        loss = F.cross_entropy(net(normalise(x[idx.to(x.device)].to(device), img)), y[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def grad_norm(params: list[nn.Parameter]) -> float:
    grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


def prepared_fitnet(fit: tuple[torch.Tensor, torch.Tensor], img: ImageSpec, cfg: SearchConfig, seed: int,
                    device: torch.device, dropout: float) -> nn.Module:
    """A FitNet pre-trained on L_fit (unless cfg.pretrain is off), built before the search so that the
    candidates can score L_val with a model that has not seen L_val (val_model="fitnet")."""
    with seeded(seed, device):
        net = fitnet(cfg.backbone, img.n_channels, img.n_classes, cfg.width, dropout).to(device)
    net.train()
    if cfg.pretrain and len(fit[0]) > 1:
        with seeded(seed + 1, device):  # dropout masks
            pretrain_fitnet(net, *fit, img, cfg, torch.Generator().manual_seed(seed), device)
    return net


def search(fit: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
           img: ImageSpec, cfg: SearchConfig, seed: int, device: torch.device,
           fit_net: nn.Module | None = None, hold: tuple[torch.Tensor, torch.Tensor] | None = None
           ) -> SearchOutcome:
    """Train FitNet and SearchNet on (L_fit, L_val); `val` holds L_val's images, labels and candidate picks.

    `fit_net`: an already pre-trained FitNet (from `prepared_fitnet`); None builds and pre-trains one here.
    `hold`: L_hold's images and labels, which the look-ahead objective scores the selection on.
    """
    (x_fit, y_fit), (x_val, y_val, picks) = fit, val
    if cfg.objective == "lookahead" and (hold is None or len(hold[0]) == 0):
        raise ValueError("the look-ahead objective needs a non-empty L_hold")
    if fit_net is None:
        with seeded(seed, device):
            fit_net = fitnet(cfg.backbone, img.n_channels, img.n_classes, cfg.width).to(device)
            net = SearchNet(cfg.backbone, img.n_channels, picks.shape[1], cfg.width, cfg.mixing).to(device)
        gen = torch.Generator().manual_seed(seed)
        fit_net.train()
        if cfg.pretrain and len(x_fit) > 1:
            pretrain_fitnet(fit_net, x_fit, y_fit, img, cfg, gen, device)
    else:
        with seeded(seed, device):
            net = SearchNet(cfg.backbone, img.n_channels, picks.shape[1], cfg.width, cfg.mixing).to(device)
        gen = torch.Generator().manual_seed(seed + 1)
    game = Game(fit_net, net, torch.optim.Adam(fit_net.parameters(), lr=cfg.lr), search_optimisers(net, cfg),
                Threshold(cfg.threshold, cfg.ratio), HARD_TEMPERATURE if cfg.hard_mask else cfg.temperature,
                cfg, img, device)
    if cfg.frozen_fitnet:  # one eval-mode pass over L_val serves both signals
        val_logits, val_features = forward_pool(fit_net, x_val, img, device)
        game.frozen_ce = F.cross_entropy(val_logits, y_val, reduction="none").to(device)
        if cfg.objective == "lookahead":
            game.lookahead = lookahead_objective(fit_net, val_logits, val_features, y_val, hold, img,
                                                 cfg.virtual_lr, device)
    fit_net.train(not cfg.frozen_fitnet)
    net.train()
    norms, objectives = [], []
    with seeded(seed + 2, device):  # FitNet's dropout masks, where it has dropout (val_model="fitnet")
        for idx in batches(len(x_val), cfg.batch_size, cfg.search_steps, gen):
            norm, objective = step(game, x_val[idx.to(x_val.device)], y_val[idx], picks[idx], idx)
            norms.append(norm)
            objectives.append(objective)
    tenth = max(1, len(objectives) // 10)
    return SearchOutcome(net.eval(), sum(norms) / max(len(norms), 1), len(norms),
                         sum(objectives[:tenth]) / tenth if objectives else float("nan"),
                         sum(objectives[-tenth:]) / tenth if objectives else float("nan"))


def search_optimisers(net: SearchNet, cfg: SearchConfig) -> list[torch.optim.Optimizer]:
    """SGD (momentum 0.9) on SearchNet, as the paper; under softmax mixing Theta gets its own Adam, so the
    global trust in each candidate moves at its own pace rather than at the trunk's learning rate."""
    if cfg.mixing == "sigmoid":
        return [torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9)]
    rest = [p for p in net.parameters() if p is not net.theta]
    return [torch.optim.SGD(rest, lr=cfg.lr, momentum=0.9), torch.optim.Adam([net.theta], lr=cfg.lr)]


@dataclass
class Game:
    """Everything one search step reads and updates."""
    fit_net: nn.Module
    net: SearchNet
    opt_fit: torch.optim.Optimizer
    opt_search: list[torch.optim.Optimizer]
    threshold: Threshold
    temperature: float
    cfg: SearchConfig
    img: ImageSpec
    device: torch.device
    frozen_ce: torch.Tensor | None = None  # FitNet's CE on L_val when FitNet is frozen
    lookahead: LookAhead | None = None


def step(game: Game, x: torch.Tensor, y: torch.Tensor, picks: torch.Tensor, idx: torch.Tensor) -> tuple[float, float]:
    """One alternation on one batch (one fixed sample order for every pass); returns SearchNet's grad norm and
    the value of the selection objective."""
    cfg, device = game.cfg, game.device
    xb = normalise(x.to(device), game.img)
    yb, sb = y.to(device), picks.to(device)
    ce = None if cfg.frozen_fitnet else F.cross_entropy(game.fit_net(xb), yb, reduction="none")
    weights, predicted = game.net(xb)
    sbar = aggregate(game.net, weights, sb, cfg.mixing_scale)
    mask = relaxed_mask(sbar, cfg.ratio, game.temperature, game.threshold(sbar))

    if ce is not None:
        fit_loss = (mask.detach() * ce).mean()
        game.opt_fit.zero_grad(set_to_none=True)
        fit_loss.backward()
        game.opt_fit.step()
        hard = ce.detach()
    else:
        hard = game.frozen_ce[idx.to(device)]

    if game.lookahead is not None:
        objective = game.lookahead.loss(idx.to(device), mask, cfg.ratio * len(idx))
    else:
        objective = -(mask * hard).mean()
    loss = objective + cfg.budget_weight * (mask.mean() - cfg.ratio) ** 2
    if cfg.use_loss_head:
        loss = loss + ranking_loss(predicted, hard)
    for optimiser in game.opt_search:
        optimiser.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(game.net.selection_parameters())
    for optimiser in game.opt_search:
        optimiser.step()
    return norm, float(objective.detach())
