"""What each attention backend holds and costs as the tokens grow. Prints the ledger's peak and the time per call.

    .venv/bin/python benchmarks/attention_backends.py

Self-attention of N tokens, batch 1, 8 heads of width 64 (SD 1.5's first level has 8 heads of 40 at N = 4,096),
float32 on the CPU. The peak is the memory ledger's: every tensor the call allocates (q, k and v excluded), so
the fused SDPA kernel's small internal blocks are not in it. The time is the fastest of 3 calls, untraced.
What to read off: naive's peak ×4 per doubling of N (the scores), sliced's the same divided by the number of
slices, chunked's and sdpa's ×2 (only the output grows); the outputs are equal (max difference printed).
"""

import time
from functools import partial

import torch

import difflab
from difflab.models.attention_dispatch import attention, attention_backend

TOKENS = (256, 1024, 4096)
BACKENDS = {
    "naive": attention_backend("naive"),
    "sdpa": attention_backend("sdpa"),
    "sliced, 1 head at a time": attention_backend("sliced", slice_size="max"),
    "chunked, 256 queries": attention_backend("chunked", chunk_size=256),
}


def fastest(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    print(f"{'tokens':>7}  {'backend':26} {'peak':>10}  {'time':>9}  max |out − sdpa|")
    for n in TOKENS:
        q, k, v = torch.randn(3, 1, 8, n, 64, generator=torch.Generator().manual_seed(0))
        reference = attention(q, k, v, None, BACKENDS["sdpa"])
        for name, backend in BACKENDS.items():
            with torch.no_grad(), difflab.trace(shapes=False, timings=False) as tr:
                out = attention(q, k, v, None, backend)
            seconds = fastest(partial(attention, q, k, v, None, backend))
            peak = difflab.trace.human_bytes(tr.memory[0]["peak"])
            error = (out - reference).abs().max().item()
            print(f"{n:>7}  {name:26} {peak:>10}  {seconds * 1000:>7.1f} ms  {error:.1e}")


if __name__ == "__main__":
    torch.set_num_threads(1)  # comparable figures on a busy machine: one thread, as the labs run
    main()
