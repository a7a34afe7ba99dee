"""Adversarial losses shared by the generative models: WGAN-GP (StarGAN, AMGAN, GANimation, SaGAN) and
the reconstruction L1. Each returns ``(loss, {name: detached scalar tensor})``.

A critic is any callable ``images -> scores``; a discriminator with several heads (adversarial and
classification) is passed as ``lambda x: D(x)[0]``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Critic = Callable[[torch.Tensor], torch.Tensor]


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The critic's Wasserstein loss ``mean D(fake) - mean D(real)`` (minimised)."""
    real, fake = real_scores.float().mean(), fake_scores.float().mean()
    loss = fake - real
    return loss, {"d_real": real.detach(), "d_fake": fake.detach(), "wasserstein": (real - fake).detach()}


def wgan_generator_loss(fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The generator's Wasserstein loss ``-mean D(G(x))``."""
    loss = -fake_scores.float().mean()
    return loss, {"g_adv": loss.detach()}


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """WGAN-GP's penalty (Gulrajani et al. 2017), ``mean (||grad_x D(x_hat)||_2 - 1)^2`` on interpolates
    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha`` ~ U(0, 1) per sample (or the given
    (B,) ``alpha``). The gradient graph is kept (``create_graph=True``) so the penalty trains the critic;
    ``fake`` is detached. Multiply by the weight (10 in the papers) yourself."""
    b = real.shape[0]
    if alpha is None:
        alpha = torch.rand(b, device=real.device)
    alpha = alpha.to(real.device, real.dtype).view(b, *([1] * (real.dim() - 1)))
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)
    loss = ((norm - 1.0) ** 2).mean()
    return loss, {"gp": loss.detach(), "grad_norm": norm.mean().detach()}


def l1_loss(output: torch.Tensor, target: torch.Tensor, name: str = "l1") -> tuple[torch.Tensor, dict]:
    """Mean absolute error (StarGAN's cycle-reconstruction loss, XingGAN's L1)."""
    loss = (output.float() - target.float()).abs().mean()
    return loss, {name: loss.detach()}
