#!/usr/bin/env python3
"""Print setup.cfg's ``install_requires``, one per line, for ``pip install -r``.

The Dockerfile installs the dependencies from this list in a layer of their own, before it
copies the code, so that a change to the code reuses the (large) dependency layer from the
build cache. Standard library only: it runs with the base image's bare Python.
"""

from __future__ import annotations

import configparser
import sys


def requirements(setup_cfg: str) -> list[str]:
    parser = configparser.ConfigParser(inline_comment_prefixes=None)
    parser.read(setup_cfg, encoding="utf-8")
    lines = parser.get("options", "install_requires").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1])))
