"""Widgets described as data, and a per-lab store that survives hidden widgets and presets."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import streamlit as st

from core.config import format_value, parse_value
from core.errors import ConfigError, escape_markdown, shorten

# Link parameters of the page, not of a lab's settings (presenter mode, the lesson on show, the open
# tab, hidden controls, a guided lesson's step, an exercise): write_link keeps them.
PAGE_PARAMS = ("present", "preset", "tab", "hide", "lesson", "step", "exercise")


@dataclass(frozen=True)
class Control:
    """One widget bound to one config field ("section.field")."""

    key: str
    label: str
    kind: str  # "slider" (low..high), "choice" (select_slider over options), "select", "toggle", "number"
    options: tuple = ()
    labels: Mapping[object, str] = field(default_factory=dict)  # select/choice: value -> label
    low: float | None = None
    high: float | None = None
    step: float | None = None
    help: str | None = None

    def coerce(self, value):
        """The nearest value this widget can show, or ConfigError if there is none."""
        if self.kind == "select":
            if value not in self.options:
                raise ConfigError(
                    f"'{value}' is not a choice for {self.label}; valid: {', '.join(map(str, self.options))}."
                )
            return value
        if self.kind == "choice":
            if value in self.options:
                return value
            return min(self.options, key=lambda option: _distance(option, value))
        if self.kind in ("slider", "number") and self.low is not None:
            clamped = min(max(value, self.low), self.high)
            return type(value)(clamped)
        return value

    def text(self, value) -> str:
        if value in self.labels:
            return self.labels[value]
        return f"{value:g}" if isinstance(value, float) else str(value)


def _distance(option, value) -> float:
    if option > 0 and value > 0:
        return abs(math.log(option) - math.log(value))
    return abs(option - value)


def lab_key(lab: str, name: str) -> str:
    """A lab's entry in st.session_state, "<lab>:<name>" ("grad:preset", "grad:worker"): the shared kit
    spells every such key through here."""
    return f"{lab}:{name}"


class ControlStore:
    """A lab's settings: prefixed flat key -> typed value, kept outside widget state.

    Streamlit forgets a widget's state when the widget is not drawn in a run (a hidden
    option, the B tab with compare off). The store keeps every value and re-seeds the
    widget when it reappears; presets and links write to the store, never to widgets.
    """

    def __init__(self, lab: str, defaults: Mapping[str, object]):
        self.lab = lab
        self.defaults = dict(defaults)
        self.values: dict[str, object] = st.session_state.setdefault(lab_key(lab, "values"), dict(defaults))

    def _widget_key(self, key: str) -> str:
        return f"{self.lab}:w:{key}"

    def widget(
        self,
        control: Control,
        prefix: str = "",
        *,
        disabled: bool = False,
        on_change: Callable[[], None] | None = None,
        container=st,
    ):
        """Draw the widget for control under prefix and return its current value."""
        key = prefix + control.key
        if self.hidden(key, control):  # a teacher's simplified page: the value stays, the widget goes
            return self.values.get(key, self.defaults.get(key))
        wkey = self._widget_key(key)
        shown = self._shown(control, key)
        if wkey not in st.session_state:  # a value the widget cannot show snaps to its nearest option
            st.session_state[wkey] = shown

        def changed() -> None:
            if wkey not in st.session_state:  # set() dropped this widget after the browser sent its value
                return  # (a preset or a new optimizer's learning rate): the store's value stands
            self.values[key] = st.session_state[wkey]
            if on_change:
                on_change()

        # The widget's own default is the store's value, not its first option: a browser that builds the
        # widget anew without its state (a rerun that cut across a redraw) shows, and sends back, the
        # setting, never the lowest learning rate or the first optimizer.
        common = dict(key=wkey, help=control.help, disabled=disabled, on_change=changed)
        if control.kind == "slider":
            container.slider(control.label, control.low, control.high, shown, step=control.step, **common)
        elif control.kind == "choice":
            container.select_slider(control.label, control.options, shown, format_func=control.text, **common)
        elif control.kind == "select":
            index = control.options.index(shown)  # _shown: always one of them
            container.selectbox(control.label, control.options, index, format_func=control.text, **common)
        elif control.kind == "toggle":
            container.toggle(control.label, bool(shown), **common)
        elif control.kind == "number":
            container.number_input(
                control.label, control.low, control.high, shown, step=control.step, **common
            )
        else:
            raise ValueError(f"unknown control kind {control.kind}")
        self.values[key] = st.session_state[wkey]
        return self.values[key]

    def _shown(self, control: Control, key: str):
        """The store's value as the widget can show it (a number between its options: the nearest)."""
        value = self.values.get(key, self.defaults.get(key))
        try:
            return control.coerce(value)
        except ConfigError:  # not one of a list's choices (checked where the value came in): the first
            return control.options[0]

    def hidden(self, key: str, control: Control) -> bool:
        """Whether the link's `?hide=` hides this control.

        `hide` is a comma-separated list of settings, each named by its link key with or without the
        A/B prefix ("model.depth", "a.model.depth") or by its label ("learning rate"), or `others`:
        every control the lesson (the preset last chosen) does not set.
        """
        wanted = {w.strip().lower() for w in (st.query_params.get("hide") or "").split(",") if w.strip()}
        if not wanted:
            return False
        if "others" in wanted and key not in st.session_state.get(lab_key(self.lab, "preset_keys"), set()):
            return True
        return bool(wanted & {key.lower(), control.key.lower(), control.label.lower()})

    def set(self, values: Mapping[str, object]) -> None:
        """Overwrite values (a preset, a link); their widgets are re-seeded on the next draw."""
        for key, value in values.items():
            self.values[key] = value
            st.session_state.pop(self._widget_key(key), None)

    def reset(self) -> None:
        self.set(self.defaults)

    def section(self, prefix: str) -> dict[str, object]:
        """Unprefixed "section.field" -> value for the keys under prefix."""
        return {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}


