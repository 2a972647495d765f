"""The package's shape, tested: no import cycles, and no module imports from a layer above its own.

Layers, lowest first (a module may import from its own layer and those below):

    errors, config, signals, resources     settings and faults, needing nothing of numpyvae
    nn                                     the maths: layers, losses, initializers, optimizers, schedules
    models                                 the VAE and its configuration
    formats                                atomic files, PNG, checkpoints, safetensors, model files, locks
    data                                   datasets, batches, binarization
    cli                                    the command-line plumbing every command shares
    evaluation, pictures                   bounds and the lean IWAE pass; plots and a model's pictures
    teaching, training                     gradcheck, explain, exercises; the training loop
    commands                               python -m numpyvae.<command> (evaluate, visualize, ...)
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "numpyvae"
LAYERS = [{"errors", "config", "signals", "resources", "progress", "kernels", "__init__"}, {"nn"}, {"models"},
          {"formats"}, {"data"}, {"cli"}, {"evaluation", "pictures"}, {"teaching", "training"}]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The numpyvae modules (or packages) ``path`` imports, anywhere in it, as absolute names."""
    name, found = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if target.startswith("numpyvae"):
                for alias in node.names:  # "from . import signals" imports a module
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if known(candidate) else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("numpyvae")}
    return found - {name}


def known(name: str) -> bool:
    path = PACKAGE.parent / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer(name: str) -> int:
    top = name.split(".")[1] if name.count(".") else "__init__"
    return next((index for index, names in enumerate(LAYERS) if top in names), len(LAYERS))


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}


def test_no_module_imports_from_a_layer_above_its_own():
    upward = sorted(f"{source} -> {target}" for source, targets in graph().items() for target in targets
                    if layer(target) > layer(source) and source != "numpyvae")
    assert upward == []


def test_there_are_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target.startswith(node + "."):  # a package importing its own modules is no cycle
                continue
            if state.get(target) == 1 and not node.startswith(target + "."):
                cycles.append(path[path.index(target):] + [target] if target in path else [node, target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_layers_name_every_subpackage():
    tops = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.glob("*")
            if path.suffix == ".py" or (path / "__init__.py").is_file()}
    commands = {top for top in tops if layer(f"numpyvae.{top}") == len(LAYERS)}
    # what is not in a layer is a command module: thin, on top of everything
    for top in commands:
        assert (PACKAGE / f"{top}.py").is_file(), f"{top} is a subpackage that no layer names"
        assert len((PACKAGE / f"{top}.py").read_text().splitlines()) < 120, f"{top}.py is not a thin command"
