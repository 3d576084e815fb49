"""Interactive: a function redrawn by its controls, like ipywidgets.interact, that keeps a static copy.

    Interactive(plot_shift, shift=FloatSlider(3.0, min=0.5, max=8.0, step=0.5))

shows the controls and, below them, what `plot_shift(shift=...)` displays (figures, printed text), drawn again
whenever a control moves: what `interact(plot_shift, shift=...)` shows. It also keeps what the function showed
at the starting values as a static copy (static.py), so a lab saved and reopened without a kernel shows that
picture instead of "Error displaying widget: model not found".

How: each call of the function runs inside IPython's `capture_output`, and what it displayed and printed is
handed to the Output widget below the controls (its `outputs`); the first call's outputs are also the static
copy. The function runs once for the starting values, not twice.
"""

import base64
import html
import traceback

import ipywidgets as widgets
from IPython.utils.capture import capture_output
from ipywidgets.widgets.interaction import show_inline_matplotlib_plots

from .static import View, heading, img_tag


def captured_outputs(captured) -> tuple[dict, ...]:
    """What a `capture_output` block printed and displayed, as notebook outputs (printed text first)."""
    printed = [{"output_type": "stream", "name": "stdout", "text": captured.stdout}] if captured.stdout else []
    shown = [{"output_type": "display_data", "data": o.data, "metadata": o.metadata} for o in captured.outputs]
    return tuple(printed + shown)


def output_html(output: dict) -> str:
    """One notebook output as HTML: its PNG as an <img>, its HTML, or its text."""
    if output["output_type"] == "stream":
        return f"<pre>{html.escape(output['text'])}</pre>"
    data = output["data"]
    if "image/png" in data:  # base64 text, as the inline backend sends a figure
        return img_tag(base64.b64decode(data["image/png"]), "output of the function")
    if "text/html" in data:
        return data["text/html"]
    return f"<pre>{html.escape(data.get('text/plain', ''))}</pre>"


class Interactive(View):
    """`f` called with the values of `controls` (name=widget, e.g. alpha=FloatSlider(0.3)), again at every change."""

    def __init__(self, f, **controls):
        for name, control in controls.items():
            if not isinstance(control, widgets.ValueWidget):
                raise ValueError(
                    f"{name}: got {control!r}; give a control widget for every argument, "
                    f"e.g. {name}=FloatSlider(0.3, min=0, max=2) or {name}=Dropdown(options=['a', 'b'])."
                )
            control.description = control.description or name  # labelled by the argument, as interact does
        self.f, self.controls, self.name = f, controls, getattr(f, "__name__", "function")
        self.out = widgets.Output()
        self.widget = widgets.VBox([*controls.values(), self.out]).add_class("widget-interact")
        self.first_values = self.values()
        show_inline_matplotlib_plots()  # figures the cell drew before this view stay out of it
        self.first_outputs = self.run()  # an error here fails the cell, as it should
        for control in controls.values():
            control.observe(lambda change: self.rerun(), names="value")

    def values(self) -> str:
        """The controls' current values: 'shift = 3.0, steps = 10'."""
        return ", ".join(f"{name} = {control.value!r}" for name, control in self.controls.items())

    def run(self) -> tuple[dict, ...]:
        """Call f with the controls' values and show what it displayed in the live view."""
        with capture_output() as captured:
            self.f(**{name: control.value for name, control in self.controls.items()})
            show_inline_matplotlib_plots()  # the inline backend otherwise draws figures only when a cell ends
        self.out.outputs = captured_outputs(captured)
        return self.out.outputs

    def rerun(self):
        """After a control moved: an error shows its traceback in the view (no cell is running to show it)."""
        try:
            self.run()
        except Exception:
            self.out.outputs = ({"output_type": "stream", "name": "stderr", "text": traceback.format_exc()},)

    def static_html(self) -> str:
        return heading(self.name, self.first_values) + "".join(output_html(o) for o in self.first_outputs)

    def __repr__(self):
        return f"Interactive({self.name}, {self.values()})"
