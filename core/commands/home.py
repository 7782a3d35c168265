"""What a workspace's home page shows (Slack's App Home): the knowledge base, the workspace's
digests and this week's answers with their 👍/👎; admins also see the refused and 👎-rated
questions. Gathered here, rendered by the adapter (``adapters.slack.convert.home_view``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.config import Settings
from core.digests.scheduling import DigestListing, digest_listing
from core.ports import KnowledgeBase
from core.runtime.state import StateStore
from core.types import PUBLIC_SCOPE

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class WorkspaceOverview:
    sources: int
    chunks: int
    last_ingest: datetime | None
    public_sources: tuple[str, ...]
    """Titles of the documents everyone may read (other scopes are counted, never named)."""
    digests: tuple[DigestListing, ...]
    answers: int
    refusals: int
    up: int
    down: int
    is_admin: bool
    refused_questions: tuple[str, ...] = field(default=())
    down_questions: tuple[str, ...] = field(default=())


def workspace_overview(
    *,
    settings: Settings,
    state: StateStore,
    knowledge_base: KnowledgeBase,
    platform: str,
    workspace: str,
    is_admin: bool,
    now: datetime,
) -> WorkspaceOverview:
    """Blocking (state and knowledge base reads): run it off the event loop."""
    infos = knowledge_base.sources()
    last_changed: Any = getattr(knowledge_base, "last_changed", None)
    activity = state.answer_activity(since=now - WEEK, scope_prefix=f"{platform}:{workspace}:")
    return WorkspaceOverview(
        sources=len(infos),
        chunks=sum(info.chunks for info in infos),
        last_ingest=last_changed() if callable(last_changed) else None,
        public_sources=tuple(info.title or info.source for info in infos if PUBLIC_SCOPE in info.scopes),
        digests=tuple(digest_listing(settings, state, now=now, platform=platform, workspace=workspace)),
        answers=int(activity["answers"]),
        refusals=int(activity["refusals"]),
        up=int(activity["up"]),
        down=int(activity["down"]),
        is_admin=is_admin,
        refused_questions=tuple(activity["refused_questions"]) if is_admin else (),
        down_questions=tuple(activity["down_questions"]) if is_admin else (),
    )
