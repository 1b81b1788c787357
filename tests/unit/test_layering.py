"""The package layering, checked on the import graph of our own modules.

Every ``.py`` under the packages (and ``server.py``) is parsed with ``ast``; every import
counts, including those inside functions and under ``TYPE_CHECKING``, because a lazy
import is still a dependency. ``from x import y`` where ``y`` is a submodule depends on
``x.y`` (and on ``x``, whose ``__init__`` runs first).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "actors",
    "app",
    "config",
    "dataplane",
    "examples",
    "frontends",
    "protocol",
    "servables",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _our_modules() -> dict[str, Path]:
    modules = {"server": ROOT / "server.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


MODULES = _our_modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, target: str) -> str | None:
    """The longest prefix of ``target`` that is one of our modules, or None."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package_parts = module.split(".")
                if not _is_package(module):
                    package_parts.pop()
                if node.level > 1:
                    package_parts = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join([*package_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        else:
            continue
        for target in targets:
            resolved = _resolve(module, target)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: _imports_of(module) for module in MODULES}


def _top(module: str) -> str:
    return module.split(".")[0]


def _violations(allowed: dict[str, set[str]], forbidden: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, imports in sorted(GRAPH.items()):
        layer = _top(module)
        for imported in sorted(imports):
            other = _top(imported)
            if layer in allowed and other not in allowed[layer]:
                bad.append(f"{module} imports {imported}")
            if other in forbidden.get(layer, set()):
                bad.append(f"{module} imports {imported}")
    return bad


def _find_cycle() -> list[str] | None:
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(GRAPH, white)
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        colour[module] = grey
        stack.append(module)
        for imported in sorted(GRAPH[module]):
            if colour[imported] == grey:
                return [*stack[stack.index(imported) :], imported]
            if colour[imported] == white:
                cycle = visit(imported)
                if cycle is not None:
                    return cycle
        stack.pop()
        colour[module] = black
        return None

    for module in sorted(GRAPH):
        if colour[module] == white:
            cycle = visit(module)
            if cycle is not None:
                return cycle
    return None


def test_the_graph_sees_our_packages_and_lazy_imports() -> None:
    # Guards the checks below against silently parsing nothing.
    assert {"protocol.status", "actors.actor", "app.supervisor", "server"} <= set(MODULES)
    assert "actors.actor" in GRAPH["actors.version_manager"]
    assert "protocol.status" in GRAPH["actors.actor"]


def test_there_is_no_import_cycle() -> None:
    cycle = _find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_protocol_imports_none_of_the_other_packages() -> None:
    higher = set(PACKAGES) - {"protocol"}
    assert _violations({}, {"protocol": higher}) == []


def test_each_layer_imports_only_the_layers_below_it() -> None:
    allowed = {
        "servables": {"protocol", "config", "servables"},
        "config": {"config"},
    }
    forbidden = {
        "actors": {"dataplane", "frontends", "app"},
        "dataplane": {"frontends", "app"},
        "frontends": {"app"},
    }
    assert _violations(allowed, forbidden) == []


def test_the_platform_neutral_modules_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "import servables, servables.servable, servables.loader, servables.validation\n"
        "import protocol.signatures, protocol.dtypes, actors.transition_policy, config.server_config\n"
        "loaded = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.'))\n"
        "print(loaded)\n"
        "assert 'tensorflow' not in sys.modules, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The protocol-facing modules of ``frontends/``: each serves one API (or one server) and
# talks to the data plane, never to another of these. A frontend module may import the
# shared helpers below; the helpers import no frontend module. Every module under
# ``frontends/`` must be in exactly one of the two sets, so a new one is classified.
FRONTEND_MODULES = {
    "frontends.grpc_frontend",  # TF Serving's gRPC services and the gRPC server
    "frontends.grpc_health",  # grpc.health.v1
    "frontends.v2_grpc",  # V2's GRPCInferenceService
    "frontends.rest_server",  # the REST server: lifecycle and limits
    "frontends.rest_v1",  # TF Serving's /v1 handlers
    "frontends.v2_rest",  # V2's /v2 handlers
    "frontends.dashboard",  # the dashboard's routes
}
FRONTEND_HELPERS = {
    "frontends",
    "frontends.grpc_calls",
    "frontends.grpc_decode",  # undecodable gRPC requests, used by grpc_methods
    "frontends.grpc_methods",  # the gRPC server's one generic handler, used by grpc_frontend
    "frontends.rest_calls",
    "frontends.observer",
    "frontends.observed_requests",  # the observer carrying tracing/logging to the wrappers
    "frontends.auth",
    "frontends.tls",
    "frontends.memory_trim",
    "frontends.rest_extras",  # /v1's conveniences (gen_json, images), used by rest_v1
    "frontends.client_templates",
    # The dashboard's panels' data, read by its routes (frontends.dashboard):
    "frontends.dashboard.capture",
    "frontends.dashboard.histogram",
    "frontends.dashboard.shadows",
}


def test_every_frontends_module_is_classified_as_a_frontend_or_a_helper() -> None:
    in_frontends = {module for module in MODULES if _top(module) == "frontends"}
    assert FRONTEND_MODULES.isdisjoint(FRONTEND_HELPERS)
    assert in_frontends == FRONTEND_MODULES | FRONTEND_HELPERS


def test_no_frontend_imports_another_frontend() -> None:
    # Guards the check against an empty graph: a frontend imports helpers.
    assert "frontends.grpc_calls" in GRAPH["frontends.v2_grpc"]
    assert "frontends.rest_calls" in GRAPH["frontends.rest_v1"]
    bad = [
        f"{module} imports {imported}"
        for module in sorted(FRONTEND_MODULES | FRONTEND_HELPERS)
        for imported in sorted(GRAPH[module] & FRONTEND_MODULES)
    ]
    assert bad == []
