"""UniPC multistep (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
Diffusion Models"), the sampler Wan2.1 ships with.

Same setting as DPM-Solver++ (dpm_solver.py): x_t = α_t·x0 + σ_t·ε, λ_t = log(α_t/σ_t), and the ODE is solved
in λ on the model's x̂0 (data prediction, diffusers' predict_x0=True). One step from s to t, h = λ_t - λ_s > 0,
with D_k = (x̂0_{s-k} - x̂0_s)/r_k the differences to the k-th earlier prediction, r_k = (λ_{s-k} - λ_s)/h < 0:

    # UniP-p (predictor):  x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·x̂0_s - α_t·B(h)·Σ_{k<p} ρ_k·D_k
    # UniC-p (corrector):  the same step redone once x̂0_t is known, with one more term ρ_p·(x̂0_t - x̂0_s)

The ρ solve the small Vandermonde system R·ρ = g (R_ik = r_k^(i-1), r_p = 1 for the corrector's new point):

    # g_i = z·φ_{i+1}(z)·i! / B(h),   z = -h,   φ_{i+1}(z) = (e^z - Σ_{j≤i} z^j/j!) / z^{i+1}
    # B(h) = z (bh1)  or  e^z - 1 (bh2, diffusers' default and Wan's)
    # shortcuts as diffusers: ρ = ½ for UniP-2 and for UniC-1 instead of the solve

The corrector costs no model call: the model's output at the predicted x_t is stored as x̂0_t (from that
uncorrected x_t), then x_t is corrected and the next predictor starts from the corrected one. So UniPC-p
reaches order p+1 with one evaluation per step. `disable_corrector` lists steps whose prediction is not
corrected; the corrector's order is that of the predictor it corrects.

Flow mode (use_flow_sigmas, prediction_type="flow_prediction", as Wan): x_σ = (1-σ)·x0 + σ·ε, so α = 1-σ,
and x̂0 = x - σ·v̂. The σ list is flow_match.py's (even in σ from 1 to 1/T, shifted by flow_shift).

Differences from diffusers, both on the last step to σ = 0 (final_sigmas_type="zero"), where h = ∞: it is
first order here and lands on x̂0. diffusers gives ±inf there with lower_order_final=False (its D_k divide by
r_k = 0) and NaN with solver_type="bh1" (B(h)·0 = ∞·0). Every other step matches diffusers (tests/test_unipc.py).
"""

import torch

from .. import noise
from .base import (
    Scheduler,
    SchedulerOutput,
    check_choice,
    check_num_inference_steps,
    make_betas,
    threshold_sample,
    timestep_index,
)
from .euler import karras_sigmas, timesteps_from_sigmas
from .flow_match import shift_sigmas

# diffusers fields difflab leaves out: the one value accepted, and what to do instead.
UNSUPPORTED = {
    "predict_x0": (True, "difflab's UniPC works on x̂0 (data prediction), as diffusers does by default."),
    "solver_p": (None, "UniC on top of another scheduler's predictor is not implemented; leave solver_p out."),
    "use_exponential_sigmas": (False, "Use use_karras_sigmas=True or the default spacing."),
    "use_beta_sigmas": (False, "Use use_karras_sigmas=True or the default spacing."),
    "use_dynamic_shifting": (False, "Pass flow_shift=exp(mu) instead: the exponential time shift is that shift."),
    "sigma_min": (None, "Leave it out: the Karras range runs over the training σ."),
    "sigma_max": (None, "Leave it out: the Karras range runs over the training σ."),
    "shift_terminal": (None, "Leave it out; use flow_shift to move steps towards high noise."),
}
FLOW_FIX = "Flow-matching models (Wan) need use_flow_sigmas=True with prediction_type='flow_prediction'."


