"""Project set-up: dependency lists agree, the two commands exist, CI calls make test."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    return dict(_split(r) for r in reqs)


def _environment() -> dict[str, str]:
    deps, in_pip, in_deps = {}, False, False
    for line in (ROOT / "environment.yml").read_text("utf-8").splitlines():
        stripped = line.split("#")[0].rstrip()
        if re.match(r"^\S", stripped):
            in_deps = stripped.startswith("dependencies:")
            continue
        if not in_deps:
            continue
        if re.match(r"^\s{2}- pip:\s*$", stripped):
            in_pip = True
            continue
        m = re.match(r"^\s{2}- (\S.*)$", stripped) or (in_pip and re.match(r"^\s{6}- ([^-].*)$", stripped))
        if m:
            name, spec = _split(m.group(1))
            if name not in ("python", "pip"):
                deps[name] = spec
    return deps


def test_environment_yml_matches_pyproject():
    py, env = _pyproject(), _environment()
    assert py == env, f"only in pyproject: {set(py.items()) - set(env.items())}; " \
                      f"only in environment.yml: {set(env.items()) - set(py.items())}"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text("utf-8")
    first_block = re.search(r"```\w*\n(.*?)```", text, re.S).group(1)
    assert [ln.strip() for ln in first_block.strip().splitlines()] == ["make demo", "make test"]


def test_ci_runs_make_test():
    run = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "make test" in run and "set -e" in run


def test_makefile_targets_create_the_venv():
    mk = (ROOT / "Makefile").read_text("utf-8")
    for target in ("demo:", "test:"):
        assert re.search(rf"^{target} \$\(STAMP\)", mk, re.M)
    assert "-m venv" in mk and ".[test]" in mk
