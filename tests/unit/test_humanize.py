"""Sizes and durations print as go-units prints them for the Docker CLI."""

import datetime

import pytest

from pyker.cli.humanize import bytes_size, human_duration, human_size, since


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (4_140_000, "4.14MB"), (4_261_550, "4.26MB"),
    (120_500_000, "120MB"), (1_234_567_890, "1.23GB"),
])
def test_human_size(size, text):
    assert human_size(size) == text


def test_bytes_size():
    assert bytes_size(25_200_000_000) == "23.47GiB"
    assert bytes_size(512) == "512B"


@pytest.mark.parametrize("seconds, text", [
    (0.2, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (9 * 60, "9 minutes"), (3600, "About an hour"), (47 * 3600, "47 hours"),
    (3 * 86400, "3 days"), (5 * 7 * 86400, "5 weeks"), (90 * 86400, "3 months"),
    (3 * 365 * 86400, "3 years"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_since_reads_rfc3339_with_nanoseconds():
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert since("2025-12-31T23:51:00.123456789Z", now) == "8 minutes ago"
    assert since("", now) == "N/A"


def test_logs_since_reads_durations_unix_times_and_dates():
    from pyker.runtime.logs import since_stamp

    now = 1_700_000_000.0
    assert since_stamp("10m", now) == "2023-11-14T22:03:20.000000000Z"
    assert since_stamp("1h30m", now) == "2023-11-14T20:43:20.000000000Z"
    assert since_stamp("1700000000.5", now) == "2023-11-14T22:13:20.500000000Z"
    assert since_stamp("2023-11-14T22:13:20Z", now) == "2023-11-14T22:13:20.000000000Z"
    assert since_stamp("", now) == ""
    with pytest.raises(ValueError):
        since_stamp("yesterday", now)
