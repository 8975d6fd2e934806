"""The Binder environment, the lock file, the Makefile, CI and the README agree."""
import ast
import os
import re
import sys
import tomllib
from importlib import metadata
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


def env_pins():
    pins = {}
    for item in env_pip_lines():
        if item == "-e .":
            continue
        m = PIN.match(item)
        assert m, f"environment.yml: {item!r} is not an exact pin"
        assert norm(m.group(1)) not in pins, f"environment.yml pins {m.group(1)} twice"
        pins[norm(m.group(1))] = m.group(2)
    return pins


def dist_name(requirement):
    return norm(re.match(r"\s*([A-Za-z0-9_.\-]+)", requirement).group(1))


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def declared_dependencies():
    return {dist_name(r) for r in pyproject()["project"]["dependencies"]}


def test_environment_yml_pins_agree_with_requirements_lock():
    lock, env = lock_pins(), env_pins()
    for name, version in lock.items():
        assert env.get(name) == version, f"{name}: lock {version}, environment.yml {env.get(name)}"
    for name, version in env.items():
        assert lock.get(name) == version, f"{name}: environment.yml {version}, lock {lock.get(name)}"
    assert "-e ." in env_pip_lines(), "environment.yml must install this package (-e .)"


def test_environment_yml_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)


def test_lock_pins_the_workbench():
    """JupyterLab 4, statsmodels, seaborn and pandoc (pypandoc-binary) come from the lock, not by hand."""
    lock = lock_pins()
    for name in ("jupyterlab", "statsmodels", "seaborn", "pypandoc-binary", "pandas", "ipykernel"):
        assert name in lock, f"requirements.lock does not pin {name}"
    assert lock["jupyterlab"].split(".")[0] == "4", lock["jupyterlab"]


def test_lock_header_says_what_it_is():
    head = (ROOT / "requirements.lock").read_text().splitlines()[0]
    assert head.startswith("#") and "pip freeze" in head and "3.11" in head


def test_running_environment_is_the_lock():
    """The environment running the tests has exactly the locked versions (a stale .venv fails here)."""
    wrong = {}
    for name, version in lock_pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong} (rebuild with `make venv`)"


def test_pyproject_declares_the_runtime_stack():
    declared = declared_dependencies()
    for name in ("numpy", "scipy", "pandas", "matplotlib", "pillow", "tqdm", "nbclient", "nbformat",
                 "ipykernel", "statsmodels", "seaborn", "pypandoc-binary"):
        assert name in declared, f"pyproject.toml does not declare {name}"
    extras = {dist_name(r) for reqs in pyproject()["project"].get("optional-dependencies", {}).values()
              for r in reqs}
    assert "jupyterlab" in declared | extras


def test_pyproject_dependencies_are_all_pinned_in_the_lock():
    pyp = pyproject()["project"]
    names = {dist_name(r) for r in pyp["dependencies"]}
    names |= {dist_name(r) for reqs in pyp.get("optional-dependencies", {}).values() for r in reqs}
    missing = names - set(lock_pins())
    assert not missing, f"declared in pyproject.toml but not pinned in requirements.lock: {sorted(missing)}"


def third_party_imports():
    """{top-level module: [file:line, ...]} for every absolute import in src/mscreview outside the stdlib."""
    found = {}
    for path in sorted((ROOT / "src" / "mscreview").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top == "mscreview":
                    continue
                found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_module_is_a_declared_dependency():
    """Each third-party module the package imports is provided by a distribution pyproject.toml declares."""
    providers = metadata.packages_distributions()
    declared = declared_dependencies()
    imports = third_party_imports()
    assert {"numpy", "pandas", "nbclient", "nbformat"} <= set(imports)  # the scan sees the package
    problems = []
    for module, where in sorted(imports.items()):
        dists = {norm(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported at {where[0]}) is not installed: pin it in requirements.lock")
        elif not dists & declared:
            problems.append(f"{module} (imported at {where[0]}) comes from {sorted(dists)}, "
                            "which pyproject.toml [project] dependencies does not declare")
    assert not problems, "\n".join(problems)


def test_kernel_named_for_the_project_is_installed_with_the_venv_and_on_binder():
    kernel = 'ipykernel install --sys-prefix --name mscreview --display-name "Python 3 (mscreview)"'
    mk = (ROOT / "Makefile").read_text()
    recipe = mk[mk.index("$(STAMP):"):mk.index("touch $(STAMP)")]
    assert "$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME)" in recipe
    assert "KERNEL_NAME := mscreview" in mk and "KERNEL_DISPLAY := Python 3 (mscreview)" in mk
    post = ROOT / "postBuild"
    assert post.exists() and kernel in post.read_text()
    assert os.access(post, os.X_OK), "postBuild must be executable for repo2docker"
    # repo2docker ignores root-level config when a binder/ folder exists
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


def test_make_lab_opens_jupyterlab_on_notebooks_and_is_documented():
    mk = (ROOT / "Makefile").read_text()
    m = re.search(r"^lab: \$\(STAMP\)\n\t(.*)$", mk, re.M)
    assert m, "Makefile has no `lab: $(STAMP)` target"
    assert m.group(1).startswith("$(VENV)/bin/jupyter lab") and "notebooks" in m.group(1)
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):readme.index("\n## ", readme.index("## Quick start") + 1)]
    assert "make lab" in quick


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
