"""Shape recording: forward hooks on chosen modules write, in call order, what went in and came out."""

import dataclasses
import math

import torch


def tensors_in(value):
    """Every tensor inside nested tuples, lists, dicts and dataclasses (a model's inputs or outputs)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from tensors_in(getattr(value, f.name))


NAMES = {}  # dtype or device → its short name, e.g. torch.float32 → "float32" (computed once each)


def name_of(value) -> str:
    if value not in NAMES:
        NAMES[value] = str(value).replace("torch.", "")
    return NAMES[value]


def describe(value) -> list[dict]:
    """Shape, dtype and device of every tensor inside an argument structure."""
    return [
        {"shape": tuple(t.shape), "dtype": name_of(t.dtype), "device": name_of(t.device)} for t in tensors_in(value)
    ]


def all_finite(value) -> bool:
    """True if no floating-point tensor in `value` holds NaN or ±inf.

    min and max propagate NaN and show ±inf, so one fused aminmax pass decides it (far cheaper than
    materialising isfinite(t) for every element).
    """
    for t in tensors_in(value):
        if t.is_floating_point() and t.numel() > 0 and not t.is_meta:  # a meta tensor has shapes but no values
            low, high = torch.aminmax(t.detach())
            if not (math.isfinite(low.item()) and math.isfinite(high.item())):
                return False
    return True


def modules_to_watch(components: dict, which: str) -> list[tuple[str, torch.nn.Module]]:
    """(path, module) pairs: 'components' = the named components; 'leaves' = those and their leaf modules;
    'all' = every submodule. A module reachable twice (shared by two components) is watched once, first path."""
    chosen = {}  # id(module) → (path, module)
    for name, component in components.items():
        chosen.setdefault(id(component), (name, component))
        if which == "components":
            continue
        for path, sub in component.named_modules():
            if path and (which == "all" or not any(True for _ in sub.children())):
                chosen.setdefault(id(sub), (f"{name}.{path}", sub))
    return list(chosen.values())


class ModuleHooks:
    """Pre- and post-forward hooks on (path, module) pairs; calls back with the path, inputs and outputs.

    The pre-hook goes first among the module's pre-hooks, so it sees the call as made; the post-hook is called
    also when the forward raises (then with output None), so every `before` is matched by an `after`.
    Used as a context manager: the hooks are removed on exit, also when the block raised.
    """

    def __init__(self, watched, before, after):
        self.watched, self.before, self.after = watched, before, after
        self.handles = []

    def __enter__(self):
        try:
            self.install()
        except BaseException:
            self.__exit__()  # hooks installed before the failure come off again
            raise
        return self

    def install(self):
        for path, module in self.watched:
            self.handles.append(
                module.register_forward_pre_hook(
                    lambda m, args, kwargs, p=path: self.before(p, m, args, kwargs), with_kwargs=True, prepend=True
                )
            )
            self.handles.append(
                module.register_forward_hook(lambda m, args, out, p=path: self.after(p, m, out), always_call=True)
            )

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        return False
