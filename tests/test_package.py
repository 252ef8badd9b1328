"""The distributions PyPI would receive: built by uv, checked by twine, with licence and typing marker.

A package that builds can still be rejected by PyPI (bad metadata, a README
that does not render) or mislead its users (claiming Pythons nobody tests, no
licence file), so this builds the sdist and wheel the way a release does and
looks at what is inside.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent
TESTED_PYTHONS = ("3.11", "3.12", "3.13")  # what .ci/run runs the suite on
BUILD_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from uv import find_uv_bin

    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [find_uv_bin(), "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        env={"PATH": str(Path(sys.executable).parent), "UV_NATIVE_TLS": "1", "HOME": str(out)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=BUILD_TIMEOUT,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_twine_accepts_both_distributions(dists: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", dists["wheel"], dists["sdist"]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_both_carry_the_licence(dists: dict[str, Path]) -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert wheel.read(name).decode() == licence
        assert "pd_mcp/py.typed" in wheel.namelist()
    with tarfile.open(dists["sdist"]) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("/LICENSE") for n in names)
    assert any(n.endswith("/CHANGELOG.md") for n in names)


def test_metadata_claims_only_what_is_tested(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(wheel.read(name).decode())
    classifiers = metadata.get_all("Classifier") or []
    prefix = "Programming Language :: Python :: 3."
    versions = {c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith(prefix)}
    assert versions == set(TESTED_PYTHONS)
    assert "Typing :: Typed" in classifiers
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert not metadata.get_all("Project-URL"), "no project address is real yet: add one only when it is"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert metadata["Version"] == pyproject["project"]["version"]
