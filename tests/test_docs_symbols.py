"""docs/elbo_backprop.md defines every symbol it uses: each letter and Greek letter of its formulas is in the
symbol table of its section 0, and each code-formatted symbol (`mu`, `a_sigma`, `enc.v1`, `dN`, ...) is in
the table's code column or defined where it is used ("`a` is ...").

The parser is deliberately plain: math is what stands between $ or $$ outside code; \\text{...} is prose;
\\operatorname{...} and \\mathrm{...} are named functions (softplus, KL, ...), which must be in the table
unless they are standard (log, exp, ...); a letter is a symbol wherever it stands, in a subscript too.
"""

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "elbo_backprop.md"

GREEK = {"alpha", "beta", "gamma", "delta", "varepsilon", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "ell", "Sigma",
         "Phi", "Gamma", "Delta", "Theta", "Lambda", "Omega", "Psi"}
# Euler's number, the differential d (dz, d/dsigma), the identity I and the normal distribution, which the
# table's note defines, and pi
STANDARD = {"e", "d", "I", "pi", "calN"}
FUNCTIONS = {"log", "exp", "diag", "max", "min", "tr", "Var", "const", "ELBO"}  # standard or defined in prose
MATH = re.compile(r"\$\$(.+?)\$\$|\$((?:[^$\n]|\n(?!\n))+?)\$", re.S)  # inline math may wrap a line


def without_code(text: str) -> str:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def symbols(math: str) -> set[str]:
    """The symbols of a LaTeX formula: Latin letters, Greek letters, \\mathcal letters and named functions."""
    found = set()
    math = re.sub(r"\\(?:text|textbf|textit)\{[^{}]*\}", " ", math)
    for name in re.findall(r"\\(?:operatorname|mathrm)\{([^{}]*)\}", math):
        found.add(name)
    math = re.sub(r"\\(?:operatorname|mathrm)\{[^{}]*\}", " ", math)
    for letter in re.findall(r"\\mathcal\{([A-Za-z])\}", math):
        found.add(f"cal{letter}")
    math = re.sub(r"\\mathcal\{[A-Za-z]\}|\\mathbb\{[A-Za-z]\}", " ", math)
    for command in re.findall(r"\\([A-Za-z]+)", math):
        if command in GREEK:
            found.add(command)
    math = re.sub(r"\\[A-Za-z]+", " ", math)
    found.update(re.findall(r"[A-Za-z]", math))
    return found


def section(text: str, number: int) -> str:
    start = text.index(f"\n## {number}. ")
    return text[start:text.index("\n## ", start + 1)]


def table_rows() -> list[list[str]]:
    rows = [line for line in section(GUIDE.read_text(), 0).splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]  # the header dropped


def defined_symbols() -> set[str]:
    found = set()
    for row in table_rows():
        for match in MATH.finditer(row[0]):
            found |= symbols(match.group(1) or match.group(2))
    return found


def test_the_table_is_parsed():
    defined = defined_symbols()
    assert {"B", "P", "J", "K", "n", "j", "k", "mu", "sigma", "varepsilon", "ell", "W", "b", "u", "calL"} <= defined
    assert symbols(r"\bar{x}_n + \operatorname{softplus}(a_\sigma) - \text{ELBO}_{\text{enc}1}") == \
        {"x", "n", "softplus", "a", "sigma"}


def test_every_symbol_of_the_formulas_is_in_the_table():
    defined = defined_symbols() | STANDARD | FUNCTIONS
    text = without_code(GUIDE.read_text())
    undefined = {}
    for match in MATH.finditer(text):
        math = match.group(1) or match.group(2)
        for symbol in symbols(math) - defined:
            undefined.setdefault(symbol, math.strip()[:80])
    assert not undefined, f"symbols used but not in the table of section 0: {undefined}"


NODE = re.compile(r"^(enc|dec)\.[avr]\d+$")
SYMBOL_LIKE = re.compile(r"^(?:[A-Za-z]{1,2}|[a-z]_[a-z]+|mu|sigma|eps|rho|beta|xhat|logits|log_w)$")


def test_every_code_formatted_symbol_is_in_the_table_or_defined_where_it_is_used():
    text = GUIDE.read_text()
    vocabulary = {span for row in table_rows() for span in re.findall(r"`([^`]+)`", row[-1])}
    vocabulary |= {span for row in table_rows() for span in re.findall(r"`([^`]+)`", row[0])}
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    undefined = []
    for span in sorted(set(re.findall(r"`([^`\n]+)`", prose))):
        name = span[1:] if span.startswith("d") and (span[1:] in vocabulary or NODE.match(span[1:])) else span
        if not (SYMBOL_LIKE.match(span) or NODE.match(name)) or span.isupper() and len(span) > 1:
            continue
        if name in vocabulary or NODE.match(name) or f"`{span}` is " in prose:
            continue
        undefined.append(span)
    assert not undefined, f"code-formatted symbols neither in the table nor defined where used: {undefined}"
