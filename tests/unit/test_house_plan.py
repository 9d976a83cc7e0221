"""The house plan holds: each handler imports one wiring module, no import circles, the emulator stands alone."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("shared/touchpoints", "local_runner", "benchmarks", "compliance_cli")


def _module_name(path: Path, repo: Path) -> str:
    root = repo / "shared" if path.is_relative_to(repo / "shared") else repo
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, repo: Path) -> Iterator[str]:
    """Every module a file imports, wherever the import stands (a function's body, TYPE_CHECKING included)."""
    package = _module_name(path, repo).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph(repo: Path = REPO) -> dict[str, set[str]]:
    files = {_module_name(p, repo): p for root in PACKAGES for p in (repo / root).rglob("*.py")}
    return {name: {i for i in _imports(path, repo) if i in files and i != name} for name, path in files.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return circles


def test_every_handler_imports_exactly_one_wiring_module() -> None:
    handlers = sorted((REPO / "functions").glob("*/app.py"))
    assert len(handlers) >= 16
    for handler in handlers:
        imported = [
            node.module for node in ast.walk(ast.parse(handler.read_text())) if isinstance(node, ast.ImportFrom)
        ] + [
            a.name
            for node in ast.walk(ast.parse(handler.read_text()))
            if isinstance(node, ast.Import)
            for a in node.names
        ]
        assert len(imported) == 1 and str(imported[0]).startswith("touchpoints.wiring."), (handler, imported)


def test_no_module_imports_itself_back_through_others() -> None:
    assert not _circles(_graph())


def test_the_emulator_never_imports_the_commands_built_on_it() -> None:
    graph = _graph()
    emulator = [m for m in graph if m.startswith("local_runner.emulator")]
    assert emulator
    for module in emulator:
        assert not {i for i in graph[module] if i.startswith("local_runner.commands")}, module


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "shared" / "touchpoints"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from touchpoints import b\n")
    (package / "b.py").write_text("def f():\n    from touchpoints.a import x\n")
    assert _circles(_graph(tmp_path)) == [["touchpoints.a", "touchpoints.b", "touchpoints.a"]]
