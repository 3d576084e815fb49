"""Plausible wrong implementations of lab a04's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "cfg_combine",
        "noise_uncond + guidance_scale * (noise_text - noise_uncond)",
        "noise_text + guidance_scale * (noise_uncond - noise_text)",
        "cfg_combine at guidance_scale = 0",
    ),
    (
        "batched_cfg_inputs",
        "torch.cat([negative_embeds, prompt_embeds])",
        "torch.cat([prompt_embeds, negative_embeds])",
        "is [text; uncond]",
    ),
    (
        "cfg_combine",
        "return noise_uncond + guidance_scale * (noise_text - noise_uncond)",
        "return noise_uncond.add_(guidance_scale * (noise_text - noise_uncond))",
        "changed its argument `noise_uncond` in place",
    ),
]

WRONG += [
    (  # one std for the whole batch: right for B = 1, wrong as soon as two images differ in spread
        "rescale_noise_cfg",
        "dims = list(range(1, noise_cfg.ndim))",
        "dims = list(range(noise_cfg.ndim))",
        "one standard deviation over the whole batch",
    ),
    (  # written for image latents only
        "rescale_noise_cfg",
        "dims = list(range(1, noise_cfg.ndim))",
        "dims = [1, 2, 3]",
        "over axes (1, 2, 3) only",
    ),
    (
        "rescale_noise_cfg",
        "ratio = noise_text.std(dim=dims, keepdim=True) / noise_cfg.std(dim=dims, keepdim=True)",
        "ratio = noise_text.var(dim=dims, keepdim=True) / noise_cfg.var(dim=dims, keepdim=True)",
        "a ratio of variances",
    ),
    (
        "rescale_noise_cfg",
        "ratio = noise_text.std(dim=dims, keepdim=True) / noise_cfg.std(dim=dims, keepdim=True)",
        "ratio = noise_cfg.std(dim=dims, keepdim=True) / noise_text.std(dim=dims, keepdim=True)",
        "the ratio upside down",
    ),
    (
        "rescale_noise_cfg",
        "return guidance_rescale * rescaled + (1 - guidance_rescale) * noise_cfg",
        "return (1 - guidance_rescale) * rescaled + guidance_rescale * noise_cfg",
        "mixes the wrong way round",
    ),
    (
        "rescale_noise_cfg",
        "rescaled = noise_cfg * ratio",
        "rescaled = noise_cfg.mul_(ratio)",
        "changed its argument `noise_cfg` in place",
    ),
    (
        "guided_loop",
        "model_input = scheduler.scale_model_input(x, t)  # (B, C, h, w)",
        "model_input = x",
        "scale_model_input",
    ),
    (
        "guided_loop",
        "both = torch.cat([negative_embeds, prompt_embeds])  # (2B, L, D): [uncond; text], built once",
        "both = torch.cat([prompt_embeds, negative_embeds])",
        "[text; uncond]",
    ),
    (
        "guided_loop",
        "x = latents * scheduler.init_noise_sigma",
        "x = latents",
        "init_noise_sigma",
    ),
    (
        "guided_loop",
        "x = scheduler.step(noise_pred, t, x).prev_sample",
        "x = scheduler.step(noise_pred, t, model_input).prev_sample",
        "passes the scaled model input to scheduler.step",
    ),
    (  # guidance at w = 1 gives the same numbers, at twice the cost
        "guided_loop",
        "if guidance_scale > 1:",
        "if guidance_scale >= 1:",
        "guidance is off at guidance_scale ≤ 1",
    ),
    (
        "guided_loop",
        "x = latents * scheduler.init_noise_sigma",
        "x = latents.mul_(scheduler.init_noise_sigma)",
        "changed its argument `latents` in place",
    ),
]
