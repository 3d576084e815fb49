"""DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of DPMs", Alg. 2).

Write x_t = α_t·x0 + σ_t·ε with α_t = √ᾱ_t, σ_t = √(1-ᾱ_t), and λ_t = log(α_t/σ_t) (half the log-SNR).
In λ the probability-flow ODE has an exactly integrable linear part; only the model's x̂0 is approximated,
by a polynomial through the last `solver_order` predictions. One step from s to t, h = λ_t - λ_s > 0:

    # order 1 (= DDIM):  x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·D0
    # order 2 midpoint:  x_t = (order 1) - ½·α_t·(e^{-h} - 1)·D1
    # order 2 heun:      x_t = (order 1) + α_t·((e^{-h} - 1)/h + 1)·D1
    # order 3:           x_t = (order 1) + α_t·((e^{-h} - 1)/h + 1)·D1 - α_t·((e^{-h} - 1 + h)/h² - ½)·D2

D0 = x̂0_s is the newest prediction; D1 and D2 are scaled divided differences of the history in λ, with
r0 = (λ_s - λ_{s-1})/h and r1 = (λ_{s-1} - λ_{s-2})/h:

    # order 2:  D1 = (D0 - x̂0_{s-1}) / r0
    # order 3:  D1_0 = (D0 - x̂0_{s-1}) / r0,  D1_1 = (x̂0_{s-1} - x̂0_{s-2}) / r1
    #           D1 = D1_0 + r0/(r0 + r1)·(D1_0 - D1_1),  D2 = (D1_0 - D1_1) / (r0 + r1)

algorithm_type="dpmsolver" (Lu et al. 2022, NeurIPS) is the same solver on ε̂ instead of x̂0: swap α ↔ σ
and h → -h in every line above. The first steps use a lower order (there is no history yet), and so do the
last ones (see `_order_cap`). `.sigmas` holds σ = √((1-ᾱ)/ᾱ) = σ_t/α_t, as diffusers stores it.

Difference from diffusers: a step of length zero (use_karras_sigmas with final_sigmas_type="sigma_min" ends
on a repeated σ) returns x unchanged here; diffusers' heun and order-3 updates divide 0 by 0 there (NaN).
With use_karras_sigmas and squaredcos_cap_v2, diffusers truncates the timesteps; difflab rounds them.
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

# diffusers fields difflab leaves out: the one value accepted, and what to do instead.
UNSUPPORTED = {
    "use_exponential_sigmas": (False, "Use use_karras_sigmas=True or the default spacing."),
    "use_beta_sigmas": (False, "Use use_karras_sigmas=True or the default spacing."),
    "use_lu_lambdas": (False, "Use use_karras_sigmas=True or the default spacing."),
    "use_flow_sigmas": (False, "For flow-matching models use FlowMatchEulerDiscreteScheduler."),
    "use_dynamic_shifting": (False, "For flow-matching models use FlowMatchEulerDiscreteScheduler."),
    "variance_type": (None, "Pass only the noise channels of a learned-variance model: model_output[:, :C]."),
}


class DPMSolverMultistepScheduler(Scheduler):
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
        algorithm_type: str = "dpmsolver++",
        solver_type: str = "midpoint",
        lower_order_final: bool = True,
        euler_at_final: bool = False,
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        use_lu_lambdas: bool = False,
        use_flow_sigmas: bool = False,
        flow_shift: float = 1.0,
        final_sigmas_type: str = "zero",
        lambda_min_clipped: float = -float("inf"),
        variance_type: str | None = None,
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
        use_dynamic_shifting: bool = False,
        time_shift_type: str = "exponential",
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        for field, (only, fix) in UNSUPPORTED.items():
            if self.config[field] != only:
                raise ValueError(f"{field}: got {self.config[field]!r}; difflab supports only {only!r}. {fix}")
        sde = "The SDE variants ('sde-dpmsolver++', 'sde-dpmsolver') are not implemented in difflab."
        check_choice("algorithm_type", algorithm_type, ("dpmsolver++", "dpmsolver"), sde)
        check_choice("solver_order", solver_order, (1, 2, 3), "2 is the usual choice for guided sampling.")
        check_choice("solver_type", solver_type, ("midpoint", "heun"))
        check_choice("final_sigmas_type", final_sigmas_type, ("zero", "sigma_min"))
        check_choice("timestep_spacing", timestep_spacing, ("linspace", "leading", "trailing"))
        check_choice("time_shift_type", time_shift_type, ("exponential",))
        check_choice("prediction_type", prediction_type, noise.PREDICTION_TYPES, "'flow_prediction' is not supported.")
        if algorithm_type == "dpmsolver" and final_sigmas_type == "zero":
            raise ValueError(
                "final_sigmas_type: got 'zero' with algorithm_type='dpmsolver'; the ε-form update cannot "
                "reach σ = 0 (its σ_t·(e^h - 1) is 0·∞). Pass final_sigmas_type='sigma_min' or use "
                "algorithm_type='dpmsolver++'."
            )
        self.betas = make_betas(
            num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr
        )
        self.alphas_cumprod = noise.alpha_bar(self.betas)  # ᾱ_t, shape (T,)
        if rescale_betas_zero_snr:
            self.alphas_cumprod[-1] = 2**-24  # ᾱ_T = 0 exactly would make σ_T infinite (diffusers' floor)
        self.train_sigmas = noise.sigmas_from_alpha_bar(self.alphas_cumprod)  # σ_t/α_t for t = 0 … T-1
        self.lambdas = self.alphas_cumprod.sqrt().log() - (1 - self.alphas_cumprod).sqrt().log()  # λ_t, (T,)
        self.sigmas = None  # sampling state, set by set_timesteps: σ of each step, then the final σ
        self.step_index = None  # position in self.timesteps of the next step
        self.model_outputs = []  # x̂0 (or ε̂ for "dpmsolver") of the last solver_order steps, newest last

    def set_timesteps(self, num_inference_steps: int, device=None):
        cfg = self.config
        check_num_inference_steps(num_inference_steps, cfg.num_train_timesteps)
        T, N = cfg.num_train_timesteps, num_inference_steps
        # Leave out the noisiest training steps, whose λ is below lambda_min_clipped (T of them by default).
        last = T - int(torch.searchsorted(self.lambdas.flip(0), cfg.lambda_min_clipped))
        if cfg.timestep_spacing == "linspace":  # i·(last-1)/N for i = N … 1 (DDIM's linspace also has i = 0)
            timesteps = (torch.arange(N, 0, -1, dtype=torch.float64) * ((last - 1) / N)).round()
        elif cfg.timestep_spacing == "leading":  # i·⌊last/(N+1)⌋ + steps_offset for i = N … 1
            timesteps = torch.arange(N, 0, -1, dtype=torch.float64) * (last // (N + 1)) + cfg.steps_offset
        else:  # trailing: last-1, last-1-T/N, …
            timesteps = torch.arange(last, 0, -T / N, dtype=torch.float64).round() - 1
        if cfg.use_karras_sigmas:  # σ evenly spaced in σ^(1/7), then the (rounded) timestep of each σ
            sigmas = karras_sigmas(self.train_sigmas[0].item(), self.train_sigmas[-1].item(), N)
            timesteps = timesteps_from_sigmas(sigmas, self.train_sigmas).round()
        else:
            sigmas = self.train_sigmas[timesteps.long()]
        final = 0.0 if cfg.final_sigmas_type == "zero" else self.train_sigmas[0].item()
        self.sigmas = torch.cat([sigmas.float(), torch.tensor([final])])  # (N+1,)
        self.timesteps = timesteps.long().to(device)
        self.num_inference_steps = len(self.timesteps)
        self.step_index = None
        self.model_outputs = []

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator=None) -> SchedulerOutput:
        """One multistep update; call it once per entry of `timesteps`, in order (the history lives here)."""
        if self.sigmas is None:
            raise RuntimeError("DPMSolverMultistepScheduler.step: call set_timesteps(num_inference_steps) first.")
        if self.step_index is None:  # the first step may start part-way through (img2img)
            self.step_index = timestep_index(self.timesteps, timestep)
        i = self.step_index
        if i >= len(self.timesteps) or self.timesteps[i] != torch.as_tensor(timestep).to(self.timesteps):
            raise ValueError(
                f"timestep: got {float(timestep)} but this multistep run expects "
                f"{self.timesteps[i].item() if i < len(self.timesteps) else 'no more steps'}; pass "
                "scheduler.timesteps in order, and call set_timesteps again to start a new run."
            )
        cfg = self.config
        x = sample.float()
        alpha, sigma, _ = _alpha_sigma_lambda(self.sigmas[i])
        x0, eps = _x0_and_eps(model_output.float(), x, alpha, sigma, cfg.prediction_type)
        if cfg.thresholding:
            x0 = threshold_sample(x0, cfg.dynamic_thresholding_ratio, cfg.sample_max_value)
            eps = (x - alpha * x0) / sigma  # ε̂ consistent with the clamped x̂0
        prediction = x0 if cfg.algorithm_type == "dpmsolver++" else eps
        self.model_outputs = (self.model_outputs + [prediction])[-cfg.solver_order :]
        order = min(cfg.solver_order, len(self.model_outputs), self._order_cap(i))
        prev_sample = self._update(x, i, order)
        self.step_index += 1
        return SchedulerOutput(prev_sample=prev_sample.to(model_output.dtype), pred_original_sample=x0)

    def _order_cap(self, i: int) -> int:
        """Highest order allowed at step i: low order at the end, where the step lengths in λ blow up."""
        n = len(self.timesteps)
        few = self.config.lower_order_final and n < 15  # fewer than 15 steps: end on orders 2 then 1
        to_zero = self.config.final_sigmas_type == "zero"  # a step to σ = 0 has h = ∞: only order 1 is finite
        if i == n - 1 and (few or to_zero or self.config.euler_at_final):
            return 1
        return 2 if i == n - 2 and few else 3

    def _update(self, x: torch.Tensor, i: int, order: int) -> torch.Tensor:
        """x at sigmas[i+1] from x at sigmas[i] and the last `order` predictions (module docstring)."""
        alpha_t, sigma_t, lambda_t = _alpha_sigma_lambda(self.sigmas[i + 1])
        alpha_s, sigma_s, lambda_s = _alpha_sigma_lambda(self.sigmas[i])
        h = lambda_t - lambda_s
        if h == 0:  # a repeated σ: nothing to integrate
            return x
        if self.config.algorithm_type == "dpmsolver++":
            scale, c = sigma_t / sigma_s, alpha_t
        else:  # ε-form: α ↔ σ and h → -h
            scale, c, h = alpha_t / alpha_s, sigma_t, -h
        m = self.model_outputs[::-1]  # m[0] at σ_s, m[1] at the step before, …
        phi = torch.exp(-h) - 1.0  # e^{-h} - 1
        x_t = scale * x - (c * phi) * m[0]
        if order == 1:
            return x_t
        lambda_1 = _alpha_sigma_lambda(self.sigmas[i - 1])[2]  # r0, r1 use the unsigned step λ_t - λ_s
        r0 = (lambda_s - lambda_1) / (lambda_t - lambda_s)
        d1 = (1.0 / r0) * (m[0] - m[1])
        if order == 2 and self.config.solver_type == "midpoint":
            return x_t - 0.5 * (c * phi) * d1
        if order == 2:  # heun
            return x_t + (c * (phi / h + 1.0)) * d1
        r1 = (lambda_1 - _alpha_sigma_lambda(self.sigmas[i - 2])[2]) / (lambda_t - lambda_s)
        d1_1 = (1.0 / r1) * (m[1] - m[2])
        d1, d2 = d1 + (r0 / (r0 + r1)) * (d1 - d1_1), (1.0 / (r0 + r1)) * (d1 - d1_1)
        return x_t + (c * (phi / h + 1.0)) * d1 - (c * ((phi + h) / h**2 - 0.5)) * d2


def _alpha_sigma_lambda(sigma_ve: torch.Tensor):
    """α_t = 1/√(1+σ²), σ_t = σ·α_t and λ_t = log α_t - log σ_t (= -log σ) from the stored σ = σ_t/α_t."""
    alpha = 1 / (sigma_ve**2 + 1) ** 0.5
    sigma = sigma_ve * alpha
    return alpha, sigma, torch.log(alpha) - torch.log(sigma)


def _x0_and_eps(model_output, x, alpha, sigma, prediction_type):
    """(x̂0, ε̂) from the model output, in the α, σ form of x = α·x0 + σ·ε (noise.py has the ᾱ form)."""
    if prediction_type == "epsilon":
        return (x - sigma * model_output) / alpha, model_output  # x̂0 = (x - σ·ε̂)/α
    if prediction_type == "v_prediction":  # v = α·ε - σ·x0
        return alpha * x - sigma * model_output, alpha * model_output + sigma * x
    return model_output, (x - alpha * model_output) / sigma  # "sample": ε̂ = (x - α·x̂0)/σ
