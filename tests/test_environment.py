"""environment.yml names every requirement of pyproject.toml (and its extras), and nothing stale."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's.
CONDA_NAME = {"torch": "pytorch"}
# Entries of environment.yml that are not Python requirements of the package.
NOT_REQUIREMENTS = {"python", "pip"}


def base_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {base_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {base_name(r) for r in extra}
    return {CONDA_NAME.get(n, n) for n in names}


def environment_requirements() -> tuple[set[str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names, pip_items = set(), []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip_items.extend(item.get("pip", []))
        else:
            names.add(base_name(item))
    return names - NOT_REQUIREMENTS, pip_items


def test_environment_names_every_requirement_and_nothing_stale():
    wanted = pyproject_requirements()
    found, pip_items = environment_requirements()
    # A package conda-forge does not carry is installed by pip, from the same file.
    found |= {base_name(item) for item in pip_items if not item.startswith("-")}
    assert not wanted - found, f"environment.yml lacks: {sorted(wanted - found)}"
    assert not found - wanted, f"environment.yml names packages pyproject.toml no longer needs: {sorted(found - wanted)}"


def test_environment_installs_the_package_itself_and_uses_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    _, pip_items = environment_requirements()
    assert "-e ." in pip_items


def test_colab_sensitive_packages_are_never_pinned_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        if base_name(requirement) in {"torch", "torchvision", "numpy", "ipywidgets"}:
            assert base_name(requirement) == requirement.strip(), f"{requirement!r} must stay unpinned (Colab)"


def test_jupyter_book_is_held_to_1x():
    book = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    spec = next(r for r in book if base_name(r) == "jupyter-book")
    assert "<2" in spec
