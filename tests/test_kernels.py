"""numpyvae.kernels: the OpenBLAS core type chosen from the CPU's flags (fed fake /proc/cpuinfo text), the user's
own setting winning, nothing ever crashing, and what a process really runs afterwards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SMALL_RUN
from numpyvae import kernels
from numpyvae.kernels import OPENBLAS_ENV, Choice, choose
from numpyvae.training import main as train_main

REPO = Path(__file__).resolve().parent.parent
NUMPYVAE_ENV = kernels.ENV

BASE = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall "
        "nx lm constant_tsc pni pclmulqdq ssse3 cx16 sse4_1 sse4_2 popcnt aes xsave")
AVX2 = BASE + " avx f16c fma bmi1 avx2 bmi2"
AVX512 = AVX2 + " avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni"


def cpuinfo(*flag_lines: str, model: str = "AMD EPYC") -> str:
    """/proc/cpuinfo's text for one processor per flags line, as Linux writes it on x86-64."""
    return "\n\n".join(f"processor\t: {index}\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\n"
                       f"flags\t\t: {flags}\nbogomips\t: 4800.00" for index, flags in enumerate(flag_lines)) + "\n"


def choice(text: str | None, env: dict | None = None, **kwargs) -> Choice:
    return choose(text, env or {}, machine=kwargs.pop("machine", "x86_64"), **kwargs)


# -- the choice, from the flags ----------------------------------------------------------------------------------

def test_a_cpu_whose_flags_have_avx512_gets_skylakex_kernels():
    made = choice(cpuinfo(AVX512, AVX512))
    assert made.coretype == "SkylakeX" and "AVX-512" in made.reason and made.warning is None


def test_a_cpu_with_avx2_but_no_avx512_gets_haswell_kernels():
    made = choice(cpuinfo(AVX2, AVX2, AVX2, AVX2))
    assert made.coretype == "Haswell" and "AVX2" in made.reason


def test_a_cpu_without_avx2_is_left_to_openblas():
    made = choice(cpuinfo(BASE + " avx"))
    assert made.coretype is None and "OpenBLAS chose" in made.reason


def test_avx512f_alone_is_not_enough_for_skylakex():
    """SkylakeX's kernels use AVX-512 F, CD, BW, DQ and VL; a CPU with F alone (Knights Landing has F, CD,
    ER, PF) gets the AVX2 kernels."""
    assert choice(cpuinfo(AVX2 + " avx512f avx512cd avx512er avx512pf")).coretype == "Haswell"


def test_cores_that_differ_get_what_all_of_them_can_run():
    assert choice(cpuinfo(AVX512, AVX2)).coretype == "Haswell"
    assert kernels.cpu_flags(cpuinfo(AVX512, AVX2)) == kernels.cpu_flags(cpuinfo(AVX2))


@pytest.mark.parametrize("text, says", [
    (cpuinfo(BASE + " avx512f avx512cd avx512bw avx512dq avx512vl"), "AVX-512 without AVX2"),  # lying flags
    ("processor : 0\nFeatures : fp asimd evtstrm aes pmull sha1 sha2 crc32\n", "lists no flags"),  # an ARM's
    ("", "lists no flags"),
    ("\x00\xff garbage : : :\nflags", "lists no flags"),
    (None, "unreadable or absent"),
])
def test_flags_that_lie_or_are_missing_leave_openblas_alone(text, says):
    made = choice(text)
    assert made.coretype is None and says in made.reason and made.warning is None


def test_another_architecture_is_left_to_openblas_whatever_its_cpuinfo_says():
    made = choice(cpuinfo(AVX512), machine="aarch64")
    assert made.coretype is None and "aarch64" in made.reason


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["x86_64", "AMD64", "aarch64", "", "arm64"]), st.text(max_size=12))
def test_no_cpuinfo_text_and_no_setting_makes_the_choice_raise(text, machine, setting):
    made = choose(text, {NUMPYVAE_ENV: setting}, machine=machine)
    assert made.coretype is None or made.coretype in kernels.CORE_TYPES or machine not in ("x86_64", "AMD64")


# -- the user's settings ---------------------------------------------------------------------------------------------

def test_the_users_own_openblas_coretype_wins_over_everything():
    for env in ({OPENBLAS_ENV: "Haswell"}, {OPENBLAS_ENV: "Haswell", NUMPYVAE_ENV: "SkylakeX"}):
        made = choice(cpuinfo(AVX512), env)
        assert made.coretype is None and made.reason == "your OPENBLAS_CORETYPE=Haswell" and made.warning is None


def test_numpyvae_blas_coretype_off_leaves_openblas_to_itself():
    made = choice(cpuinfo(AVX512), {NUMPYVAE_ENV: "OFF"})
    assert made.coretype is None and "off" in made.reason


