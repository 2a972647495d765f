"""Lines of code per module and per subpackage, at any commit: what issue 22's closing notes measure.

    python -m benchmarks.code_lines                  # numpyvae/ in the working tree
    python -m benchmarks.code_lines --rev f49d515    # numpyvae/ as it was at a commit (git show)
    python -m benchmarks.code_lines --wing           # the configuration wing, before the redesign and now
    python -m benchmarks.code_lines --wing --rev ff201a3   # ... and the redesign's layout at another commit

A code line holds at least one token that is not a comment: blank lines, comment lines and docstrings (a string
that opens a module, class or function) do not count; a help text or an error message inside code does.
"""

from __future__ import annotations

import ast
import io
import subprocess
import tokenize
from collections import Counter
from pathlib import Path

from numpyvae.cli import Parser

REPO = Path(__file__).resolve().parents[1]
NOISE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
# issue 22's configuration wing: options, validation, settings registries, presets, model-file settings, the
# reading of a resumed run's settings; in the layout before the redesign (at f49d515) and in the redesign's (at
# --rev, default the working tree). "file:name,name" counts those top-level definitions (Class.method for one
# method), "file:-name,name" all but those (a name the commit lacks is skipped), "file@first-last" a range of lines.
# The shapes of the parameters a configuration implies are not counted at either commit: before the redesign,
# modelfile.expected_shapes (left out above); after it, ModelConfig.parameter_shapes and its two helpers.
BEFORE = "f49d515"
FIRST_AFTER = "ff201a3"  # right after the redesign: its layout
WING = {
    "before": ["numpyvae/training/options.py", "numpyvae/model_options.py",
                "numpyvae/protocol.py:PRESETS,add_arguments,checks,apply_preset",
                "numpyvae/modelfile.py:SETTINGS,LATER_DEFAULTS,full_config,check_config",
                "numpyvae/training/state.py:load_resumed", "numpyvae/vae.py@71-82"],
    "after": ["numpyvae/config.py", "numpyvae/training/config.py",
              "numpyvae/models/config.py:-ModelConfig.parameter_shapes,ModelConfig._hierarchical_shapes,_network_shapes",
             "numpyvae/formats/modelfile.py:model_settings", "numpyvae/training/state.py:load_resumed"],
}


def code_lines(source: str) -> set[int]:
    """The numbers of the lines of ``source`` that hold code (not blank, comment or docstring)."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and \
                isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in NOISE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstrings


def spans(source: str, names: list[str], missing_ok: bool = False) -> set[int]:
    """The line numbers of the named top-level definitions (or ``Class.method``) of ``source``; a name it lacks
    is a ValueError, or skipped when ``missing_ok``."""
    found, tree = set(), ast.parse(source)
    for name in names:
        owner, _, method = name.partition(".")
        nodes = [node for node in tree.body if owner in (getattr(node, "name", None), *(
            target.id for target in getattr(node, "targets", []) if isinstance(target, ast.Name)))]
        if method:
            nodes = [sub for node in nodes for sub in node.body if getattr(sub, "name", None) == method]
        if not nodes and not missing_ok:
            raise ValueError(f"no {name} to count")
        found.update(line for node in nodes[:1] for line in range(node.lineno, node.end_lineno + 1))
    return found


def git(*args: str) -> str:
    """What ``git args`` prints in the repository; a LookupError with git's first line of complaint if it fails."""
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise LookupError((done.stderr.strip().splitlines() or ["git " + " ".join(args) + " failed"])[0])
    return done.stdout


def read(path: str, rev: str | None) -> str:
    if rev is None:
        return (REPO / path).read_text()
    return git("show", f"{rev}:{path}")


def count(selection: str, rev: str | None) -> int:
    """The code lines of one selection of WING ("file", "file:names", "file:-names" or "file@first-last")."""
    path, _, names = selection.partition(":")
    path, _, lines = path.partition("@")
    source = read(path, rev)
    kept = code_lines(source)
    if names.startswith("-"):
        kept -= spans(source, names[1:].split(","), missing_ok=True)
    elif names:
        kept &= spans(source, names.split(","))
    if lines:
        first, last = map(int, lines.split("-"))
        kept &= set(range(first, last + 1))
    return len(kept)


def package(rev: str | None) -> Counter:
    """Code lines of each module of numpyvae/ at ``rev`` (None: the working tree)."""
    if rev is None:
        paths = sorted(str(path.relative_to(REPO)) for path in (REPO / "numpyvae").rglob("*.py"))
    else:
        paths = git("ls-tree", "-r", "--name-only", rev, "numpyvae").split()
    return Counter({path: len(code_lines(read(path, rev))) for path in paths if path.endswith(".py")})


def wing(rev: str | None) -> list[tuple[str | None, dict[str, int]]]:
    """The wing's code lines per selection: before the redesign (at BEFORE), and in its layout at ``rev``."""
    return [(at, {selection: count(selection, at) for selection in WING[layout]})
            for layout, at in (("before", BEFORE), ("after", rev))]


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m benchmarks.code_lines", description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=None, help="count at this commit (default: the working tree)")
    parser.add_argument("--wing", action="store_true",
                        help=f"the configuration wing at {BEFORE} and at --rev (default: the working tree)")
    args = parser.parse_args(argv)
    try:  # everything is counted before anything is printed, so a bad --rev leaves no half table
        counted = wing(args.rev) if args.wing else package(args.rev)
    except (LookupError, ValueError) as error:  # a commit that is not there, or not of the redesign's layout
        parser.error(f"--rev {args.rev}: {error}" + (f" (--wing counts the redesign's layout at --rev: {FIRST_AFTER} "
                                                     "or later)" if args.wing else ""))
    if args.wing:
        for rev, counts in counted:
            print(f"{rev or 'working tree'}: {sum(counts.values())} code lines")
            for selection, lines in counts.items():
                print(f"  {lines:5d}  {selection}")
        return
    modules, subpackages = counted, Counter()
    for path, lines in modules.items():
        subpackages[str(Path(path).parent)] += lines
        print(f"{lines:6d}  {path}")
    print()
    for folder, lines in sorted(subpackages.items()):
        print(f"{lines:6d}  {folder}/ (its own modules)")
    print(f"{sum(modules.values()):6d}  in all")


if __name__ == "__main__":
    main()
