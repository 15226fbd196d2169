"""What an IT colleague sees installing the bot: pyproject.toml as setuptools reads it, with no warnings."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_installing_the_project_prints_no_setuptools_warning() -> None:
    distribution = Distribution()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(distribution, PYPROJECT)

    from_setuptools = [str(w.message) for w in caught if "setuptools" in w.category.__module__]
    assert from_setuptools == []
    assert distribution.metadata.license_expression == "MIT"


def test_the_build_asks_for_a_setuptools_that_reads_an_spdx_licence() -> None:
    """`license = "MIT"` is an error before setuptools 77, so the build backend must be at least that."""
    build = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["build-system"]
    setuptools = next(Requirement(r) for r in build["requires"] if Requirement(r).name == "setuptools")

    assert not setuptools.specifier.contains(Version("76.9"))
    assert setuptools.specifier.contains(Version("77.0"))
