"""Shared fixtures for the reliability tests: a warm daemon fork server and a fast
configuration (a step a second, storm limits of one second)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.reliab_daemon import ZygoteLauncher, write_config
from support.reliab_zygote import Zygote


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    with Zygote() as z:
        yield z


@pytest.fixture(scope="session")
def launcher(zygote: Zygote) -> ZygoteLauncher:
    return ZygoteLauncher(zygote)


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("reliab") / "config")
