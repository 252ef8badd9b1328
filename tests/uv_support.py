"""uv and the machine's Pythons for tests that start pd-mcp the way uv-based hosts do.

uv comes from PyPI with the test extra. Such a start gets a PATH holding only
uv and one Python, and an environment in which uv may install packages from
PyPI but never download a Python: the interpreter given is the one that runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_python(version: str) -> Path | None:
    """An interpreter of exactly `version`: pyenv's installs first, then PATH (not pyenv's shims)."""
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        found = sorted(Path(root).glob(f"versions/{version}.*/bin/python{version}"))
        found = [p for p in found if p.parent.parent.name.replace(".", "").isdigit()]
        if found:
            return found[-1]
    on_path = shutil.which(f"python{version}")
    if on_path and "shims" not in Path(on_path).parts:
        return Path(on_path)
    return None


def uv_binary() -> Path:
    from uv import find_uv_bin

    return Path(find_uv_bin())


def only_uv_and(python: Path, where: Path) -> Path:
    """A folder to be the whole PATH: `uv` and `python3`, nothing else."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "uv").symlink_to(uv_binary())
    (where / "python3").symlink_to(python)
    return where


def uv_environment(path_dir: Path, home: Path, cache: Path) -> dict[str, str]:
    """What a host's environment adds around a uv-launched server, for a test."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": str(path_dir),
        "HOME": str(home),
        "UV_CACHE_DIR": str(cache),
        "UV_PYTHON_DOWNLOADS": "never",  # use the Python on PATH, never fetch one
        "UV_PYTHON_INSTALL_DIR": str(home / "no-managed-pythons"),
        "UV_NO_CONFIG": "1",  # no uv.toml of the developer's
        "UV_NATIVE_TLS": "1",  # the system's certificates, as on a machine behind a proxy
    }
