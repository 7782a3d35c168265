"""Load, bounded and local: many people ask at once, one model worker answers them all.

Real slack-bolt over real HTTP, the real answerer and the packaged model (each answer one
short model call, the model picking the passage to quote: the queue is what is under test;
quote answers the embedder picks never wait for the model). Every request is
acknowledged within Slack's 3 seconds, every question gets exactly one reply message
(edited in place from "queued" to the answer), waiting askers are told their position, and
memory stays flat from one wave to the next.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest

from core.services import Services
from tests.reliability import record
from tests.trust_support import hold_model, percentile, rss_mb, slack_queue_notices, slack_world, with_handbook

pytestmark = pytest.mark.slow

CONCURRENCY = 12
WAVES = 3
ACK_LIMIT_S = 3.0
QUESTIONS = (
    "How do I deploy?",
    "How long does a deploy take?",
    "Which branch do deploys go out from?",
    "How do I roll back a deploy?",
)


async def test_concurrent_questions_are_acked_fast_and_answered_once(make_services: Callable[..., Services]) -> None:
    services = with_handbook(
        make_services(config_text='[answers]\nquote_selector = "model"\n[access]\nquestions_per_minute = 0\n')
    )
    acks: list[float] = []
    memory: list[float] = []
    started = time.perf_counter()
    async with slack_world(services) as world:
        for wave in range(WAVES):
            # In the first wave a digest step holds the model, so askers queue however fast answers are.
            held = hold_model(services) if wave == 0 else None
            replies = await asyncio.gather(
                *(
                    world.ask(QUESTIONS[i % len(QUESTIONS)], user=f"U0LOAD{i:02d}", channel=f"C0LOAD{i % 3}")
                    for i in range(CONCURRENCY)
                )
            )
            assert all(r.status == 200 for r in replies)
            acks += [r.seconds for r in replies]
            events = world.asked[-CONCURRENCY:]
            if held is not None:
                released, busy = held
                for _ in range(1200):
                    if len(slack_queue_notices(world)) >= CONCURRENCY // 2:
                        break
                    await asyncio.sleep(0.05)
                released.set()
                await busy
            await world.wait_all_finished(events, timeout=180)
            memory.append(rss_mb())
            for event in events:
                posts = world.replies_to(event)
                assert len(posts) == 1, f"{len(posts)} replies to one question"  # one message, edited in place
                final = posts[0]
                assert any(b.get("type") == "actions" for b in final.get("blocks") or ()), final  # the answer, with 👍/👎
                assert "deploy" in json.dumps(final["blocks"]).lower()
            if wave == 0:
                queued = slack_queue_notices(world)
                assert len(queued) >= CONCURRENCY // 2, "waiting askers are told their place in the queue"
                positions = sorted({int(t.split("position ", 1)[1].split(":", 1)[0]) for t in queued})
        posted = len(world.slack.calls_to("chat.postMessage"))
    seconds = time.perf_counter() - started
    questions = CONCURRENCY * WAVES
    assert posted == questions  # exactly one message per question, across all waves
    assert max(acks) < ACK_LIMIT_S
    growth = memory[-1] - memory[1]
    assert growth < 60, f"memory grew {growth:.0f} MiB between waves 2 and {WAVES}"
    record(
        "Load",
        platform="Slack (HTTP, slack-bolt)",
        questions=questions,
        concurrency=CONCURRENCY,
        model_workers=1,
        p50_ack_s=round(percentile(acks, 0.5), 3),
        p99_ack_s=round(percentile(acks, 0.99), 3),
        max_ack_s=round(max(acks), 3),
        answered_exactly_once=f"{questions}/{questions}",
        queue_positions_seen=f"1..{max(positions)}",
        rss_growth_mib=round(growth, 1),
        seconds=round(seconds, 1),
    )
