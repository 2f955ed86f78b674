"""pyproject.toml and environment.yml must list the same dependencies and versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI's, and pip extras that conda spells out
PIP_TO_CONDA = {"moto[server]": "moto", "isal": "python-isal"}


def _split(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].split("#")[0].strip()
    m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", requirement)
    assert m, requirement
    name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
    return PIP_TO_CONDA.get(name, name), spec


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section, for what conda-forge lacks
            for pip_dep in dep.get("pip", []):
                if not pip_dep.startswith("-e"):
                    name, spec = _split(pip_dep)
                    out[name] = spec
            continue
        if dep.split("=")[0].split(">")[0] in ("python", "pip"):
            continue
        name, spec = _split(dep)
        out[name] = spec
    return out


def test_same_packages_and_versions():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml only"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml only"
    assert {k: v for k, v in pip.items() if conda[k] != v} == {}, "versions differ"


def test_conda_forge_only_and_python_version():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["requires-python"] == ">=3.11"
    assert "python>=3.11" in env["dependencies"]


def test_jupyter_book_is_1x():
    # 2.x downloads its theme at build time and cannot build offline
    assert pyproject_requirements()["jupyter-book"].endswith(",<2")
