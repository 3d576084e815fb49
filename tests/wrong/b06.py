"""Plausible wrong implementations of lab b06's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

LATENT_FRAMES = "latent_frames = 1 + (num_frames - 1) // temporal  # F' = 1 + (F - 1)/t"
LATENT = "return (z_dim, latent_frames, height // spatial, width // spatial)  # (C, F', H/s, W/s)"
FRAMES_TEST = "if num_frames < 1 or (num_frames - 1) % temporal:"
BELOW = "below = max(1, 1 + (num_frames - 1) // temporal * temporal)  # the valid count at or below num_frames"
TOKENS = "return (frames // p_t) * (height // p_h) * (width // p_w)"
SCORES = "return batch * heads * tokens * tokens * bytes_per_element"

WRONG = [
    # 81 // 4 = 20: the first frame, encoded alone, forgotten.
    (
        "video_latent_shape",
        LATENT_FRAMES,
        "latent_frames = num_frames // temporal",
        "off by one: a causal VAE encodes the first frame alone",
    ),
    # the token grid's 16 (VAE 8 × patch 2) used for the latent itself
    (
        "video_latent_shape",
        LATENT,
        "return (z_dim, latent_frames, height // (2 * spatial), width // (2 * spatial))",
        "is the token grid",
    ),
    # diffusers' own test, which is right only for temporal 4: with temporal 1 every count fits, and 14 % 1 == 0
    ("video_latent_shape", FRAMES_TEST, "if num_frames % temporal != 1:", "but these sizes fit"),
    # "frame counts must be odd": refuses 16 and 18, accepts 19
    (
        "video_latent_shape",
        FRAMES_TEST,
        "if num_frames < 1 or num_frames % 2 == 0:",
        "video_latent_shape(19, 480, 832) returned",
    ),
    # nearest counts from the multiples of 4 instead of 1 + 4k: "use 16 or 20"
    (
        "video_latent_shape",
        BELOW,
        "below = max(1, num_frames // temporal * temporal)",
        "lacks 13",
    ),
    ("video_latent_shape", "if value <= 0 or value % spatial:", "if value % spatial:", "(17, 0, 64) returned"),
    (
        "video_latent_shape",
        LATENT,
        "return (z_dim, latent_frames, width // spatial, height // spatial)",
        "Height and width are swapped",
    ),
    # one token per latent pixel: the patch forgotten
    ("num_tokens", TOKENS, "return frames * height * width", "one token per latent pixel"),
    # the channels counted as tokens
    (
        "num_tokens",
        "_, frames, height, width = latent_shape",
        "channels, frames, height, width = latent_shape\n    frames = frames * channels",
        "the 16 channels are each token's input features",
    ),
    # linear in tokens
    ("attention_bytes", SCORES, "return batch * heads * tokens * bytes_per_element", "tokens × tokens entries"),
    ("attention_bytes", SCORES, "return batch * tokens * tokens * bytes_per_element", "multiply by heads"),
    ("attention_bytes", SCORES, "return heads * tokens * tokens * bytes_per_element", "multiply by batch"),
    ("attention_bytes", SCORES, "return 8 * batch * heads * tokens * tokens * bytes_per_element", "That is bits"),
]
