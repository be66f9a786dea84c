"""Per-endpoint cap and circuit breaker, on a clock the test moves."""

from __future__ import annotations

from adapters.webhook.endpoints import Endpoints, endpoint_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, cap: int = 2, threshold: int = 3) -> Endpoints:
    return Endpoints(cap, threshold, cooldown=lambda n: 10.0 * n, clock=clock)


def test_endpoints_are_origins() -> None:
    assert endpoint_of("https://crm.example/hook/a") == "https://crm.example:443"
    assert endpoint_of("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"


def test_requests_over_the_cap_are_deferred() -> None:
    endpoints = make(Clock())
    assert endpoints.admit("http://a/1") is None
    assert endpoints.admit("http://a/2") is None
    deferral = endpoints.admit("http://a/3")
    assert deferral is not None
    assert "2 requests in flight" in deferral.reason
    assert endpoints.admit("http://b/1") is None  # another receiver is not affected
    endpoints.release("http://a/1", healthy=True)
    assert endpoints.admit("http://a/3") is None


def test_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    endpoints = make(clock, cap=10, threshold=3)
    for _ in range(3):
        assert endpoints.admit("http://a/") is None
        endpoints.release("http://a/", healthy=False)
    deferral = endpoints.admit("http://a/")
    assert deferral is not None
    assert deferral.delay == 10.0
    clock.now += 10.5
    assert endpoints.admit("http://a/") is None  # the probe
    assert endpoints.admit("http://a/") is not None  # only one probe at a time
    endpoints.release("http://a/", healthy=False)
    reopened = endpoints.admit("http://a/")
    assert reopened is not None
    assert reopened.delay == 20.0  # the cool-down grows
    clock.now += 21
    assert endpoints.admit("http://a/") is None
    endpoints.release("http://a/", healthy=True)
    assert endpoints.admit("http://a/") is None
    assert endpoints.state("http://a:80").failures == 0
