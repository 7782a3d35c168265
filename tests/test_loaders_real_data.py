"""Loaders on the real exports and FAQ in ../shared/data (the conftest ``shared_data`` fixture skips
where that folder is absent)."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from core.digests.conversations import NOISE_KINDS
from core.knowledge.loaders import discover, load_file, read_messages

pytestmark = pytest.mark.shared_data

SLACK_EXPORT = "slack/export-2020-12-07-to-2021-03-14.zip"


def test_slack_export_zip_loads_six_channels_with_team_scopes(shared_data: Path) -> None:
    path = shared_data / SLACK_EXPORT
    with zipfile.ZipFile(path) as archive:
        channels = {c["id"]: c["name"] for c in json.loads(archive.read("channels.json"))}
        team = json.loads(archive.read("users.json"))[0]["team_id"]
    assert len(channels) == 6

    messages = read_messages(path)
    seen = {(m.channel.channel, m.channel.name, m.channel.scope) for m in messages}
    assert seen == {(cid, name, f"slack:{team}:{cid}") for cid, name in channels.items()}
    assert Counter(m.kind for m in messages)["join"] == 6
    assert all(m.author.name != m.author.id for m in messages), "every author resolved from users.json"

    loaded = load_file(path)
    assert loaded.documents and all(d.kind == "conversation" for d in loaded.documents)
    assert {d.scope for d in loaded.documents} <= {f"slack:{team}:{cid}" for cid in channels}
    assert len({d.key for d in loaded.documents}) == len(loaded.documents)
    threads = {m.thread_id for m in messages if m.thread_id}
    assert threads and any(d.key in threads for d in loaded.documents)


def test_all_discord_csv_days_load(shared_data: Path) -> None:
    files = sorted((shared_data / "discord").glob("komodo-support-*.csv"))
    assert len(files) == 36
    # Count rows independently of the loader: every record starts with an author id.
    expected = sum(len(re.findall(r'(?m)^"?\d{15,20}"?[;,]"', f.read_text(encoding="utf-8-sig"))) for f in files)
    messages = [m for f in files for m in read_messages(f)]
    assert len(messages) == expected == 622  # the data README says 806; the files hold 622 records
    assert {m.channel.scope for m in messages} == {"discord:komodo-support:komodo-support"}
    assert len({m.id for m in messages}) == len(messages)
    documents = [d for f in files for d in load_file(f).documents]
    assert documents and all(d.scope == "discord:komodo-support:komodo-support" for d in documents)


def test_clojurians_events_mark_noise_and_threads(shared_data: Path) -> None:
    path = shared_data / "slack" / "clojurians-events-2018-02-01.jsonl"
    messages = read_messages(path)
    kinds = Counter(m.kind for m in messages)
    assert kinds["join"] > 0 and kinds["bot"] > 0 and kinds["message"] > 500
    assert all(m.kind in NOISE_KINDS | {"message", "system"} for m in messages)

    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    replies = {(r["channel"], r["ts"]) for r in raw if r.get("thread_ts") and r["thread_ts"] != r["ts"]}
    by_key = {(m.channel.channel, m.id): m for m in messages}
    assert replies and all(by_key[key].thread_id and by_key[key].reply_to for key in replies)
    # Names come from the sibling clojurians-channels.json / clojurians-users.json maps.
    named = [m for m in messages if m.kind == "message"]
    assert sum(bool(m.channel.name) for m in named) / len(named) > 0.95
    assert all(m.channel.scope.startswith("slack:T03RZGPFR:") for m in messages)


def test_covid_faq_yields_one_document_per_answered_row(shared_data: Path) -> None:
    path = shared_data / "qa" / "covid-faq.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    answered = [r for r in rows if r["question"].strip() and r["answer"].strip()]
    docs = load_file(path).documents
    assert len(docs) == len(answered) == 213
    assert all(d.kind == "faq" and d.question == d.title and d.text for d in docs)
    assert docs[0].url == "https://www.cdc.gov/coronavirus/2019-ncov/faq.html"
    assert len({d.key for d in docs}) == 213


def test_discover_the_whole_data_folder(shared_data: Path) -> None:
    found, skipped = discover([shared_data])
    assert shared_data / SLACK_EXPORT in found
    assert {Path(s.path).suffix for s in skipped} == {".jsonl"}
