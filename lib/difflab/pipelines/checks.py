"""Argument checks shared by the pipelines: each error names the argument, what came in, what is valid, the fix."""


def check_size(name: str, value: int, factor: int):
    if not isinstance(value, int) or value <= 0 or value % factor:
        lower = max(factor, (value // factor) * factor) if isinstance(value, int) else factor
        raise ValueError(
            f"{name}: got {value!r}; valid values are positive multiples of {factor} (the VAE shrinks images "
            f"{factor}× per side, so the latent grid needs whole cells). Try {lower} or {lower + factor}."
        )


def check_steps(num_inference_steps, num_train_timesteps: int):
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise ValueError(
            f"num_inference_steps: got {num_inference_steps!r}; valid values are whole numbers 1 … "
            f"{num_train_timesteps}. 20–50 is typical."
        )
    if num_inference_steps > num_train_timesteps:
        raise ValueError(
            f"num_inference_steps: got {num_inference_steps}; the model was trained with {num_train_timesteps} "
            f"timesteps, so at most {num_train_timesteps} steps make sense."
        )


def check_guidance(guidance_scale):
    if not isinstance(guidance_scale, (int, float)) or guidance_scale < 0:
        raise ValueError(
            f"guidance_scale: got {guidance_scale!r}; valid values are numbers ≥ 0. Values ≤ 1 switch classifier-free "
            "guidance off; 3–8 is typical."
        )


def check_strength(strength):
    if not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise ValueError(
            f"strength: got {strength!r}; valid values are 0 … 1 (0 keeps the input image, 1 ignores it). "
            "0.5–0.8 is typical."
        )


def prompts_as_list(prompt, negative_prompt) -> tuple[list[str], list[str]]:
    """Both prompts as lists of equal length ('' for a missing negative prompt)."""
    if isinstance(prompt, str):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt or not all(isinstance(p, str) for p in prompt):
        raise ValueError(f"prompt: got {prompt!r}; pass a string or a non-empty list of strings.")
    if negative_prompt is None:
        negative_prompt = [""] * len(prompt)
    elif isinstance(negative_prompt, str):
        negative_prompt = [negative_prompt] * len(prompt)
    if len(negative_prompt) != len(prompt):
        raise ValueError(
            f"negative_prompt: got {len(negative_prompt)} negative prompts for {len(prompt)} prompts; pass one "
            "negative prompt per prompt, or a single string to use for all."
        )
    return prompt, list(negative_prompt)
