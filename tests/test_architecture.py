"""The package's shape, tested: no import cycles, no module imports from a layer above its own, and the
README's table of the code names every module (and nothing that is not there).

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
import re
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


# -- the README's table of the code names every module ----------------------------------------------------------

MODULE_SPAN = re.compile(r"^[a-z_]+/?$")


def without_parentheses(text: str) -> str:
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "", text)
    return text


def named_in_the_readme() -> set[str]:
    """Paths relative to numpyvae/ that the README's table names: the module column's files, and for a package
    (``numpyvae/formats/``) the modules (``atomic``) and subpackages (``explain/``) its row lists outside
    parentheses, which describe them."""
    text = (PACKAGE.parent / "README.md").read_text()
    start = text.index("| layer | module | what |")
    rows = [line.strip("|").split("|") for line in text[start:text.index("\n\n", start)].splitlines()[2:]]
    named = set()
    for _, module, what in rows:
        for span in re.findall(r"`([^`]+)`", module):
            span = span.removeprefix("numpyvae/")
            if not span.endswith("/"):
                named.add(span)
                continue
            for item in re.findall(r"`([^`]+)`", without_parentheses(what)):
                if MODULE_SPAN.match(item):
                    named.add(span + (item if item.endswith("/") else f"{item}.py"))
    return named


def test_the_readme_names_every_module_and_only_real_ones():
    expected = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) > 2:
            expected.add("/".join(parts[:2]) + "/")  # a subpackage's modules are its own docstring's business
        elif parts[-1] != "__init__.py" or len(parts) == 1:
            expected.add("/".join(parts))
    named = named_in_the_readme()
    assert sorted(expected - named) == [], "modules the README's table of the code does not name"
    assert sorted(name for name in named if not (PACKAGE / name).exists()) == [], "named, but not in the tree"
