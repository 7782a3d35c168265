"""Ingest on real files, real LanceDB and the real embedder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase


@pytest.fixture
def kb(tmp_path: Path, embedder) -> LanceKnowledgeBase:  # type: ignore[no-untyped-def]
    return LanceKnowledgeBase(uri=str(tmp_path / "kb"), embedder=embedder)


def test_bad_files_are_reported_and_skipped_while_the_rest_ingests(tmp_path: Path, kb, embedder, handbook_dir) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Parking\nVisitors park in bay 4.", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")
    (folder / "export.zip").write_bytes(b"PK\x03\x04 truncated")
    report = ingest([folder, tmp_path / "does-not-exist"], knowledge_base=kb, embedder=embedder)
    assert report.files == 1 and report.added >= 1
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {"broken.pdf", "binary.txt", "picture.png", "export.zip", "does-not-exist"}
    assert all(reason.strip() for reason in skipped.values())
    assert kb.search("where do visitors park?", scopes={"public"}, k=1)[0].chunk.text.endswith("bay 4.")


def test_reingest_is_a_no_op_and_a_changed_file_replaces_exactly_its_chunks(tmp_path: Path, kb, embedder, handbook_dir) -> None:  # type: ignore[no-untyped-def]
    first = ingest([handbook_dir], knowledge_base=kb, embedder=embedder)
    assert first.files == 3 and first.added > 0 and first.removed == 0
    version = kb._open().version
    second = ingest([handbook_dir], knowledge_base=kb, embedder=embedder)
    assert (second.added, second.removed, second.unchanged) == (0, 0, first.added)
    assert kb._open().version == version

    copy = tmp_path / "copy"
    copy.mkdir()
    for f in handbook_dir.iterdir():
        (copy / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    other = LanceKnowledgeBase(uri=str(tmp_path / "kb2"), embedder=embedder)
    ingest([copy], knowledge_base=other, embedder=embedder)
    edited = (copy / "expenses.md").read_text(encoding="utf-8").replace("after 10 pm", "after 11 pm")
    (copy / "expenses.md").write_text(edited, encoding="utf-8")
    change = ingest([copy], knowledge_base=other, embedder=embedder)
    assert change.added == change.removed >= 1
    assert all(c.source.endswith("expenses.md") for c in change.changes if c.added or c.removed)
    texts = " ".join(h.chunk.text for h in other.search("taxi reimbursed", scopes={"public"}, k=3))
    assert "11 pm" in texts and "10 pm" not in texts


def test_chat_exports_ingest_with_their_channel_scopes(shared_data: Path, kb, embedder) -> None:  # type: ignore[no-untyped-def]
    report = ingest(
        [shared_data / "slack" / "export-2020-12-07-to-2021-03-14.zip", shared_data / "discord" / "komodo-support-2019-Dec-06.csv"],
        knowledge_base=kb,
        embedder=embedder,
    )
    assert report.files == 2 and not report.skipped
    scopes = {scope for source in kb.sources() for scope in source.scopes}
    assert "public" not in scopes
    assert any(s.startswith("slack:T06V8J4SU:") for s in scopes)
    assert "discord:komodo-support:komodo-support" in scopes
    # A question asked elsewhere sees none of it.
    assert kb.search("wallet", scopes={"public", "slack:T0:COTHER"}, k=5) == []


OVERFLOWING_DATE = "0001-01-01T00:00:00+14:00"  # a valid date whose UTC time is before year 1
"""DiscordChatExporter writes local times with their offset; this one overflows on conversion to UTC."""


def discord_json_export(*timestamps_and_texts: tuple[str, str]) -> str:
    messages = [
        {"id": str(100 + i), "type": "Default", "timestamp": when, "content": text, "author": {"id": "7", "name": "ana"}}
        for i, (when, text) in enumerate(timestamps_and_texts)
    ]
    return json.dumps({"guild": {"id": "1", "name": "Acme"}, "channel": {"id": "2", "name": "help"}, "messages": messages})


def test_a_symlink_loop_and_an_overflowing_date_cost_only_themselves(tmp_path: Path, kb, embedder) -> None:  # type: ignore[no-untyped-def]
    """Before: the loop's RuntimeError (Path.resolve) or the date's OverflowError ended the ingest
    with a traceback, and every file after it was lost."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a-parking.md").write_text("# Parking\nVisitors park in bay 4.", encoding="utf-8")
    (folder / "b-help.csv").write_text(
        f"AuthorID,Author,Date,Content\n7,ana,{OVERFLOWING_DATE},From before time.\n"
        "7,ana,2024-03-01T09:00:00+01:00,The printer on floor 2 takes A3 paper.\n",
        encoding="utf-8",
    )
    (folder / "c-help.json").write_text(
        discord_json_export((OVERFLOWING_DATE, "From before time."), ("2024-03-01T10:00:00+00:00", "The lift is serviced on Mondays.")),
        encoding="utf-8",
    )
    (folder / "d-loop.md").symlink_to("d-loop.md")
    (folder / "e-lunch.md").write_text("# Lunch\nThe canteen serves lunch from noon.", encoding="utf-8")

    report = ingest([folder, folder / "d-loop.md"], knowledge_base=kb, embedder=embedder)

    assert {Path(c.source).name for c in report.changes} == {"a-parking.md", "b-help.csv", "c-help.json", "e-lunch.md"}
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("d-loop.md", "The path is a symbolic link to nothing: its target is missing, or it loops back on itself."),
        ("d-loop.md", "d-loop.md is a symbolic link that loops back on itself."),
    ]  # named on the command line, then met in the folder
    assert [(Path(s.path).name, s.reason) for s in report.left_out] == [
        ("b-help.csv", f"Row 2 was left out: its date could not be read: {OVERFLOWING_DATE!r}.")
    ]
    texts = " ".join(h.chunk.text for h in kb.search("printer paper lift serviced", scopes={"discord:b-help:b-help", "discord:1:2"}, k=5))
    assert "A3 paper" in texts and "serviced on Mondays" in texts and "before time" not in texts


