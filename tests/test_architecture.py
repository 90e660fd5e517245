"""Dependencies point one way: pages -> ui -> core; core never imports Streamlit."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_core_never_imports_streamlit_ui_or_pages(path):
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ("streamlit", "ui", "pages")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted((ROOT / "ui").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_never_imports_pages(path):
    assert not {m for m in imported_modules(path) if m.split(".")[0] == "pages"}


def test_pages_stay_thin():
    for page in (ROOT / "pages").glob("*.py"):
        assert len(page.read_text().splitlines()) <= 150, f"{page.name} belongs partly in ui/ or core/"


def test_every_chart_is_drawn_with_our_template():
    """Pages draw charts with ui.charts.chart only; it passes theme=None, since Streamlit's theme would
    replace core.charts.TEMPLATE (projector-sized, dark text) in the browser on every live redraw."""
    direct, via_chart = [], 0
    for path in [ROOT / "app.py", *(ROOT / "ui").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            via_chart += name == "chart"
            if name == "plotly_chart":
                theme = [k.value for k in node.keywords if k.arg == "theme"]
                ok = len(theme) == 1 and isinstance(theme[0], ast.Constant) and theme[0].value is None
                direct.append((str(path.relative_to(ROOT)), ok))
    assert via_chart >= 20, "the search finds the app's charts"
    assert direct == [("ui/charts.py", True)]


# ---- the layout rule: a module at the top of core/ is shared; what one lab alone uses is in its package

LABS = ("gradients", "optimizers", "images", "predict", "multitask", "sequences", "overfitting")
ACROSS_LABS = ("core.lessons", "core.warmup")  # the guided lessons and the warm-up visit every lab by design


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _lab_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "core" and parts[1] in LABS else None


def test_every_lab_has_a_core_package_and_a_controller_named_like_its_page():
    for lab in LABS:
        assert (ROOT / "core" / lab / "__init__.py").is_file(), f"core/{lab}/ is a package"
        controller = ROOT / "ui" / "labs" / f"{lab}.py"
        package = ROOT / "ui" / "labs" / lab / "__init__.py"  # a large controller: a package of its own
        assert controller.is_file() or package.is_file(), f"ui/labs/{lab}.py controls the {lab} page"
        assert (ROOT / "pages" / f"{lab}.py").is_file()
    top = {p.stem for p in (ROOT / "ui").glob("*.py")}
    assert not top & set(LABS), "a lab's controller lives in ui/labs/, not at the top of ui/"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_lab_package_imports_another_and_the_kernel_imports_none(path):
    """A lab package uses the kernel (the modules at the top of core/, and core/data); the kernel uses
    no lab. Only the guided lessons and the warm-up, which visit every lab, import lab packages."""
    here = _module(path)
    mine = _lab_of(here)
    if here.startswith(ACROSS_LABS):
        return
    for module in imported_modules(path):
        lab = _lab_of(module)
        assert lab is None or lab == mine, f"{here} imports {module}: " + (
            "a lab package imports another lab's" if mine else "the kernel imports a lab package"
        )
        assert not module.startswith(ACROSS_LABS), f"{here} imports {module}"


def test_no_module_imports_a_private_name_of_another():
    for path in [
        *(ROOT / "core").rglob("*.py"),
        *(ROOT / "ui").rglob("*.py"),
        *(ROOT / "pages").glob("*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in ("core", "ui")
            ):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.relative_to(ROOT)} imports {private} from {node.module}"


def test_every_colour_of_a_chart_is_named_in_core_charts():
    """A chart's look is set in one place: a colour literal anywhere else in core/, ui/labs/ or pages/
    is a second palette (ui/charts.py's page CSS is the page's look, not a chart's)."""
    colour = re.compile(r"""["'](#[0-9a-fA-F]{3,8}|rgba?\([^)]*\))["']""")
    paths = [
        *(ROOT / "core").rglob("*.py"),
        *(ROOT / "ui" / "labs").glob("*.py"),
        *(ROOT / "pages").glob("*.py"),
    ]
    found = [
        f"{path.relative_to(ROOT)}: {match}"
        for path in paths
        if path != ROOT / "core" / "charts.py"
        for match in colour.findall(path.read_text())
    ]
    assert not found, found


def test_every_preset_of_every_lab_is_a_preset():
    """One preset type: every preset button of every lab is a core.presets.PresetBase (its name, its
    button label, its lesson), whatever setup its lab adds."""
    from core.presets import PresetBase
    from ui.labs import gradients, images, multitask, optimizers, overfitting, sequences

    for lab in (gradients, optimizers, images, multitask, sequences, overfitting):
        assert lab.PAGE.presets and all(isinstance(p, PresetBase) for p in lab.PAGE.presets.values()), lab
