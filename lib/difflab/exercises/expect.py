"""Comparisons that explain themselves: each raises `Wrong` with expected vs got, never a bare assert."""

import torch

from .core import Wrong


def describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def expect_tensor(got, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4):
    """`got` must be a tensor with the shape and dtype of `expected` and values within atol + rtol·|expected|."""
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"{what} should return a torch.Tensor, got {describe(got)}.")
    if got.shape != expected.shape:
        raise Wrong(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.")
    if got.dtype != expected.dtype:
        raise Wrong(f"{what}: expected dtype {expected.dtype}, got {got.dtype}.")
    got, expected = got.detach().cpu(), expected.detach().cpu()
    bad_values = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad_values.any():
        index = first_index(bad_values)
        raise Wrong(
            f"{what}: got {got[index].item()} at index {index} where {expected[index].item():.6g} was expected."
        )
    error = (got - expected).abs()
    off = error > atol + rtol * expected.abs()
    if off.any():
        index = first_index(off)
        raise Wrong(
            f"{what}: first mismatch at index {index}: expected {expected[index].item():.6g}, "
            f"got {got[index].item():.6g} ({int(off.sum())} of {off.numel()} values off, "
            f"largest error {error.max().item():.3g})."
        )


def expect_value(got, expected: float, what: str, atol: float = 1e-6):
    """A Python or 0-d number within atol of `expected`."""
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a number, got {describe(got)}.") from None
    if not abs(value - expected) <= atol:
        raise Wrong(f"{what}: expected {expected:.6g}, got {value:.6g}.")


def expect_value_error(run, shown: str, words: list[str], should_name: str, why: str):
    """run() must raise ValueError whose message contains every one of `words`.

    shown: the call as messages print it; should_name: what the message must mention, in words;
    why: the reason the input is invalid, for the message when run() returns instead of raising.
    """
    try:
        got = run()
    except NotImplementedError:
        raise
    except ValueError as e:
        missing = [w for w in words if w not in str(e)]
        if missing:
            raise Wrong(
                f"{shown} raised ValueError({str(e)!r}); the message should name {should_name}, "
                f"but lacks {', '.join(missing)}."
            ) from None
        return
    except Exception as e:
        raise Wrong(f"{shown} should raise ValueError, not {type(e).__name__}: {e}") from None
    raise Wrong(f"{shown} returned {got!r}; {why}: it should raise ValueError.")


def expect_inputs_unchanged(originals: dict, arguments: dict, call: str):
    """Each tensor argument must hold what it held before the call (`originals`: name → a clone taken before).

    A function that updates its input in place (`x += …`, `x.mul_(…)`) returns the right numbers and silently
    changes the caller's tensor: the pipeline's latents, or the prediction it uses again for the next step."""
    for name, before in originals.items():
        if not torch.equal(arguments[name], before):
            raise Wrong(
                f"{call} changed its argument `{name}` in place; the caller still needs it. Compute a new tensor "
                f"(`a + w * b`) instead of updating `{name}` (`{name} += …`, `{name}.add_(…)`)."
            )


def first_index(mask: torch.Tensor) -> tuple:
    """The first True position of a boolean tensor as an index tuple."""
    flat = int(mask.reshape(-1).nonzero()[0])
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), mask.shape)) if mask.ndim else ()
