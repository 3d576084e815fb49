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
