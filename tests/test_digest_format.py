"""A digest as Markdown and as the JSON shape of ``tidings summarize --json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core.digests.format import digest_to_dict, digest_to_markdown
from core.types import ChannelRef, Coverage, Digest, DigestBullet, DigestSection, DigestStats, MessageLink

WHEN = datetime(2024, 5, 1, 9, 14, tzinfo=UTC)
ALICE = MessageLink("1714554840.000100", "alice", WHEN, "https://example.slack.com/archives/C1/p1714554840000100")
BOB = MessageLink("1714555200.000200", "bob", WHEN.replace(minute=20), None)


def make_digest(*, covered: int = 3) -> Digest:
    return Digest(
        headline="Release 2.1 planning and a flaky CI job.",
        sections=(
            DigestSection("Topics", (DigestBullet("Release 2.1 scope", (ALICE, BOB)),)),
            DigestSection("Decisions", ()),
            DigestSection("Action items", (DigestBullet("bob: fix the flaky CI job", (BOB,)),)),
        ),
        coverage=Coverage(messages=3, conversations=1, covered_messages=covered),
        stats=DigestStats(model_calls=2, prompt_tokens=400, completion_tokens=40, seconds=1.23456),
        window_start=datetime(2024, 5, 1, tzinfo=UTC),
        window_end=datetime(2024, 5, 2, tzinfo=UTC),
        channel=ChannelRef("slack", "T1", "C1", name="general"),
    )


def test_markdown_has_headline_sections_and_linked_sources() -> None:
    text = digest_to_markdown(make_digest())
    lines = text.splitlines()
    assert lines[0] == "**Digest of #general, 2024-05-01 00:00 to 2024-05-02 00:00 UTC**"
    assert lines[1] == "Release 2.1 planning and a flaky CI job."
    assert "**Topics**" in lines and "**Action items**" in lines
    assert "**Decisions**" not in text  # empty sections are left out
    assert (
        "- Release 2.1 scope ([alice 09:14](https://example.slack.com/archives/C1/p1714554840000100), bob 09:20)"
        in lines
    )
    assert "Covers" not in text


def test_markdown_says_what_was_covered_when_the_budget_ran_out() -> None:
    text = digest_to_markdown(make_digest(covered=2))
    assert text.splitlines()[-1] == "_Covers 2 of 3 messages; the rest did not fit in the time budget for this digest._"


def test_json_shape_is_the_documented_one() -> None:
    data = json.loads(json.dumps(digest_to_dict(make_digest())))
    assert set(data) == {"headline", "sections", "coverage", "stats"}
    assert [s["title"] for s in data["sections"]] == ["Topics", "Decisions", "Action items"]
    source = data["sections"][0]["bullets"][0]["sources"][0]
    assert source == {
        "message_id": "1714554840.000100",
        "author": "alice",
        "timestamp": "2024-05-01T09:14:00+00:00",
        "link": ALICE.link,
    }
    assert data["coverage"] == {"messages": 3, "conversations": 1, "covered_messages": 3}
    assert data["stats"] == {"model_calls": 2, "prompt_tokens": 400, "completion_tokens": 40, "seconds": 1.235}