class UniPCMultistepScheduler(Scheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        solver_order: int = 2,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        sample_max_value: float = 1.0,
        predict_x0: bool = True,
        solver_type: str = "bh2",
        lower_order_final: bool = True,
        disable_corrector: list[int] = (),
        solver_p=None,
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        use_flow_sigmas: bool = False,
        flow_shift: float = 1.0,
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        final_sigmas_type: str = "zero",
        rescale_betas_zero_snr: bool = False,
        use_dynamic_shifting: bool = False,
        time_shift_type: str = "exponential",
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        shift_terminal: float | None = None,
    ):
        if solver_type in ("midpoint", "heun", "logrho"):  # a DPM-Solver config's solver_type: bh2, as diffusers
            solver_type = "bh2"
        if not isinstance(disable_corrector, (list, tuple)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in disable_corrector
        ):
            raise ValueError(f"disable_corrector: got {disable_corrector!r}; pass a list of step indices, e.g. [0].")
        disable_corrector = list(disable_corrector)
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        for field, (only, fix) in UNSUPPORTED.items():
            if self.config[field] != only:
                raise ValueError(f"{field}: got {self.config[field]!r}; difflab supports only {only!r}. {fix}")
        check_choice("solver_order", solver_order, (1, 2, 3), "2 for guided sampling (Wan), 3 for unguided.")
        check_choice("solver_type", solver_type, ("bh1", "bh2"), "bh1 is advised unguided under 10 steps.")
        check_choice("final_sigmas_type", final_sigmas_type, ("zero", "sigma_min"))
        check_choice("timestep_spacing", timestep_spacing, ("linspace", "leading", "trailing"))
        check_choice("time_shift_type", time_shift_type, ("exponential",))
        check_choice("prediction_type", prediction_type, (*noise.PREDICTION_TYPES, "flow_prediction"))
        if use_flow_sigmas != (prediction_type == "flow_prediction"):
            raise ValueError(
                f"use_flow_sigmas: got {use_flow_sigmas!r} with prediction_type={prediction_type!r}; difflab "
                f"takes them together. {FLOW_FIX} DDPM-family models use neither."
            )
        if use_flow_sigmas and timestep_spacing != "linspace":  # diffusers ignores it there
            raise ValueError(
                f"timestep_spacing: got {timestep_spacing!r} with use_flow_sigmas=True, where σ is always spaced "
                "evenly from 1 to 1/T; leave it at 'linspace' and move steps with flow_shift."
            )
        if use_flow_sigmas and use_karras_sigmas:
            raise ValueError(f"use_karras_sigmas: got True with use_flow_sigmas=True; {FLOW_FIX[:-1]} alone.")
        if not flow_shift > 0:
            raise ValueError(f"flow_shift: got {flow_shift}; valid values are > 0 (1 = no shift; Wan uses 3.0 or 5.0).")
        self.betas = make_betas(
            num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr
        )
        self.alphas_cumprod = noise.alpha_bar(self.betas)  # ᾱ_t, shape (T,)
        if rescale_betas_zero_snr:
            self.alphas_cumprod[-1] = 2**-24  # ᾱ_T = 0 exactly would make σ_T infinite (diffusers' floor)
        self.train_sigmas = noise.sigmas_from_alpha_bar(self.alphas_cumprod)  # σ_t/α_t for t = 0 … T-1
        self.sigmas = None  # sampling state, set by set_timesteps: σ of each step, then the final σ
        self.step_index = None  # position in self.timesteps of the next step
        self.model_outputs = []  # x̂0 of the last solver_order steps, newest last
        self.last_sample = None  # x_s the last predictor started from: the corrector redoes that step
        self.last_order = None  # order of the last predictor step = order of the corrector that follows

    def set_timesteps(self, num_inference_steps: int, device=None):
        cfg = self.config
        check_num_inference_steps(num_inference_steps, cfg.num_train_timesteps)
        T, N = cfg.num_train_timesteps, num_inference_steps
        if cfg.use_flow_sigmas:
            # 1 … 1/T in N+1 points less the last, computed as numpy's linspace does: torch.linspace rounds
            # differently, and the truncation below turns a last-bit difference into a different timestep
            sigmas = 1 + torch.arange(N, dtype=torch.float64) * ((1 / T - 1) / N)
            sigmas = shift_sigmas(sigmas, cfg.flow_shift)
            sigmas[0] -= 1e-6  # σ = 1 would make α = 0 and λ = -∞ (diffusers' nudge)
            # Trap: the timesteps the model sees are σ·T truncated, not rounded (shift 3, 2 steps: σ = 0.999999,
            # 0.750375 → [999, 750]); the update itself uses the exact σ.
            timesteps = (sigmas * T).long()
            final = sigmas[-1].item()  # sigma_min: the last σ of the list
        else:
            if cfg.timestep_spacing == "linspace":  # i·(T-1)/N for i = N … 1 (DDIM's linspace also has i = 0)
                timesteps = (torch.arange(N, 0, -1, dtype=torch.float64) * ((T - 1) / N)).round()
            elif cfg.timestep_spacing == "leading":  # i·⌊T/(N+1)⌋ + steps_offset for i = N … 1
                timesteps = torch.arange(N, 0, -1, dtype=torch.float64) * (T // (N + 1)) + cfg.steps_offset
            else:  # trailing: T-1, T-1-T/N, …
                timesteps = torch.arange(T, 0, -T / N, dtype=torch.float64).round() - 1
            if cfg.use_karras_sigmas:  # σ evenly spaced in σ^(1/7), then the (rounded) timestep of each σ
                sigmas = karras_sigmas(self.train_sigmas[0].item(), self.train_sigmas[-1].item(), N)
                timesteps = timesteps_from_sigmas(sigmas, self.train_sigmas).round()
            else:
                sigmas = self.train_sigmas[timesteps.long()]
            timesteps = timesteps.long()
            final = self.train_sigmas[0].item()  # sigma_min: the least noisy training σ
        final = 0.0 if cfg.final_sigmas_type == "zero" else final
        self.sigmas = torch.cat([sigmas.float(), torch.tensor([final])])  # (N+1,)
        self.timesteps = timesteps.to(device)
        self.num_inference_steps = len(self.timesteps)
        self.step_index = None
        self.model_outputs = []
        self.last_sample = None
        self.last_order = None

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator=None) -> SchedulerOutput:
        """Correct the last step with this output (UniC), then predict the next sample (UniP)."""
        if self.sigmas is None:
            raise RuntimeError("UniPCMultistepScheduler.step: call set_timesteps(num_inference_steps) first.")
        if self.step_index is None:  # the first step may start part-way through (img2img)
            self.step_index = timestep_index(self.timesteps, timestep)
        i, n = self.step_index, len(self.timesteps)
        if i >= n or self.timesteps[i] != torch.as_tensor(timestep).to(self.timesteps):
            raise ValueError(
                f"timestep: got {float(timestep)} but this multistep run expects "
                f"{self.timesteps[i].item() if i < n else 'no more steps'}; pass "
                "scheduler.timesteps in order, and call set_timesteps again to start a new run."
            )
        cfg = self.config
        x = sample.float()
        x0 = self._x0(model_output.float(), x, self.sigmas[i])  # from the x the model saw, before correction
        if self.last_sample is not None and i - 1 not in cfg.disable_corrector:  # UniC on the step s = i-1 → t = i
            x = self._update(self.last_sample, i - 1, self.model_outputs, self.last_order, x0_t=x0)
        self.model_outputs = (self.model_outputs + [x0])[-cfg.solver_order :]
        order = min(cfg.solver_order, len(self.model_outputs))  # no history yet: lower order first
        if cfg.lower_order_final:  # orders …, 2, 1 on the last steps (whatever the number of steps)
            order = min(order, n - i)
        if i == n - 1 and cfg.final_sigmas_type == "zero":  # a step to σ = 0 has h = ∞: only order 1 is finite
            order = 1
        self.last_sample, self.last_order = x, order
        prev_sample = self._update(x, i, self.model_outputs, order)  # UniP from σ_i to σ_{i+1}
        self.step_index += 1
        return SchedulerOutput(prev_sample=prev_sample.to(model_output.dtype), pred_original_sample=x0)

    def _x0(self, model_output, x, sigma_stored):
        """x̂0 from the model output at one stored σ (thresholded if asked)."""
        alpha, sigma, _ = self._alpha_sigma_lambda(sigma_stored)
        kind = self.config.prediction_type
        if kind == "flow_prediction":
            x0 = x - sigma * model_output  # x̂0 = x_σ - σ·v̂
        elif kind == "epsilon":
            x0 = (x - sigma * model_output) / alpha  # x̂0 = (x - σ·ε̂)/α
        elif kind == "v_prediction":
            x0 = alpha * x - sigma * model_output  # v = α·ε - σ·x0
        else:
            x0 = model_output
        if self.config.thresholding:
            x0 = threshold_sample(x0, self.config.dynamic_thresholding_ratio, self.config.sample_max_value)
        return x0

    def _update(self, x, s: int, history: list, order: int, x0_t=None) -> torch.Tensor:
        """x at sigmas[s+1] from x at sigmas[s]: UniP-order, or UniC-order given x̂0_t (module docstring).

        history[-1] is x̂0 at sigmas[s], history[-1-k] at sigmas[s-k]; x and x̂0 of any shape (B, …).
        """
        alpha_t, sigma_t, lambda_t = self._alpha_sigma_lambda(self.sigmas[s + 1])
        _, sigma_s, lambda_s = self._alpha_sigma_lambda(self.sigmas[s])
        h = lambda_t - lambda_s
        z = -h
        h_phi_1 = torch.expm1(z)  # e^{-h} - 1 = z·φ_1(z)
        m0 = history[-1]
        x_t = sigma_t / sigma_s * x - alpha_t * h_phi_1 * m0  # UniP-1: DDIM, = DPM-Solver++ order 1
        if order == 1 and x0_t is None:  # (returning here also keeps a bh1 step to σ = 0 finite: B(h)·0 = ∞·0)
            return x_t
        B_h = z if self.config.solver_type == "bh1" else h_phi_1
        rks = [(self._alpha_sigma_lambda(self.sigmas[s - k])[2] - lambda_s) / h for k in range(1, order)]
        diffs = [(history[-1 - k] - m0) / r_k for k, r_k in enumerate(rks, start=1)]  # D_k
        if x0_t is not None:  # UniC: the new point x̂0_t, at r = 1
            rks.append(torch.ones(()))
            diffs.append(x0_t - m0)
        rhos = _rhos(torch.stack(rks), z, B_h)
        correction = sum((rho * d for rho, d in zip(rhos, diffs)), torch.zeros_like(x))  # Σ ρ_k·D_k
        return x_t - alpha_t * B_h * correction

    def _alpha_sigma_lambda(self, sigma_stored: torch.Tensor):
        """(α_t, σ_t, λ_t) from a stored σ: σ_t/α_t for the DDPM family, the flow σ in flow mode."""
        if self.config.use_flow_sigmas:
            alpha, sigma = 1 - sigma_stored, sigma_stored  # x_σ = (1-σ)·x0 + σ·ε
        else:
            alpha = 1 / (sigma_stored**2 + 1) ** 0.5
            sigma = sigma_stored * alpha
        return alpha, sigma, torch.log(alpha) - torch.log(sigma)

    def add_noise(self, original_samples: torch.Tensor, noise_: torch.Tensor, timesteps) -> torch.Tensor:
        """The forward process at these timesteps; in flow mode x_σ = (1-σ)·x0 + σ·ε at the σ of each timestep."""
        if not self.config.use_flow_sigmas:
            return super().add_noise(original_samples, noise_, timesteps)
        if self.sigmas is None:
            raise RuntimeError("UniPCMultistepScheduler.add_noise: call set_timesteps(num_inference_steps) first.")
        indices = [timestep_index(self.timesteps, t) for t in torch.as_tensor(timesteps).reshape(-1)]
        sigma = noise.expand_to(self.sigmas[indices], original_samples)  # (B, 1, …)
        return noise.flow_interpolate(original_samples, noise_, sigma)


def _rhos(rks: torch.Tensor, z: torch.Tensor, B_h: torch.Tensor) -> torch.Tensor:
    """ρ (n,) solving Σ_k ρ_k·r_k^(i-1) = g_i for i = 1 … n, g_i = z·φ_{i+1}(z)·i!/B(h), from rks (n,).

    One point (UniP-2, UniC-1) takes ρ = ½, the h → 0 limit of g_1, instead of solving (as diffusers).
    """
    if len(rks) == 1:
        return torch.tensor([0.5])
    R, g = [], []
    h_phi_k, factorial = torch.expm1(z) / z - 1, 1  # z·φ_2(z) = (e^z - 1)/z - 1
    for i in range(1, len(rks) + 1):
        R.append(rks ** (i - 1))
        g.append(h_phi_k * factorial / B_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / z - 1 / factorial  # z·φ_{i+2}(z) = z·φ_{i+1}(z)/z - 1/(i+1)!
    return torch.linalg.solve(torch.stack(R), torch.stack(g))  # R (n, n), g (n,)
