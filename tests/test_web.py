"""The status page's HTTP side, on loopback, over state written by real cycles."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fedibridge.cli import main
from fedibridge.config import listen_address, load_settings
from fedibridge.errors import ConfigError
from fedibridge.web import StatusServer
from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, rss, write_config


@pytest.fixture
def bridge(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon) -> Path:
    """A config whose state has one posted item, one refused item and one failing feed."""
    url = feed_server.serve("/events.rss", rss(1, 2))
    config = write_config(tmp_path, url, mastodon.url)
    config.write_text(
        config.read_text()
        + textwrap.dedent(f"""
        [feeds.gone]
        url = "{feed_server.url("/gone.rss")}"
        """)
    )
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3, 4))
    mastodon.fault(
        "/api/v1/statuses",
        status=422,
        count=1,
        body={"error": "Validation failed: Text contains a forbidden word"},
    )
    once(config)
    return config


def serve(config: Path, clock: datetime | None = None) -> StatusServer:
    settings = load_settings(config)
    if clock is None:
        return StatusServer(settings, "127.0.0.1", 0)
    return StatusServer(settings, "127.0.0.1", 0, clock=lambda: clock)


def test_the_page_shows_posts_refusals_and_the_failing_feed(bridge: Path, mastodon) -> None:
    with serve(bridge) as server:
        response = httpx.get(server.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    [posted] = mastodon.statuses()
    assert posted["url"] in page
    assert "Text contains a forbidden word" in page
    assert "Failing: feed “gone”" in page
    assert TOKEN not in page


def test_the_page_sets_no_cookie_loads_nothing_and_is_never_cached(bridge: Path) -> None:
    with serve(bridge) as server:
        response = httpx.get(server.url)
        head = httpx.head(server.url)
    assert "set-cookie" not in response.headers
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert head.status_code == 200 and head.content == b""


def test_healthz_follows_the_same_rule_as_the_healthcheck_command(bridge: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["--config", str(bridge), "healthcheck"]) == 0
    assert capsys.readouterr().out == "healthy\n"
    with serve(bridge) as server:
        answer = httpx.get(server.url + "healthz")
    assert (answer.status_code, answer.text) == (200, "healthy\n")

    # Three intervals (15 minutes each) later without a poll, both say so, naming the feeds.
    later = datetime.now(UTC) + timedelta(minutes=46)
    with serve(bridge, clock=later) as server:
        answer = httpx.get(server.url + "healthz")
    assert answer.status_code == 503
    assert answer.text == "unhealthy: not polled recently: events, gone\n"


def test_healthz_before_the_first_poll_agrees_with_the_command(tmp_path, capsys) -> None:
    config = write_config(tmp_path, "https://library.example/feed", "https://social.example")
    capsys.readouterr()
    assert main(["--config", str(config), "healthcheck"]) == 1
    said = capsys.readouterr().out
    with serve(config) as server:
        answer = httpx.get(server.url + "healthz")
    assert answer.status_code == 503 and answer.text == said


def test_metrics_count_from_the_state_file(bridge: Path) -> None:
    with serve(bridge) as server:
        response = httpx.get(server.url + "metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    events = (("feed", "events"),)
    assert samples[("fedibridge_posts_total", events)] == 1
    assert samples[("fedibridge_items", (*events, ("state", "failed")))] == 1
    assert samples[("fedibridge_items", (*events, ("state", "skipped")))] == 2
    assert samples[("fedibridge_feed_ok", (("feed", "gone"),))] == 0
    assert samples[("fedibridge_feed_failures_in_a_row", (("feed", "gone"),))] == 1
    assert ("fedibridge_last_success_timestamp_seconds", (("feed", "gone"),)) not in samples
    assert samples[("fedibridge_last_success_timestamp_seconds", events)] > 0
    state_file = bridge.parent / "state" / "fedibridge.sqlite3"
    assert 0 < samples[("fedibridge_state_bytes", ())] <= 2 * state_file.stat().st_size
    assert samples[("fedibridge_state_items", (("kept", "whole"),))] == 4
    assert samples[("fedibridge_state_items", (("kept", "key"),))] == 0
    assert TOKEN not in response.text


def test_unknown_paths_are_not_found(bridge: Path) -> None:
    with serve(bridge) as server:
        assert httpx.get(server.url + "admin").status_code == 404
        assert httpx.get(server.url + "favicon.ico").status_code == 204


def test_a_port_in_use_is_a_clear_configuration_error(bridge: Path) -> None:
    with serve(bridge) as first:
        port = int(first.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(ConfigError) as caught:
            StatusServer(load_settings(bridge), "127.0.0.1", port)
    [problem] = caught.value.problems
    assert problem.startswith(
        f"bridge.status_listen: cannot serve the status page on 127.0.0.1:{port}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("localhost:9000", ("localhost", 9000)),
        ("[::1]:8080", ("::1", 8080)),
    ],
)
def test_status_listen_takes_an_address_and_a_port(value: str, expected: tuple[str, int]) -> None:
    assert listen_address(value) == expected


@pytest.mark.parametrize("value", ["8080", "localhost", "127.0.0.1:99999", "http://x:80"])
def test_a_wrong_status_listen_is_explained(tmp_path: Path, value: str) -> None:
    config = write_config(tmp_path, "https://library.example/feed", "https://social.example")
    text = config.read_text().replace(
        "[accounts.main]", f'status_listen = "{value}"\n\n[accounts.main]'
    )
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    [problem] = caught.value.problems
    assert problem.startswith(
        'bridge.status_listen: write an address and a port such as "127.0.0.1:8080"'
    )


def test_the_container_turns_the_page_on_with_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "https://library.example/feed", "https://social.example")
    assert load_settings(config).bridge.status_listen is None  # off unless asked for
    monkeypatch.setenv("FEDIBRIDGE_BRIDGE__STATUS_LISTEN", "0.0.0.0:8080")
    monkeypatch.setenv("FEDIBRIDGE_BRIDGE__LOG_FORMAT", "json")
    settings = load_settings(config)
    assert settings.bridge.status_listen == "0.0.0.0:8080"
    assert settings.bridge.log_format == "json"