@pytest.mark.parametrize("asked, core", [("haswell", "Haswell"), ("SKYLAKEX", "SkylakeX"), (" Zen ", "Zen"),
                                         ("Sandybridge", "Sandybridge")])
def test_numpyvae_blas_coretype_names_a_core_type_in_any_case(asked, core):
    made = choice(cpuinfo(AVX512), {NUMPYVAE_ENV: asked})
    assert made.coretype == core and made.reason == "your NUMPYVAE_BLAS_CORETYPE"


def test_auto_or_empty_is_numpyvaes_own_choice():
    for asked in ("auto", "", "  "):
        assert choice(cpuinfo(AVX2), {NUMPYVAE_ENV: asked}).coretype == "Haswell"


def test_a_core_type_the_cpu_cannot_run_is_refused_with_a_warning_not_a_crash():
    made = choice(cpuinfo(AVX2), {NUMPYVAE_ENV: "SkylakeX"})
    assert made.coretype is None and "avx512f" in made.warning and "OpenBLAS chooses" in made.warning


def test_an_unknown_core_type_is_refused_with_a_warning():
    made = choice(cpuinfo(AVX512), {NUMPYVAE_ENV: "Skylake-X"})
    assert made.coretype is None and made.warning.startswith("NUMPYVAE_BLAS_CORETYPE=Skylake-X is not")


def test_on_another_architecture_a_named_core_type_is_passed_on_as_given():
    assert choice(None, {NUMPYVAE_ENV: "neoversen1"}, machine="aarch64").coretype == "neoversen1"


def test_once_numpy_is_loaded_nothing_is_asked_and_a_setting_is_said_to_be_too_late():
    made = choice(cpuinfo(AVX512), {NUMPYVAE_ENV: "Haswell"}, numpy_loaded=True)
    assert made.coretype is None and "imported before numpyvae" in made.reason and "too late" in made.warning
    assert choice(cpuinfo(AVX512), {}, numpy_loaded=True).warning is None


# -- acting on it ---------------------------------------------------------------------------------------------------

def test_apply_puts_the_choice_where_openblas_reads_it(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo(AVX512))
    env = {}
    made = kernels.apply(env, str(path), numpy_loaded=False, machine="x86_64")
    assert made.coretype == "SkylakeX" and env == {OPENBLAS_ENV: "SkylakeX"}
    users = {OPENBLAS_ENV: "Haswell"}
    kernels.apply(users, str(path), numpy_loaded=False, machine="x86_64")
    assert users == {OPENBLAS_ENV: "Haswell"}


@pytest.mark.parametrize("where", ["missing", "a folder"])
def test_apply_with_no_readable_cpuinfo_sets_nothing(tmp_path, where):
    path = tmp_path / "cpuinfo"
    if where == "a folder":
        path.mkdir()
    env = {}
    assert kernels.apply(env, str(path), numpy_loaded=False, machine="x86_64").coretype is None and env == {}


def test_apply_survives_a_choice_that_raises(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("bad flags")
    monkeypatch.setattr(kernels, "choose", broken)
    env = {}
    made = kernels.apply(env, numpy_loaded=False)
    assert made.coretype is None and env == {}
    assert capsys.readouterr().err.strip() == "warning: numpyvae's choice of kernels failed (bad flags)"


def test_restore_environment_takes_out_only_numpyvaes_own_value(monkeypatch):
    monkeypatch.setattr(kernels, "_SET_BY_NUMPYVAE", "SkylakeX")
    monkeypatch.setenv(OPENBLAS_ENV, "SkylakeX")
    kernels.restore_environment()
    assert OPENBLAS_ENV not in os.environ
    monkeypatch.setattr(kernels, "_SET_BY_NUMPYVAE", "SkylakeX")
    monkeypatch.setenv(OPENBLAS_ENV, "Haswell")  # changed since: somebody else's now
    kernels.restore_environment()
    assert os.environ[OPENBLAS_ENV] == "Haswell"


# -- what a process really runs ----------------------------------------------------------------------------------

def fresh_process(code: str, **env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in (OPENBLAS_ENV, NUMPYVAE_ENV)}
    environment.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)


REPORT = ("import os, json, numpyvae; "
          "print(json.dumps([numpyvae.kernels.describe(), os.environ.get('OPENBLAS_CORETYPE')]))")


def report(code: str = REPORT, **env) -> tuple[dict, str | None, str]:
    result = fresh_process(code, **env)
    assert result.returncode == 0, result.stderr
    described, left = json.loads(result.stdout.splitlines()[-1])
    return described, left, result.stderr


