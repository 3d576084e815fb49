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


def snapshot(value):
    """A copy of an argument to compare with after a call: tensors cloned, dicts and lists copied all the way down."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snapshot(item) for item in value]
    return value


def same(before, after) -> bool:
    """Whether `after` holds what the `snapshot` `before` held: equal tensors (dtype and shape too), keys in order."""
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or (before.dtype, before.shape) != (after.dtype, after.shape):
            return False
        if before.is_meta or after.is_meta:  # shapes alone: no values to compare
            return before.is_meta == after.is_meta
        return torch.equal(before, after.detach().to(before.device))
    if isinstance(before, dict):
        return isinstance(after, dict) and list(before) == list(after) and all(same(before[k], after[k]) for k in after)
    if isinstance(before, list):
        return isinstance(after, list) and len(before) == len(after) and all(map(same, before, after))
    return type(before) is type(after) and before == after


def expect_dict_unchanged(before: dict, after: dict, name: str, call: str):
    """The dict argument `name` must hold after the call the keys and values of `before` (its `snapshot`).

    A converter or loader that renames, pops or replaces entries of the dict it was given hands back the right
    answer and leaves the caller with a changed state dict or config (the next load of it then fails)."""
    if same(before, after):
        return
    added = [key for key in after if key not in before]
    removed = [key for key in before if key not in after]
    changed = [key for key in before if key in after and not same(before[key], after[key])]
    kinds = {"added": added, "removed": removed, "changed": changed}
    what = [f"{verb} {keys[:3]}" for verb, keys in kinds.items() if keys]
    raise Wrong(
        f"{call} changed the dict `{name}` it was given ({'; '.join(what) or 'reordered its keys'}); the caller still "
        f"needs it as it was. Read from `{name}` and build a new dict or object instead of updating it."
    )


def call_keeping_inputs(function, arguments: dict, call: str):
    """function(*arguments.values()), then check that no tensor, dict or list argument was changed in place.

    arguments: parameter name → value, in the order of the function's parameters. Returns what the call returned.
    """
    before = {name: snapshot(value) for name, value in arguments.items()}
    got = function(*arguments.values())
    tensors = {name: value for name, value in arguments.items() if isinstance(value, torch.Tensor)}
    for name, value in tensors.items():
        if before[name].dtype != value.dtype or before[name].shape != value.shape:
            raise Wrong(
                f"{call} changed its argument `{name}` in place (from {describe(before[name])} to "
                f"{describe(value)}); the caller still needs it. Compute a new tensor instead of reassigning its data."
            )
    expect_inputs_unchanged({name: before[name] for name in tensors}, tensors, call)
    for name, value in arguments.items():
        if isinstance(value, (dict, list)) and not same(before[name], value):
            if isinstance(value, dict):
                expect_dict_unchanged(before[name], value, name, call)
            raise Wrong(f"{call} changed the list `{name}` it was given; the caller still needs it as it was.")
    return got


def first_index(mask: torch.Tensor) -> tuple:
    """The first True position of a boolean tensor as an index tuple."""
    flat = int(mask.reshape(-1).nonzero()[0])
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), mask.shape)) if mask.ndim else ()
