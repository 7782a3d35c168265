"""A digest as text: Markdown for the console and the plain-text fallback of the adapters,
and the JSON shape ``tidings summarize --json`` prints.

Adapters that can post rich messages (Slack blocks, Discord embeds) build those from the
``Digest`` itself; this module is what every adapter can fall back to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.types import Digest, DigestBullet, MessageLink


def _when(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _source(link: MessageLink) -> str:
    label = f"{link.author} {_when(link.timestamp)}".strip()
    return f"[{label}]({link.link})" if link.link else label


def bullet_to_markdown(bullet: DigestBullet) -> str:
    """``- text (alice 09:14, bob 09:20)`` with each source a link when it has one."""
    line = f"- {bullet.text.strip()}"
    if bullet.sources:
        line += " (" + ", ".join(_source(link) for link in bullet.sources) + ")"
    return line


def window_text(start: datetime, end: datetime) -> str:
    """``2024-05-01 17:00 to 2024-05-02 17:00 CEST``: also how the scheduler recognises,
    after a crash, a digest it already posted for a window."""
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} {start.tzname() or ''}".strip()


def window_label(digest: Digest) -> str:
    """``#general, 2024-05-01 09:00 to 2024-05-02 09:00 UTC`` (whatever is known)."""
    parts: list[str] = []
    if digest.channel is not None:
        parts.append(digest.channel.label)
    if digest.window_start is not None and digest.window_end is not None:
        parts.append(window_text(digest.window_start, digest.window_end))
    return ", ".join(parts)


def coverage_note(digest: Digest) -> str:
    """One sentence when the digest did not cover every message (time budget reached)."""
    coverage = digest.coverage
    if coverage.covered_messages >= coverage.messages:
        return ""
    return (
        f"Covers {coverage.covered_messages} of {coverage.messages} messages; "
        "the rest did not fit in the time budget for this digest."
    )


def digest_to_markdown(digest: Digest) -> str:
    """Headline, then one block per non-empty section, each bullet followed by the links to
    the messages it came from."""
    lines: list[str] = []
    title = window_label(digest)
    lines.append(f"**Digest of {title}**" if title else "**Digest**")
    lines.append(digest.headline.strip())
    for section in digest.sections:
        if not section.bullets:
            continue
        lines.append("")
        lines.append(f"**{section.title}**")
        lines.extend(bullet_to_markdown(bullet) for bullet in section.bullets)
    note = coverage_note(digest)
    if note:
        lines.append("")
        lines.append(f"_{note}_")
    return "\n".join(lines)


def _link_to_dict(link: MessageLink) -> dict[str, Any]:
    return {
        "message_id": link.message_id,
        "author": link.author,
        "timestamp": link.timestamp.isoformat(),
        "link": link.link,
    }


def digest_to_dict(digest: Digest) -> dict[str, Any]:
    """The JSON shape of ``tidings summarize --json`` (documented in docs/digests.md)."""
    return {
        "headline": digest.headline,
        "sections": [
            {
                "title": section.title,
                "bullets": [
                    {"text": bullet.text, "sources": [_link_to_dict(link) for link in bullet.sources]}
                    for bullet in section.bullets
                ],
            }
            for section in digest.sections
        ],
        "coverage": {
            "messages": digest.coverage.messages,
            "conversations": digest.coverage.conversations,
            "covered_messages": digest.coverage.covered_messages,
        },
        "stats": {
            "model_calls": digest.stats.model_calls,
            "prompt_tokens": digest.stats.prompt_tokens,
            "completion_tokens": digest.stats.completion_tokens,
            "seconds": round(digest.stats.seconds, 3),
        },
    }
