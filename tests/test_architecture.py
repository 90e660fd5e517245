"""Dependencies point one way: pages -> ui -> core; core never imports Streamlit."""

from __future__ import annotations

import ast
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
    replace core.figures.TEMPLATE (projector-sized, dark text) in the browser on every live redraw."""
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
