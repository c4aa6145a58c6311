"""Settings: built once from the environment; bad values refused with one line naming the fix."""

from __future__ import annotations

import pytest

from loadtest_monitor.identity import DEFAULT_CLUSTER_DOMAIN
from loadtest_monitor.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.resync_seconds == 120
    assert settings.cluster_domain == DEFAULT_CLUSTER_DOMAIN == "cluster.local"
    assert not settings.aws_lb_state


def test_values_from_the_environment() -> None:
    env = {"LTM_RESYNC_SECONDS": "20", "LTM_CLUSTER_DOMAIN": "corp.example.", "LTM_AWS_LB_STATE": "true"}
    settings = Settings.from_env(env, liveness_port=8080)
    assert (settings.resync_seconds, settings.cluster_domain, settings.aws_lb_state) == (20, "corp.example", True)
    assert settings.liveness_port == 8080


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LTM_RESYNC_SECONDS": "0"}, ["LTM_RESYNC_SECONDS", ">= 5"]),  # 0 would be a hot loop
        ({"LTM_RESYNC_SECONDS": "often"}, ["LTM_RESYNC_SECONDS", "not a number"]),
        ({"LTM_RESYNC_SECONDS": "nan"}, ["LTM_RESYNC_SECONDS"]),
        ({"LTM_WORKERS": "0"}, ["LTM_WORKERS"]),
        ({"LTM_AWS_LB_STATE": "maybe"}, ["LTM_AWS_LB_STATE", "true or false"]),
        ({"LTM_CLUSTER_DOMAIN": "bad_domain"}, ["LTM_CLUSTER_DOMAIN", "cluster.local"]),
        ({"LTM_REQUEST_TIMEOUT_SECONDS": "30", "LTM_RECONCILE_DEADLINE_SECONDS": "60"}, ["at least 3 x"]),
    ],
)
def test_bad_values_are_refused_with_the_variable_and_the_fix(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_nothing_is_read_at_import() -> None:
    import loadtest_monitor.controller.handlers as handlers

    assert handlers.RUNTIME is None or isinstance(handlers.RUNTIME.settings, Settings)
    assert not hasattr(handlers, "RESYNC_SECONDS") and not hasattr(handlers, "CLUSTER_DOMAIN")


def test_load_balancer_mode_is_a_setting_checked_once() -> None:
    assert Settings.from_env({}).load_balancer_mode == "aws-load-balancer-controller"
    assert Settings.from_env({"LTM_LOAD_BALANCER_MODE": "eks-auto-mode"}).load_balancer_mode == "eks-auto-mode"
    with pytest.raises(SettingsError, match="LTM_LOAD_BALANCER_MODE='nlb' is unknown"):
        Settings.from_env({"LTM_LOAD_BALANCER_MODE": "nlb"})
