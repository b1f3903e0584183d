"""AutoAL's bi-level search on the labeled set (paper Sec. 3, Eqs. 6-9), repaired as docs/autoal.md asks.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ...training import ImageSpec, batches, normalise, seeded
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


@dataclass
class SearchOutcome:
    net: SearchNet
    grad_norm: float  # mean L2 norm of the selection objective's gradient on SearchNet, over the steps
    steps: int


def relaxed_mask(sbar: torch.Tensor, ratio: float, temperature: float) -> torch.Tensor:
    """sigmoid((Sbar - theta_t) / tau) with theta_t the detached (1 - ratio) batch quantile."""
    theta = torch.quantile(sbar.detach(), 1 - ratio, interpolation="midpoint")
    return torch.sigmoid((sbar - theta) / temperature)


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
           fit_net: nn.Module | None = None) -> SearchOutcome:
    """Train FitNet and SearchNet on (L_fit, L_val); `val` holds L_val's images, labels and candidate picks.

    `fit_net`: an already pre-trained FitNet (from `prepared_fitnet`); None builds and pre-trains one here.
    """
    (x_fit, y_fit), (x_val, y_val, picks) = fit, val
    if fit_net is None:
        with seeded(seed, device):
            fit_net = fitnet(cfg.backbone, img.n_channels, img.n_classes, cfg.width).to(device)
            net = SearchNet(cfg.backbone, img.n_channels, picks.shape[1], cfg.width).to(device)
        gen = torch.Generator().manual_seed(seed)
        fit_net.train()
        if cfg.pretrain and len(x_fit) > 1:
            pretrain_fitnet(fit_net, x_fit, y_fit, img, cfg, gen, device)
    else:
        with seeded(seed, device):
            net = SearchNet(cfg.backbone, img.n_channels, picks.shape[1], cfg.width).to(device)
        gen = torch.Generator().manual_seed(seed + 1)
    fit_net.train()
    net.train()
    opt_fit = torch.optim.Adam(fit_net.parameters(), lr=cfg.lr)
    opt_search = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9)
    temperature = HARD_TEMPERATURE if cfg.hard_mask else cfg.temperature
    norms = []
    with seeded(seed + 2, device):  # FitNet's dropout masks, where it has dropout (val_model="fitnet")
        for idx in batches(len(x_val), cfg.batch_size, cfg.search_steps, gen):
            norms.append(step(fit_net, net, opt_fit, opt_search, x_val[idx.to(x_val.device)], y_val[idx],
                              picks[idx], img, cfg, temperature, device))
    return SearchOutcome(net.eval(), sum(norms) / max(len(norms), 1), len(norms))


def step(fit_net: nn.Module, net: SearchNet, opt_fit, opt_search, x: torch.Tensor, y: torch.Tensor,
         picks: torch.Tensor, img: ImageSpec, cfg: SearchConfig, temperature: float, device) -> float:
    """One alternation on one batch (one fixed sample order for every pass); returns SearchNet's grad norm."""
    xb = normalise(x.to(device), img)
    yb, sb = y.to(device), picks.to(device)
    ce = F.cross_entropy(fit_net(xb), yb, reduction="none")
    weights, predicted = net(xb)
    mask = relaxed_mask(aggregate(net, weights, sb, cfg.mixing_scale), cfg.ratio, temperature)

    fit_loss = (mask.detach() * ce).mean()
    opt_fit.zero_grad(set_to_none=True)
    fit_loss.backward()
    opt_fit.step()

    hard = ce.detach()
    loss = -(mask * hard).mean() + cfg.budget_weight * (mask.mean() - cfg.ratio) ** 2
    if cfg.use_loss_head:
        loss = loss + ranking_loss(predicted, hard)
    opt_search.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(net.selection_parameters())
    opt_search.step()
    return norm
