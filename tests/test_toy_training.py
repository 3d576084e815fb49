"""The toy trainer (difflab/train/toy.py) and the formulas of handbook/diffusion/edm.md, checked on tensors."""

import pytest
import torch

from difflab import noise, toy
from difflab.train import toy as trainer

MIX = toy.GaussianMixture2D.ring()
G = torch.Generator().manual_seed(0)
X0 = torch.randn(4096, 2, generator=G, dtype=torch.float64)
EPS = torch.randn(4096, 2, generator=G, dtype=torch.float64)
SIGMA = torch.exp(torch.empty(4096, dtype=torch.float64).uniform_(-4, 3, generator=G))  # σ from 0.018 to 20
Y = X0 + SIGMA[:, None] * EPS  # the VE sample y = x0 + σ·ε
ALPHA_BAR = (1 / (1 + SIGMA**2))[:, None]  # ᾱ = 1/(1 + σ²), so that x_t = √ᾱ·y
X_T = ALPHA_BAR.sqrt() * X0 + (1 - ALPHA_BAR).sqrt() * EPS


def test_truncated_snr_factor_is_one_where_snr_is_at_least_one_and_one_over_snr_below():
    snr = torch.tensor([0.01, 0.5, 1.0, 2.0, 100.0], dtype=torch.float64)
    factor = trainer.loss_factor(snr**-0.5, "truncated_snr")
    torch.testing.assert_close(factor, torch.tensor([100.0, 2.0, 1.0, 1.0, 1.0], dtype=torch.float64))


def test_min_snr_5_factor_is_one_where_snr_is_at_most_five_and_five_over_snr_above():
    snr = torch.tensor([0.01, 0.5, 5.0, 10.0, 100.0], dtype=torch.float64)
    factor = trainer.loss_factor(snr**-0.5, "min_snr_5")
    torch.testing.assert_close(factor, torch.tensor([1.0, 1.0, 1.0, 0.5, 0.05], dtype=torch.float64))


def test_unknown_objective_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="truncated_snr"):
        trainer.loss_factor(SIGMA, "snr_trunc")


@pytest.mark.parametrize(
    "kind, target, network_input",
    [
        ("epsilon", EPS, X_T),  # F = ε, the network reads x_t
        ("sample", X0, X_T),  # F = x0
        ("v", noise.v_target(X0, EPS, ALPHA_BAR), X_T),  # F = v = √ᾱ·ε - √(1-ᾱ)·x0
        ("flow", noise.flow_velocity(X0, EPS), noise.flow_interpolate(X0, EPS, (SIGMA / (1 + SIGMA))[:, None])),
    ],
)
def test_each_prediction_target_is_a_choice_of_c_skip_c_out_c_in(kind, target, network_input):
    c_skip, c_out, c_in, _ = (c[:, None] for c in trainer.preconditioning(SIGMA, kind))
    torch.testing.assert_close(c_in * Y, network_input)  # what that model was trained on
    torch.testing.assert_close(c_skip * Y + c_out * target, X0)  # D(y; σ) recovers x0 from the true target


def test_edm_with_sigma_data_one_is_v_prediction_with_the_output_negated():
    edm = trainer.preconditioning(SIGMA, "edm", sigma_data=1.0)
    v = trainer.preconditioning(SIGMA, "v")
    for a, b, sign in zip(edm, v, (1, -1, 1, 1)):
        torch.testing.assert_close(a, sign * b)
    torch.testing.assert_close(trainer.edm_lambda(SIGMA, 1.0), 1 / SIGMA**2 + 1)  # v's x0 weight SNR + 1


