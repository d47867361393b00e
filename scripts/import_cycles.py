"""An import-linter contract type: no module imports one that imports it back, however the import is
written (at the top, inside a function, under TYPE_CHECKING: grimp sees them all).

import-linter's own `layers` and `acyclic_siblings` contracts judge packages as wholes; this one
judges modules, so the few imports that go down and up between packages by design (a provider's
simulator building on the simulator's generic pieces, a provider's actions on `actions.base`) stay
allowed while any circle through them still fails. Registered in pyproject.toml
(`[tool.importlinter] contract_types`); `lint-imports` puts the working directory on the path.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The groups of two or more modules that reach one another (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


class AcyclicModulesContract(Contract):
    """Options: `containers`, the packages whose modules (and their imports of one another) are checked."""

    type_name = "acyclic_modules"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages = [m.name for m in module_expressions_to_modules(graph, self.containers)]  # type: ignore[arg-type]
        inside = set()
        for package in packages:
            inside |= {package, *graph.find_descendants(package)}
        edges = {m: graph.find_modules_directly_imported_by(m) & inside for m in inside}
        circles = []
        for group in strongly_connected(edges):
            members = set(group)
            imports = []
            for importer in group:
                for imported in sorted(edges[importer] & members):
                    details = graph.get_import_details(importer=importer, imported=imported)
                    lines = ", ".join(f"l.{d['line_number']}" for d in details) or "?"
                    imports.append(f"{importer} -> {imported} ({lines})")
            circles.append({"modules": group, "imports": imports})
        output.verbose_print(verbose, f"{len(inside)} modules, {len(circles)} circle(s)")
        return ContractCheck(kept=not circles, warnings=[], metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for circle in check.metadata["circles"]:
            output.print_error(f"These modules import one another: {', '.join(circle['modules'])}")
            for line in circle["imports"]:
                output.indent_cursor()
                output.print_error(line)
            output.new_line()


if __name__ == "__main__":  # a quick look without lint-imports: python scripts/import_cycles.py leo_exporter
    sys.path.insert(0, ".")
    found = grimp.build_graph(sys.argv[1] if len(sys.argv) > 1 else "leo_exporter", cache_dir=None)
    modules = found.modules
    print(strongly_connected({m: found.find_modules_directly_imported_by(m) for m in modules}) or "no circles")
