"""The SSRF guard's rules, on addresses and URLs: metadata and link-local always refused,
private ranges refused on request, an allow-list over both, IPv4 in IPv6 seen through."""

from __future__ import annotations

import socket

import pytest

from router.netguard import REFUSED, AddressRefused, Guard, networks

OPEN = Guard()
STRICT = Guard(deny_private=True)


@pytest.mark.parametrize(
    ("address", "open_", "strict"),
    [
        ("169.254.169.254", "cloud metadata", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata", "cloud metadata"),
        ("100.100.100.200", "cloud metadata", "cloud metadata"),
        ("169.254.10.1", "link-local", "link-local"),
        ("fe80::1", "link-local", "link-local"),
        ("fe80::1%eth0", "link-local", "link-local"),
        ("::ffff:169.254.169.254", "cloud metadata", "cloud metadata"),
        ("127.0.0.1", None, "loopback"),
        ("::1", None, "loopback"),
        ("10.1.2.3", None, "private"),
        ("172.20.0.5", None, "private"),
        ("192.168.1.10", None, "private"),
        ("::ffff:192.168.1.10", None, "private"),
        ("fc00::5", None, "private"),
        ("100.64.0.1", None, "shared"),
        ("224.0.0.1", None, "multicast"),
        ("0.0.0.0", None, "unspecified"),
        ("240.0.0.1", None, "reserved"),
        ("93.184.216.34", None, None),
        ("2606:2800:220:1:248:1893:25c8:1946", None, None),
    ],
)
def test_rules(address: str, open_: str | None, strict: str | None) -> None:
    for guard, expected in ((OPEN, open_), (STRICT, strict)):
        said = guard.refusal(address)
        if expected is None:
            assert said is None, (guard, address)
        else:
            assert said is not None, (guard, address)
            assert said.startswith(REFUSED)
            assert expected in said


def test_an_allowed_network_passes_whatever_the_rules_say() -> None:
    guard = Guard(deny_private=True, allowed=networks("10.0.5.0/24, 169.254.169.254"))
    assert guard.refusal("10.0.5.7") is None
    assert guard.refusal("10.0.6.7") is not None
    assert guard.refusal("169.254.169.254") is None
    assert guard.refusal("169.254.169.253") is not None


def test_a_network_that_is_not_one_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match=r"'10.0.0.0/33' is not a network \(e.g. 10.0.0.0/8\)"):
        networks("10.0.0.0/8, 10.0.0.0/33")
    assert networks(" , ") == ()


def test_the_socket_factory_refuses_before_any_socket_exists() -> None:
    with pytest.raises(AddressRefused, match="cloud metadata"):
        OPEN.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    made = OPEN.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    made.close()


async def test_urls_are_judged_by_the_addresses_they_reach() -> None:
    assert "cloud metadata" in (await OPEN.url_refusal("http://169.254.169.254/latest/") or "")
    assert "cloud metadata" in (await OPEN.url_refusal("http://[fd00:ec2::254]/") or "")
    # A name is judged by what it resolves to.
    assert await OPEN.url_refusal("http://localhost:8080/hook") is None
    assert "loopback" in (await STRICT.url_refusal("http://localhost:8080/hook") or "")
    # A name that does not resolve (yet) is left to the connection.
    assert await STRICT.url_refusal("http://no-such-host.invalid/hook") is None
