"""Who may ask, what they may see, and how often.

Scopes decide what a question can retrieve: ``public``, the channel's own scope, and the
scopes the config grants that channel. Allow-lists (empty = everyone) decide who may use the
bot at all, and a per-user rate limit keeps one person from starving the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.config import AccessSettings
from core.errors import NotAllowed, RateLimited
from core.ports import Clock
from core.types import DOCS_SCOPE, PUBLIC_SCOPE, ChannelRef


def scopes_for(channel: ChannelRef | None, grants: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The scopes a question asked in ``channel`` may see (``None``: public only)."""
    if channel is None:
        return frozenset({PUBLIC_SCOPE})
    scope = channel.scope
    granted = set(grants.get(scope, ())) | set(grants.get(channel.channel, ()))
    return frozenset({PUBLIC_SCOPE, scope, *granted})


def scopes_for_scope(scope: str, grants: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Same as :func:`scopes_for` for a scope string given on the command line."""
    if scope == PUBLIC_SCOPE:
        return frozenset({PUBLIC_SCOPE, *grants.get(PUBLIC_SCOPE, ())})
    channel = scope.rsplit(":", 1)[-1]
    return frozenset({PUBLIC_SCOPE, scope, *grants.get(scope, ()), *grants.get(channel, ())})


def terminal_scopes(scope: str | None, grants: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """What a question asked in the terminal reads (``tidings chat``, ``tidings ask``, ``tidings
    search``): what is public, and Tidings' own guide, the demo that Slack and Discord channels
    see only when granted; with ``scope``, exactly what a question asked in that channel reads,
    so that its answers can be tried from the shell."""
    if scope is not None:
        return scopes_for_scope(scope, grants)
    return scopes_for_scope(PUBLIC_SCOPE, grants) | {DOCS_SCOPE}


@dataclass
class RateLimiter:
    """A sliding one-minute window per user."""

    per_minute: int
    clock: Clock = field(default_factory=lambda: time.monotonic)
    _calls: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, user: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = self.clock()
        calls = self._calls.setdefault(user, deque())
        while calls and now - calls[0] >= 60.0:
            calls.popleft()
        if len(calls) >= self.per_minute:
            return False
        calls.append(now)
        if len(self._calls) > 10_000:  # forget idle users so memory stays flat
            for key in [k for k, v in self._calls.items() if not v or now - v[-1] >= 60.0]:
                del self._calls[key]
        return True


class SharedRateLimiter:
    """The same sliding one-minute window, counted in the state database, so a user's limit
    holds whichever replica gets the question."""

    def __init__(self, *, per_minute: int, state: CountsQuestions) -> None:
        self.per_minute = per_minute
        self.state = state

    def allow(self, user: str) -> bool:
        return self.state.allow_question(user, per_minute=self.per_minute)


class CountsQuestions(Protocol):
    def allow_question(self, user: str, *, per_minute: int, now: float | None = None) -> bool: ...


class Gatekeeper:
    """Checks a question against allow-lists and the rate limit; raises a polite error.

    With ``state`` the rate limit is counted there (shared by every replica of the
    database); without, in this process's memory."""

    def __init__(self, *, settings: AccessSettings, clock: Clock | None = None, state: CountsQuestions | None = None) -> None:
        self.settings = settings
        self.limiter: RateLimiter | SharedRateLimiter
        if state is not None and clock is None:
            self.limiter = SharedRateLimiter(per_minute=settings.questions_per_minute, state=state)
        else:
            self.limiter = RateLimiter(settings.questions_per_minute, clock or time.monotonic)

    def scopes(self, channel: ChannelRef | None) -> frozenset[str]:
        return scopes_for(channel, self.settings.grants)

    def check(self, *, user: str, channel: ChannelRef | None, roles: Iterable[str] = ()) -> None:
        self._check_lists(user=user, channel=channel, roles=roles)
        if not self.limiter.allow(user):
            raise self._rate_limited()

    async def admit(self, *, user: str, channel: ChannelRef | None, roles: Iterable[str] = ()) -> None:
        """``check`` for the adapters, on the event loop: the shared rate limit's database
        transaction runs in a thread, so a slow database never holds up other requests' acks."""
        self._check_lists(user=user, channel=channel, roles=roles)
        if isinstance(self.limiter, SharedRateLimiter):
            allowed = await asyncio.to_thread(self.limiter.allow, user)
        else:
            allowed = self.limiter.allow(user)
        if not allowed:
            raise self._rate_limited()

    def _check_lists(self, *, user: str, channel: ChannelRef | None, roles: Iterable[str]) -> None:
        s = self.settings
        if s.allowed_users and user not in s.allowed_users:
            raise NotAllowed("Sorry, I'm not set up to answer your questions here. Ask an admin to add you.")
        if s.allowed_roles and not (set(roles) & set(s.allowed_roles)) and user not in s.allowed_users:
            raise NotAllowed("Sorry, your role isn't on the list of roles I answer. Ask an admin to add it.")
        if s.allowed_channels and channel is not None:
            names = {channel.channel, channel.scope, channel.name, f"#{channel.name}"}
            if not names & set(s.allowed_channels):
                raise NotAllowed("Sorry, I'm not enabled in this channel. Ask an admin to add it to the allow-list.")

    def _rate_limited(self) -> RateLimited:
        return RateLimited(
            f"You're asking faster than I can keep up (limit: {self.settings.questions_per_minute} questions a minute). "
            "Please try again in a minute."
        )

