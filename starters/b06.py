"""Lab b06 · Video latent / frame dimension — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b06` in a terminal
(or `difflab.check("b06")` in the notebook). Plain Python is enough: no torch needed. Compare with
`TextToVideoPipeline.latent_shape` and `check_num_frames` (lib/difflab/pipelines/text_to_video.py) and with
`num_tokens` and `attention_matrix_bytes` (lib/difflab/configs/arithmetic.py) once yours pass.

The chain for Wan2.1 at 81 frames of 480×832 (the defaults below are Wan2.1's):

    video (3, 81, 480, 832) ──VAE──▶ latent (16, 21, 60, 104) ──patch (1, 2, 2)──▶ 21·30·52 = 32,760 tokens
                                      video_latent_shape                num_tokens
    scores of self-attention: 32,760² per head and sample                attention_bytes
"""


def video_latent_shape(num_frames: int, height: int, width: int, z_dim=16, temporal=4, spatial=8) -> tuple:
    """The latent (C, F', H', W') a causal video VAE makes of num_frames frames of height × width pixels.

        C  = z_dim                               latent channels (16 for Wan2.1)
        F' = 1 + (num_frames - 1) / temporal     frame 0 is encoded alone, then `temporal` frames per latent frame
        H' = height / spatial,  W' = width / spatial

    Valid frame counts are 1 + temporal·k, k ≥ 0 (1, 5, 9, …, 81 for temporal 4). Any other count raises
    ValueError with a message naming num_frames, the value received and the two nearest valid counts, e.g.
        "num_frames: got 16; a causal video VAE takes 1 + 4·k frames: use 13 or 17."
    (for 0 or less: "use 1 or 5"). A height or width that is not a positive multiple of `spatial` raises
    ValueError naming the argument and the value (e.g. "height: got 500; …").
    Returns: a tuple of four ints.
    """
    raise NotImplementedError(
        "b06: refuse frame counts other than 1 + temporal·k and sizes off the spatial grid, then divide"
    )


def num_tokens(latent_shape: tuple, patch_size=(1, 2, 2)) -> int:
    """How many tokens the transformer's self-attention runs over for one latent (C, F', H', W').

    Each token is one p_t × p_h × p_w patch of latent pixels (patch_size = (p_t, p_h, p_w); Wan2.1: (1, 2, 2)),
    with all C channels of those pixels as its input features:

        tokens = (F' / p_t) · (H' / p_h) · (W' / p_w)          Wan2.1, (16, 21, 60, 104): 21 · 30 · 52 = 32,760

    The latent sizes given divide by their patch sides.
    Returns: an int.
    """
    raise NotImplementedError("b06: drop the channels, divide each of F', H', W' by its patch side, multiply")


def attention_bytes(tokens: int, heads: int, bytes_per_element: int, batch: int = 1) -> int:
    """Bytes of the attention score matrix softmax(QKᵀ/√d) of one self-attention layer, if it were held whole:
    one score for every (query, key) pair of tokens, for each head and each sample.

    bytes_per_element: 4 for float32, 2 for bf16/fp16, 1 for fp8.
    Example: Wan2.1-1.3B (12 heads) at 32,760 tokens in bf16: 25,757,222,400 bytes, 24.0 GiB per layer.
    Returns: an int.
    """
    raise NotImplementedError("b06: tokens × tokens scores per head and per sample, times the bytes of one score")