def test_a_file_whose_name_is_not_utf8_is_ingested_under_a_readable_name(tmp_path: Path, kb, embedder) -> None:  # type: ignore[no-untyped-def]
    """Latin-1 names from an old disk or a zip: Python reads the bytes as lone surrogates, which
    could not be hashed or stored, so the file was reported as an error and lost."""
    folder = tmp_path / "old"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.md")
    (folder / name).write_text("# Opening hours\nThe cafe opens at nine.", encoding="utf-8")
    report = ingest([folder], knowledge_base=kb, embedder=embedder)
    assert report.files == 1 and not report.skipped
    (source,) = [s.source for s in kb.sources()]
    assert source == str(folder.resolve() / "caf\\xe9.md")
    again = ingest([folder], knowledge_base=kb, embedder=embedder)
    assert (again.added, again.unchanged) == (0, report.added), "the same name every time, so a re-ingest changes nothing"


def test_the_plain_report_prints_markup_in_file_names_as_they_are_named(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The issue's reproduction: ``mkdir -p 'n/['; echo x > 'n/[/] a.xyz'; tidings ingest n``
    crashed on rich's markup parser (no embedding is needed for it, so no model loads)."""
    from bots.cli import main

    (tmp_path / "n" / "[").mkdir(parents=True)
    (tmp_path / "n" / "[" / "] a.xyz").write_text("x\n", encoding="utf-8")
    (tmp_path / "n" / ":smile: [bold]b.xyz").write_text("x\n", encoding="utf-8")
    (tmp_path / "n" / "\x1b[2Jwipe.xyz").write_text("x\n", encoding="utf-8")
    config = tmp_path / "tidings.toml"
    config.write_text("[knowledge_base]\nbuild_default = false\n", encoding="utf-8")
    monkeypatch.setenv("TIDINGS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIDINGS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)

    assert main(["ingest", "n"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Ingested 0 file(s): 0 chunk(s) added, 0 unchanged, 0 removed."
    skipped = sorted(line.split(": Files of type")[0] for line in lines[1:])
    assert skipped == ["Skipped n/:smile: [bold]b.xyz", "Skipped n/[/] a.xyz", "Skipped n/\\x1b[2Jwipe.xyz"]


def test_encoded_data_left_out_by_chunking_is_said_in_the_report(tmp_path: Path, kb) -> None:  # type: ignore[no-untyped-def]
    """A Markdown file with an inline image: the text is indexed, the image's base64 is not,
    and the report says so for that file (before, only the log did)."""
    image = "iVBORw0KGgo" + "AAAAB3NzaC1yc2E" * 2_000
    page = tmp_path / "uptime.md"
    page.write_text(f"# Uptime\n\nThe chart shows uptime.\n\n![chart](data:image/png;base64,{image})\n\nThe end.\n", encoding="utf-8")
    report = ingest([page], knowledge_base=kb, embedder=kb.embedder)
    assert report.files == 1 and not report.skipped
    reasons = [(Path(part.path).name, part.reason) for part in report.left_out]
    assert len(reasons) == 1 and reasons[0][0] == "uptime.md" and "data URI" in reasons[0][1], reasons
    assert str(report.as_dict()["left_out"]).count("uptime.md") == 1
    texts = " ".join(h.chunk.text for h in kb.search("chart uptime", scopes={"public"}, k=3))
    assert "The chart shows uptime." in texts and "AAAAB3NzaC1yc2E" not in texts
