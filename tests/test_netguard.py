"""Which hosts count as inside the library's own network."""

from __future__ import annotations

import pytest

from fedibridge.netguard import _is_public, is_public_host


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
     "fe80::1", "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_private_link_local_and_special_addresses_are_not_public(address: str) -> None:
    assert not _is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_public(address: str) -> None:
    assert _is_public(address)


def test_host_names_are_resolved_before_judging() -> None:
    assert not is_public_host("localhost")
    assert not is_public_host("127.0.0.1")
