"""The Binder environment, the lock file, the Makefile, CI and the README agree."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.lock: {line!r} is not an exact pin"
        pins[norm(m.group(1))] = m.group(2)
    return pins


def env_pip_lines():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "- pip:")
    out = []
    for l in lines[start + 1:]:
        s = l.strip()
        if not s.startswith("- "):
            break
        out.append(s[2:].strip())
    return out


def test_environment_yml_pins_agree_with_requirements_lock():
    lock = lock_pins()
    env = {}
    for item in env_pip_lines():
        if item == "-e .":
            continue
        m = PIN.match(item)
        assert m, f"environment.yml: {item!r} is not an exact pin"
        env[norm(m.group(1))] = m.group(2)
    for name, version in lock.items():
        assert env.get(name) == version, f"{name}: lock {version}, environment.yml {env.get(name)}"
    extra = set(env) - set(lock)
    assert extra == {"jupyterlab"}, f"environment.yml pins packages not in the lock: {extra}"
    assert "-e ." in env_pip_lines()


def test_environment_yml_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)


def test_jupyterlab_not_in_lock():
    assert "jupyterlab" not in lock_pins()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, re.S)
    quick = blocks[0].strip().splitlines()
    commands = [l.split("#")[0].strip() for l in quick if l.split("#")[0].strip()]
    assert commands == ["make review", "make test"], commands
    ci = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()
          if l.strip() and not l.startswith("#") and not l.startswith(("set ", "cd "))]
    assert ci == [commands[1]]


def test_makefile_targets_build_their_own_venv():
    mk = (ROOT / "Makefile").read_text()
    assert re.search(r"^review: \$\(STAMP\)\n\t\$\(PY\) -m mscreview build$", mk, re.M)
    assert re.search(r"^test: \$\(STAMP\)\n\t\$\(PY\) -m pytest$", mk, re.M)
    assert "-r requirements.lock" in mk and "-m venv" in mk
    assert "Rscript tests/reference/engine_reference.R" in mk and "Rscript tests/reference/diag_reference.R" in mk


def test_readme_binder_badge_opens_jupyterlab_on_notebooks():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"\(https://mybinder\.org/v2/[^)]*\)", readme)
    assert m and "urlpath=lab/tree/notebooks" in m.group(0)


def test_licences_and_citation_present():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-data").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and "title:" in cff