def openblas_or_skip() -> str:
    described, _, _ = report(NUMPYVAE_BLAS_CORETYPE="off")
    if described["coretype"] is None:
        pytest.skip(f"this NumPy's BLAS ({described['blas']}) is not an OpenBLAS that names its kernels")
    return described["coretype"]


def test_importing_numpyvae_runs_the_kernels_its_choice_names_and_leaves_the_environment_as_it_was():
    own = openblas_or_skip()
    flags = kernels.cpu_flags(kernels.read_cpuinfo() or "")
    expected = kernels.fitting_coretype(flags)[0] if flags is not None else None
    described, left, err = report()
    assert described["coretype"] == (expected or own) and described["asked"] == expected
    assert left is None and err == ""  # OPENBLAS_CORETYPE was set only while NumPy loaded
    assert described["threads"] >= 1 and "openblas" in described["blas"].lower()


def test_a_forced_core_type_runs_and_the_users_own_variable_wins_in_a_real_process():
    openblas_or_skip()
    described, left, _ = report(NUMPYVAE_BLAS_CORETYPE="Haswell")
    assert described["coretype"] == "Haswell" and described["reason"] == "your NUMPYVAE_BLAS_CORETYPE" and left is None
    described, left, _ = report(OPENBLAS_CORETYPE="Haswell", NUMPYVAE_BLAS_CORETYPE="SkylakeX")
    assert described["coretype"] == "Haswell" and described["asked"] is None and left == "Haswell"


def test_numpy_imported_first_is_reported_not_fatal():
    described, _, err = report("import numpy, os, json, numpyvae; print(json.dumps([numpyvae.kernels.describe(), "
                               "os.environ.get('OPENBLAS_CORETYPE')]))", NUMPYVAE_BLAS_CORETYPE="Haswell")
    assert described["asked"] is None and "imported before numpyvae" in described["reason"]
    assert err.strip() == "warning: NUMPYVAE_BLAS_CORETYPE=Haswell came too late: NumPy was imported before numpyvae"


def test_a_command_with_a_bad_setting_still_runs_and_says_so_in_one_line():
    result = fresh_process("from numpyvae.gradcheck import main; main(['--help'])", NUMPYVAE_BLAS_CORETYPE="bogus")
    assert result.returncode == 0 and "usage:" in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("warning: NUMPYVAE_BLAS_CORETYPE=bogus is not off, auto or an OpenBLAS")


def test_describe_with_a_blas_that_is_not_openblas(monkeypatch):
    """MKL or Accelerate: no OpenBLAS library to ask, and a show_config that names something else."""
    monkeypatch.setattr(kernels, "_openblas_library", lambda: None)
    monkeypatch.setattr(kernels, "_numpy_blas", lambda: {"name": "mkl-sdl", "version": "2023.1"})
    described = kernels.describe()
    assert described["blas"] == "mkl-sdl 2023.1" and described["coretype"] is None and described["threads"] is None
    line = kernels.summary_line(described)
    assert line.startswith("BLAS: mkl-sdl 2023.1, kernels unknown") and "thread" not in line
    json.dumps(described, allow_nan=False)


def test_describe_survives_a_library_that_breaks(monkeypatch):
    def broken():
        raise OSError("cannot open")
    monkeypatch.setattr(kernels, "_openblas_library", broken)
    assert kernels.running_openblas() == (None, None)


def test_a_mismatch_between_the_asked_and_the_running_kernels_is_a_warning(monkeypatch):
    monkeypatch.setattr(kernels, "CHOICE", Choice("Cooperlake", "your NUMPYVAE_BLAS_CORETYPE"))
    monkeypatch.setattr(kernels, "running_openblas", lambda: ("SkylakeX", 2))
    assert kernels.describe()["warning"] == "numpyvae asked OpenBLAS for Cooperlake; this OpenBLAS runs SkylakeX for it"


def test_training_prints_the_blas_at_the_start_and_records_it_in_summary_json(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(out), *SMALL_RUN, "--steps", "2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == kernels.summary_line() and first.startswith("BLAS: ")
    recorded = json.loads((out / "summary.json").read_text())["blas"]
    assert recorded == kernels.describe() and set(recorded) == {"blas", "coretype", "threads", "asked", "reason",
                                                                "warning"}


def test_cpu_description_names_the_model_and_its_vector_extension():
    assert kernels.cpu_description(cpuinfo(AVX512, model="AMD EPYC 9R14")) == "AMD EPYC 9R14, AVX-512"
    assert kernels.cpu_description(cpuinfo(AVX2)) == "AMD EPYC, AVX2"
    assert kernels.cpu_description(cpuinfo(BASE)) == "AMD EPYC, no AVX2"
