from collections.abc import Iterator

import pytest

from tests.support.scripted_server import (  # noqa: F401 - fixtures used by name
    NetworkGuard,
    guarded_network,
    http_client,
    scripted_server,
)


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    yield from guarded_network(monkeypatch)