def test_edm_coefficients_give_unit_variance_input_and_target_and_lambda_is_one_over_c_out_squared():
    sigma_data, n = 0.5, 200_000
    g = torch.Generator().manual_seed(1)
    x0 = sigma_data * torch.randn(n, generator=g, dtype=torch.float64)
    eps = torch.randn(n, generator=g, dtype=torch.float64)
    for s in (0.02, 0.5, 3.0, 40.0):
        sigma = torch.tensor([s], dtype=torch.float64)
        c_skip, c_out, c_in, c_noise = trainer.preconditioning(sigma, "edm", sigma_data)
        y = x0 + s * eps
        assert abs((c_in * y).std().item() - 1) < 0.01
        assert abs(((x0 - c_skip * y) / c_out).std().item() - 1) < 0.01
        torch.testing.assert_close(trainer.edm_lambda(sigma, sigma_data), 1 / c_out**2)
        torch.testing.assert_close(c_noise, sigma.log() / 4)


@pytest.mark.parametrize(
    "objective, x0_weight",  # the loss on F equals ‖D - x0‖² times these (SNR = 1/σ²)
    [
        ("epsilon", lambda snr: snr),
        ("v", lambda snr: snr + 1),
        ("truncated_snr", lambda snr: snr.clamp(min=1)),
        ("min_snr_5", lambda snr: snr.clamp(max=5)),
        ("edm", lambda snr: snr + 1 / 0.5**2),
    ],
)
def test_every_objective_is_a_weighted_x0_loss(objective, x0_weight):
    c_skip, c_out, _, _ = (c[:, None] for c in trainer.preconditioning(SIGMA, trainer.parameterisation(objective)))
    F = torch.randn(X0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)  # any output
    target = (X0 - c_skip * Y) / c_out
    network_loss = trainer.loss_factor(SIGMA, objective) * ((F - target) ** 2).sum(1)
    x0_loss = x0_weight(1 / SIGMA**2) * ((c_skip * Y + c_out * F - X0) ** 2).sum(1)
    torch.testing.assert_close(network_loss, x0_loss)


def test_training_noise_levels_follow_sd_and_edm():
    assert trainer.SD_SIGMAS[0].item() == pytest.approx(0.0292, abs=1e-4)
    assert trainer.SD_SIGMAS[-1].item() == pytest.approx(14.6146, abs=1e-3)
    log_sigma = trainer.draw_sigma(100_000, "edm", torch.Generator().manual_seed(3)).log()
    assert log_sigma.mean().item() == pytest.approx(-1.2, abs=0.02)
    assert log_sigma.std().item() == pytest.approx(1.2, abs=0.02)
    assert set(trainer.draw_sigma(1000, "v", torch.Generator().manual_seed(3)).tolist()) <= set(
        trainer.SD_SIGMAS.tolist()
    )


@pytest.mark.parametrize("objective", trainer.OBJECTIVES)
def test_a_few_dozen_steps_reduce_the_excess_loss_over_the_exact_denoiser(objective):
    g = torch.Generator().manual_seed(4)
    x0, eps = MIX.sample(4096, g), torch.randn(4096, 2, generator=g)
    sigma = trainer.draw_sigma(4096, objective, g)
    y = x0 + sigma.float()[:, None] * eps
    exact = MIX.posterior_mean(y, 1.0, sigma)  # E[x0 | y] for y = 1·x0 + σ·ε
    before, _ = trainer.train(MIX, objective, seed=0, steps=0)
    after, losses = trainer.train(MIX, objective, seed=0, steps=60)
    assert len(losses) == 60
    with torch.no_grad():
        c_skip, c_out = before.forward_F(y, sigma)[1:]
        floor = (trainer.loss_factor(sigma, objective) * ((exact - x0) / c_out.double()).pow(2).mean(1)).mean()
        excess_before = trainer.loss(before, x0, sigma, eps) - floor
        excess_after = trainer.loss(after, x0, sigma, eps) - floor
    assert 0 < excess_after < 0.95 * excess_before  # measured: 0.91 (edm), 0.73 (v) … 0.19 (epsilon)


def test_training_is_reproducible_from_its_seed():
    a, losses_a = trainer.train(MIX, "v", seed=5, steps=5)
    b, losses_b = trainer.train(MIX, "v", seed=5, steps=5)
    assert losses_a == losses_b
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
