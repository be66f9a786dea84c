"""An endpoint's lifecycle decided from its deliveries' outcomes, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.delivery.adapter import Dead, Delivered, Retry, Skipped
from router.delivery.lifecycle import (
    Disable,
    Failing,
    Recover,
    applied,
    decide,
    enabled_again,
    verdict_of,
)
from schemas.instance_config import InstanceConfig, WebhookConfig
from schemas.timefmt import format_utc

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
DAY = 86_400.0


def hook(**fields: object) -> WebhookConfig:
    return WebhookConfig.model_validate({"label": "crm", "url": "http://crm.example/h", **fields})


def ago(seconds: float) -> str:
    return format_utc(NOW - timedelta(seconds=seconds))


def test_what_an_outcome_says_about_its_endpoint() -> None:
    assert verdict_of(Delivered(status=200)) == "success"
    assert verdict_of(Retry("HTTP 500", status=500)) == "failure"
    assert verdict_of(Dead("HTTP 404", status=404)) == "failure"
    assert verdict_of(Dead("HTTP 410", status=410)) == "gone"
    assert verdict_of(Retry("HTTP 410", status=410)) == "gone"
    assert verdict_of(Retry("busy", counts=False)) is None  # nothing was tried
    assert verdict_of(Skipped("not wanted")) is None


def test_a_first_failure_starts_the_spell_and_the_threshold_disables() -> None:
    assert decide(hook(), "failure", NOW, 5 * DAY) == Failing(format_utc(NOW))
    assert decide(hook(failing_since=ago(4 * DAY)), "failure", NOW, 5 * DAY) is None
    disabled = decide(hook(failing_since=ago(5 * DAY)), "failure", NOW, 5 * DAY)
    assert isinstance(disabled, Disable)
    assert ago(5 * DAY) in disabled.reason
    assert decide(hook(failing_since=ago(50 * DAY)), "failure", NOW, None) is None  # never


def test_gone_disables_at_once_and_a_disabled_one_is_left_alone() -> None:
    assert decide(hook(), "gone", NOW, 5 * DAY) == Disable("it answered 410 Gone")
    assert decide(hook(enabled=False), "gone", NOW, 5 * DAY) is None
    assert decide(hook(enabled=False, failing_since=ago(9 * DAY)), "failure", NOW, DAY) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"failing_since": ago(60)}, Recover(notify=False)),
        ({"failing_since": ago(3 * DAY)}, Recover(notify=True)),  # past half the threshold
        ({"disabled_at": ago(60)}, Recover(notify=True)),  # re-enabled after a disabling
    ],
)
def test_a_success_ends_the_spell(fields: dict[str, object], expected: Recover | None) -> None:
    assert decide(hook(**fields), "success", NOW, 5 * DAY) == expected


def test_decisions_apply_once_against_what_is_stored() -> None:
    config = InstanceConfig(
        instance="shop", webhooks=[hook(), hook(label="other", url="http://o.example/")]
    )
    failing = applied(config, "crm", Failing(ago(10)), NOW)
    assert failing.webhook("crm") is not None
    assert failing.webhook("crm").failing_since == ago(10)  # type: ignore[union-attr]
    assert applied(failing, "crm", Failing(ago(0)), NOW) == failing  # an older look: no change
    assert [w.label for w in failing.webhooks] == ["crm", "other"]  # order kept
    disabled = applied(failing, "crm", Disable("gone"), NOW)
    crm = disabled.webhook("crm")
    assert crm is not None
    assert (crm.enabled, crm.disabled_at, crm.disabled_reason) == (False, format_utc(NOW), "gone")
    again = enabled_again(disabled, "crm").webhook("crm")
    assert again is not None
    assert (again.enabled, again.failing_since, again.disabled_at) == (True, None, format_utc(NOW))
    cleared = applied(enabled_again(disabled, "crm"), "crm", Recover(notify=True), NOW)
    assert cleared.webhook("crm") == hook().model_copy(
        update={"created_at": crm.created_at, "updated_at": crm.updated_at}
    )
    with pytest.raises(LookupError):
        enabled_again(config, "nope")


def test_a_disabled_webhook_is_not_recovered_by_an_answer_that_was_on_its_way() -> None:
    disabled = hook(enabled=False, disabled_at=ago(1), disabled_reason="gone", failing_since=ago(9))
    assert decide(disabled, "success", NOW, 5 * DAY) is None
    config = InstanceConfig(instance="shop", webhooks=[disabled])
    # Decided on an older look, when it was still on: the stored document wins.
    assert applied(config, "crm", Recover(notify=True), NOW) == config
    cleared = InstanceConfig(instance="shop", webhooks=[hook()])
    assert applied(cleared, "crm", Recover(notify=False), NOW) == cleared