def kept_choice(
    where,
    label: str,
    options: Mapping[str, str],
    key: str,
    initial: str,
    **kwargs,
) -> str:
    """Segmented buttons (value -> label) that always keep one choice, under `key` (`initial` at first):
    a click on the chosen one, which Streamlit reads as none, keeps it. The buttons' own default is the
    choice, so a browser that builds them anew without their state shows it (see ControlStore.widget).
    Returns the choice."""
    last = key + ":last"  # the choice as this run found it (the page may have set `key` itself)
    st.session_state.setdefault(key, initial)
    st.session_state[last] = st.session_state[key] or st.session_state.get(last, initial)

    def changed() -> None:
        if st.session_state[key] is None:
            st.session_state[key] = st.session_state[last]
        st.session_state[last] = st.session_state[key]

    where.segmented_control(
        label, list(options), format_func=options.get, key=key, default=st.session_state[last],
        on_change=changed, label_visibility="collapsed", **kwargs,
    )  # fmt: skip
    return st.session_state[key] or st.session_state[last]


def parse_link(
    params: Mapping[str, str], controls: Mapping[str, Control], defaults: Mapping[str, object]
) -> tuple[dict[str, object], list[str]]:
    """(values, problems) from URL params: prefixed key -> text, typed like its default.

    Unknown keys are ignored. A value that does not parse, or is not one of a list's choices, keeps the
    default; a number the control cannot show uses the nearest one it can. Either gives one sentence in
    `problems` that names the control as the page labels it, never by its link key.
    """
    values, problems = {}, []
    for key, control in controls.items():
        if key not in params:
            continue
        name, default = _named(key, control), defaults[key]
        try:
            parsed = parse_value(key, params[key], type(default))
            values[key] = control.coerce(parsed)
        except ConfigError:
            problems.append(
                f"The link set {name} to '{quoted(params[key])}', which could not be used "
                f"({_allowed(control, default)}), so it keeps its default, {control.text(default)}."
            )
            continue
        if values[key] != parsed:
            problems.append(
                f"The link set {name} to {shorten(control.text(parsed))}; "  # a number: nothing to escape
                f"{_nearest(control, parsed, values[key])}."
            )
    return values, problems


def _named(key: str, control: Control) -> str:
    """The control as the page shows it: its label, and the setup a prefixed key belongs to ("a." is
    configuration A; "r0." is racer 1, as the Optimizers lab numbers its racers)."""
    setup = key.removesuffix(control.key).rstrip(".")
    if not setup:
        return f"'{control.label}'"
    if setup[0] == "r" and setup[1:].isdigit():
        return f"'{control.label}' of racer {int(setup[1:]) + 1}"
    return f"'{control.label}' of {setup.upper()}"


def _allowed(control: Control, default) -> str:
    """What the control takes, for a value it could not use."""
    if control.kind == "select":
        return "the choices are " + ", ".join(control.text(option) for option in control.options)
    if isinstance(default, bool):
        return "it takes 1 for on or 0 for off"
    return "it takes a whole number" if isinstance(default, int) else "it takes a number"


def _nearest(control: Control, wanted, used) -> str:
    """Why a number the control cannot show became `used`, and that it did."""
    low, high = (
        (control.low, control.high) if control.kind != "choice" else (control.options[0], control.options[-1])
    )
    if wanted > high:
        return f"the most is {control.text(high)}, so it uses {control.text(used)}"
    if wanted < low:
        return f"the least is {control.text(low)}, so it uses {control.text(used)}"
    return f"the control does not offer it, so it uses the nearest value it does, {control.text(used)}"


def quoted(text: str) -> str:
    """A link's text as plain words: one line, at most 40 characters, Markdown escaped (Streamlit renders
    warnings as Markdown)."""
    return escape_markdown(shorten(text))


def linked_store(lab: str, defaults: Mapping[str, object], controls: Mapping[str, Control]) -> ControlStore:
    """The lab's settings for this session; the first time, read from the page's link."""
    store = ControlStore(lab, defaults)
    if not st.session_state.get(lab_key(lab, "linked")):
        st.session_state[lab_key(lab, "linked")] = True
        values, problems = parse_link(st.query_params.to_dict(), controls, defaults)
        store.set(values)
        st.session_state[lab_key(lab, "link_problems")] = problems
    return store


def show_link_problems(lab: str) -> None:
    """Each setting of the page's link that it could not use as it stands: one sentence each."""
    for problem in st.session_state.pop(lab_key(lab, "link_problems"), []):
        st.warning(problem, icon=":material/link_off:")


def write_link(store: ControlStore, keep: Callable[[str], bool] = lambda key: True) -> None:
    """Mirror the settings into the URL: only what differs from the defaults, so links stay short.

    Key by key, and never the page's own parameters (PAGE_PARAMS): `tab` belongs to the tabs' widget
    (ui.presets.lab_tabs binds it), and Streamlit refuses a bound parameter set from outside, as a
    replace-all from_dict did on the way from one lab with tabs to another."""
    wanted = {k: format_value(v) for k, v in store.values.items() if keep(k) and store.defaults.get(k) != v}
    current = st.query_params.to_dict()
    for key in current.keys() - wanted.keys() - set(PAGE_PARAMS):
        del st.query_params[key]
    for key, value in wanted.items():
        if current.get(key) != value:
            st.query_params[key] = value
