"""Loaders on small files built in tmp dirs: every format, discovery, scopes, and hostile input."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures_loaders import (
    DISCORD_CSV_COMMA,
    DISCORD_CSV_SEMICOLON,
    FAQ_CSV,
    GENERAL,
    HTML,
    MARKDOWN,
    PRIVATE,
    RST,
    TEAM,
    csv_text,
    discord_json,
    encrypted_pdf,
    jsonl,
    minimal_pdf,
    slack_day,
    slack_events_lines,
    slack_export_files,
    write_folder,
    zip_bytes,
)

from core.digests.conversations import group_conversations
from core.digests.open_questions import open_questions
from core.errors import LoaderError
from core.knowledge.loaders import SUPPORTED, Limits, LoadedFile, SkippedFile, discover, load_file, read_messages
from core.knowledge.loaders.pdf import without_running_lines
from core.knowledge.loaders.reading import fingerprint


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --- documents ---------------------------------------------------------------------------


def test_markdown_keeps_headings_and_takes_title_from_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "guide.md", MARKDOWN)
    loaded = load_file(path)
    assert loaded.source == str(path.resolve())
    assert loaded.fingerprint == fingerprint(MARKDOWN.encode())
    (doc,) = loaded.documents
    assert doc.title == "Setting up Tidings"
    assert doc.text.startswith("# Installing")
    assert "## Connecting Slack" in doc.text
    assert "title:" not in doc.text
    assert (doc.scope, doc.key, doc.kind, doc.question) == ("public", "", "document", None)


def test_markdown_title_is_first_heading_outside_code_else_file_name(tmp_path: Path) -> None:
    fenced = "Intro line\n```\n# not a heading\n```\nSetext title\n============\n\n# Later\n"
    assert load_file(write(tmp_path, "a.md", fenced)).documents[0].title == "Setext title"
    assert load_file(write(tmp_path, "b.markdown", "## Deep first\ntext")).documents[0].title == "Deep first"
    assert load_file(write(tmp_path, "release-notes.md", "no heading at all")).documents[0].title == "release-notes"


DOCS_SITE_PAGE = """---
title: Deploying
---

import Tabs from '@theme/Tabs';

[![Build](https://ci.example.com/badge.svg)](https://ci.example.com) ![Coverage](cov.svg)

:::tip Deploy day
Deploy on Tuesdays: the on-call team is fully staffed then.
:::

!!! warning "Never on Fridays"
    A Friday deploy waits until Monday.

    Ask in #ops for an exception.

To deploy, run `make deploy` from `main`.

{% include footer.html %}

![Deploy diagram](img/deploy.png)

```js
import x from 'y';
:::
```
"""


def test_a_docs_sites_markup_is_not_knowledge_but_its_words_are(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path, "deploy.mdx", DOCS_SITE_PAGE)).documents  # Docusaurus' MDX is Markdown
    assert doc.title == "Deploying"
    assert doc.text == (
        "Deploy day\nDeploy on Tuesdays: the on-call team is fully staffed then.\n\n"
        "Never on Fridays\nA Friday deploy waits until Monday.\n\nAsk in #ops for an exception.\n\n"
        "To deploy, run `make deploy` from `main`.\n\n\n\n"
        "```js\nimport x from 'y';\n:::\n```"  # code stays code
    )


def test_markdown_comment_blocks_are_not_knowledge(tmp_path: Path) -> None:
    page = (
        "<!-- draft: check the prices with Ana -->\n"
        "# Pricing\n"
        "Plans start at 10 euros.\n"
        "  <!-- a note for writers\n"
        "that spans lines -->\n"
        "Teams pay per seat.\n"
        "```html\n"
        "<!-- kept: it is code -->\n"
        "```\n"
        "<!-- unclosed to the end\n"
        "Hidden too.\n"
    )
    (doc,) = load_file(write(tmp_path, "pricing.md", page)).documents
    assert doc.title == "Pricing"
    assert doc.text == "# Pricing\nPlans start at 10 euros.\nTeams pay per seat.\n```html\n<!-- kept: it is code -->\n```"


# A Sphinx page written for this test: titles over and under lines, a contents directive, a
# call-out box, a code block with an option, a literal block, roles, links and a comment.
SPHINX_PAGE = """.. _install:

=====
Setup
=====

.. contents:: On this page
   :depth: 2

Requirements
------------

You need Python 3.10 or newer (see :ref:`the matrix <matrix>` and :func:`acme.check`).

.. note::

   Windows is supported through `WSL <https://learn.microsoft.com/wsl>`_ only.

.. admonition:: Proxy users

   Set ``HTTPS_PROXY`` first.

Install it with pip:

.. code-block:: bash
   :linenos:

   pip install acme-tool

Or from source::

    git clone https://example.com/acme.git

* On a server:

  .. code-block:: text

     systemctl enable acme

.. image:: _static/logo.png
   :alt: ACME logo

.. a comment a reader never sees

Upgrading
---------

Run ``acme upgrade``.
"""


def test_restructured_text_reads_as_its_sections_code_and_words(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path, "setup.rst", SPHINX_PAGE)).documents
    assert doc.title == "Setup"
    assert doc.text == (
        "# Setup\n\n## Requirements\n\n"
        "You need Python 3.10 or newer (see the matrix and `acme.check`).\n\n"
        "Windows is supported through WSL only.\n\n"
        "Proxy users\nSet `HTTPS_PROXY` first.\n\n"
        "Install it with pip:\n\n```bash\npip install acme-tool\n```\n\n"
        "Or from source:\n\n```\ngit clone https://example.com/acme.git\n```\n\n"
        "* On a server:\n\n```text\nsystemctl enable acme\n```\n\n"
        "## Upgrading\n\nRun `acme upgrade`."
    )


def test_text_and_rst_titles(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "ops.rst", RST)).documents[0].title == "Operations guide"
    doc = load_file(write(tmp_path, "coffee.txt", "  The machine is on floor 2.\n")).documents[0]
    assert (doc.title, doc.text) == ("coffee", "The machine is on floor 2.")


def test_html_drops_chrome_and_marks_headings(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path, "page.html", HTML)).documents
    assert doc.title == "Support hours"
    assert "# Support" in doc.text and "## Weekends" in doc.text
    assert "We answer every ticket within one day." in doc.text
    assert "- Saturday: 10-14\n- Sunday: closed" in doc.text
    for chrome in ("alert", "color: red", "Home", "About"):
        assert chrome not in doc.text


def test_html_lists_keep_their_markers_and_numbers(tmp_path: Path) -> None:
    # Without them a list was a paragraph a line, and an answer quoted its items as unrelated lines.
    page = (
        "<h2>Kitchen</h2><p>In the kitchen:</p><ul>\n  <li>\n    Coffee and tea are free.\n  </li>\n"
        "  <li><p>Label your food.</p></li><li></li></ul><p>After the list.</p>"
        '<ol start="3"><li>Third step</li><li>Fourth <b>bold</b> step</li></ol>'
    )
    (doc,) = load_file(write(tmp_path, "kitchen.html", page)).documents
    assert doc.text == (
        "## Kitchen\n\nIn the kitchen:\n\n- Coffee and tea are free.\n- Label your food.\n\nAfter the list.\n\n"
        "3. Third step\n4. Fourth bold step"
    )


# The shape of a Confluence space export's page (written for this test): breadcrumbs, the page's
# table of contents, its content, and the generated footer.
CONFLUENCE_PAGE = """<html><head><title>Ops : Backups</title></head><body>
<div id="page"><div id="main"><div id="main-header">
<div id="breadcrumb-section"><ol id="breadcrumbs"><li><a href="index.html">Ops</a></li><li><a href="Home.html">Home</a></li></ol></div>
<h1 id="title-heading">Ops : Backups</h1></div>
<div id="content"><div id="main-content" class="wiki-content group">
<div class="toc-macro rbtoc1"><ul><li><a href="#Schedule">Schedule</a></li><li><a href="#Restore">Restore</a></li></ul></div>
<h1 id="Schedule">Schedule</h1><p>The database is backed up every night at 02:00 to the vault bucket.</p>
<h1 id="Restore">Restore</h1><p>Restoring takes about twenty minutes from the latest snapshot.</p>
</div></div></div>
<div id="footer" role="contentinfo"><section class="footer-body"><p>Document generated by Confluence on Jun 24, 2024 05:24</p>
<div id="footer-logo"><a href="http://www.atlassian.com/">Atlassian</a></div></section></div>
</div></body></html>"""


def test_html_drops_a_sites_footer_breadcrumbs_and_generated_contents_but_not_an_articles_footer(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path, "Backups.html", CONFLUENCE_PAGE)).documents
    assert "# Schedule\n\nThe database is backed up every night at 02:00 to the vault bucket." in doc.text
    assert "Restoring takes about twenty minutes" in doc.text
    for chrome in ("Document generated by Confluence", "Atlassian", "Home", "Schedule\nRestore"):
        assert chrome not in doc.text, chrome
    site = (
        "<body><header><h1>Expenses</h1></header><p>Submit receipts in Pleo within 30 days.</p>"
        "<article><p>Meals are covered up to 40 EUR a day.</p><footer>Policy owner: Finance, reviewed in March.</footer></article>"
        "<footer>© 2024 ACME Corp. All rights reserved.</footer>"
        '<div role="search"><input> Search this site</div></body>'
    )
    (page,) = load_file(write(tmp_path, "expenses.html", site)).documents
    assert "# Expenses" in page.text and "Submit receipts in Pleo" in page.text
    assert "Policy owner: Finance, reviewed in March." in page.text  # the article's own footer
    assert "ACME" not in page.text and "Search this site" not in page.text


def test_html_title_falls_back_to_h1_then_file_name_and_honours_declared_charset(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "x.htm", "<h1>Only heading</h1><p>x</p>")).documents[0].title == "Only heading"
    assert load_file(write(tmp_path, "bare.html", "<p>just text</p>")).documents[0].title == "bare"
    latin = '<html><head><meta charset="iso-8859-1"></head><body><p>Caf\xe9 cr\xe8me</p></body></html>'
    assert "Café crème" in load_file(write(tmp_path, "latin.html", latin.encode("latin-1"))).documents[0].text


def test_pdf_one_document_per_page_with_text(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path, "manual.pdf", minimal_pdf(["First page", "Second (page)"], title="Manual")))
    assert [(d.key, d.title, d.text) for d in loaded.documents] == [
        ("page-1", "Manual, page 1", "First page"),
        ("page-2", "Manual, page 2", "Second (page)"),
    ]
    single = load_file(write(tmp_path, "memo.pdf", minimal_pdf(["Only page"]))).documents
    assert [(d.key, d.title) for d in single] == [("page-1", "memo")]


def test_a_pdfs_running_header_footer_and_page_numbers_are_not_its_text(tmp_path: Path) -> None:
    body = [
        "Vacation\nFull-time staff get 25 days of paid vacation a year.",
        "Expenses\nSubmit receipts within 30 days.\nACME Employee Handbook - Internal",  # inside: kept
        "Equipment\nLaptops are replaced every three years.",
        "Leaving\nReturn your laptop on your last day.",
    ]
    pages = [f"ACME Employee Handbook - Internal\n{text}\nPage {n} of 4" for n, text in enumerate(body, start=1)]
    pages[1] += "\nACME Employee Handbook - Internal"  # a footer repeated at the bottom, as some layouts do
    loaded = load_file(write(tmp_path, "handbook.pdf", minimal_pdf(pages))).documents
    texts = [d.text for d in loaded]
    assert texts[0] == "Vacation\nFull-time staff get 25 days of paid vacation a year."
    assert texts[2] == "Equipment\nLaptops are replaced every three years."
    assert "Submit receipts within 30 days." in texts[1]
    assert not any("Page " in t for t in texts)
    assert sum(t.count("ACME Employee Handbook") for t in texts) <= 1  # only where it is not an edge
    memo = load_file(write(tmp_path, "memo.pdf", minimal_pdf(["- 1 -\nThe office closes at 18:00 on Fridays.\n1"]))).documents
    assert memo[0].text == "The office closes at 18:00 on Fridays."
    title_only = load_file(write(tmp_path, "two.pdf", minimal_pdf(["Handbook\nRule one.", "Handbook\nRule two."]))).documents
    assert [d.text for d in title_only] == ["Handbook\nRule one.", "Handbook\nRule two."]  # two pages: too few to call it running


def test_a_pdf_pages_pathological_edge_lines_are_trimmed_in_linear_time() -> None:
    spaces = "page" + "\u2003" * 200_000 + "x"  # extracted text keeps such spaces: no page number
    started = time.perf_counter()
    pages = without_running_lines([(n, f"{spaces}\nRule {n}.\n{spaces}") for n in range(1, 5)])
    assert time.perf_counter() - started < 3.0
    assert [text for _, text in pages] == [f"Rule {n}." for n in range(1, 5)]  # a running line all the same
    slides = [(n, f"Q{n} results\nRevenue grew in Q{n}.\nACME | page {n} of 4") for n in range(1, 5)]
    assert [text for _, text in without_running_lines(slides)] == [f"Q{n} results\nRevenue grew in Q{n}." for n in range(1, 5)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (encrypted_pdf("secret text"), "password-protected"),
        (minimal_pdf(["x"])[:200], "not a readable PDF"),
        (b"%PDF-1.4\n" + os.urandom(300), "not a readable PDF"),
        (minimal_pdf([""]), "no extractable text"),
    ],
    ids=["encrypted", "truncated", "garbage", "no-text"],
)
def test_broken_pdfs_are_loader_errors(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(LoaderError, match=message):
        load_file(write(tmp_path, "broken.pdf", data))


def test_faq_csv_one_document_per_answered_row(tmp_path: Path) -> None:
    docs = load_file(write(tmp_path, "faq.csv", FAQ_CSV)).documents
    assert [(d.key, d.question, d.title, d.url, d.kind) for d in docs] == [
        ("row-1", "How do I reset my password?", "How do I reset my password?", "https://example.com/reset", "faq"),
        ("row-4", "Can I pay by invoice?", "Can I pay by invoice?", None, "faq"),
    ]
    assert docs[1].text == "Yes, for annual plans.\nAsk sales for a quote."
    assert all(d.scope == "public" for d in docs)


def test_faq_header_names_match_case_insensitively_and_any_delimiter(tmp_path: Path) -> None:
    text = csv_text([["Q", "A", "URL"], ["Opening hours?", "9 to 5", "https://x.example/h"]], delimiter=";")
    (doc,) = load_file(write(tmp_path, "short.csv", "\ufeff" + text)).documents
    assert (doc.question, doc.text, doc.url) == ("Opening hours?", "9 to 5", "https://x.example/h")


def test_csv_that_is_neither_faq_nor_discord_names_its_columns(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match=r"neither an FAQ.*columns are: name, price"):
        load_file(write(tmp_path, "prices.csv", "name,price\ntea,2\n"))


def test_explicit_scope_overrides_public(tmp_path: Path) -> None:
    path = write(tmp_path, "faq.csv", FAQ_CSV)
    assert {d.scope for d in load_file(path, scope="support-docs").documents} == {"support-docs"}


def test_empty_files_load_with_no_documents(tmp_path: Path) -> None:
    for name in ("empty.md", "empty.csv", "empty.json", "blank.txt", "empty.zip"):
        path = write(tmp_path, name, "  \n" if name == "blank.txt" else "")
        assert load_file(path).documents == ()
    assert read_messages(write(tmp_path, "day.csv", "")) == []


# --- chat exports ------------------------------------------------------------------------


def test_slack_export_zip_becomes_scoped_conversations(tmp_path: Path) -> None:
    path = write(tmp_path, "export.zip", zip_bytes(slack_export_files()))
    loaded = load_file(path)
    assert [(d.scope, d.kind, d.title) for d in loaded.documents] == [
        (f"slack:{TEAM}:{GENERAL}", "conversation", "#general, 2020-12-07 11:20"),
        (f"slack:{TEAM}:{PRIVATE}", "conversation", "#secret-plans, 2020-12-08 04:00"),
    ]
    thread = loaded.documents[0]
    assert thread.key == "1607340000.000100"
    assert thread.url is None  # the export does not say the workspace's domain
    # Display names from users.json, mentions and links readable, entities decoded, noise left out.
    assert thread.text.splitlines() == [
        "[2020-12-07 11:20] Alice: How do we deploy? See #general and the docs (https://docs.example)",
        "[2020-12-07 11:21] Bob B: @Alice with `make deploy` & patience",
    ]
    assert loaded.fingerprint == fingerprint(path.read_bytes())


def test_slack_export_messages_mark_noise_threads_and_bots(tmp_path: Path) -> None:
    messages = read_messages(write(tmp_path, "export.zip", zip_bytes(slack_export_files())))
    assert [(m.kind, m.author.name, m.thread_id, m.reply_to) for m in messages] == [
        ("join", "Bob B", None, None),
        ("message", "Alice", "1607340000.000100", None),
        ("message", "Bob B", "1607340000.000100", "1607340000.000100"),
        ("bot", "deploybot", None, None),
        ("message", "Alice", None, None),
    ]
    assert messages[3].author.is_bot
    assert messages[1].timestamp == datetime(2020, 12, 7, 11, 20, 0, 100, tzinfo=UTC)
    assert {m.channel.name for m in messages} == {"general", "secret-plans"}


def test_slack_export_folder_matches_zip_and_fingerprint_follows_content(tmp_path: Path) -> None:
    files = slack_export_files()
    folder = write_folder(tmp_path / "workspace-export", files)
    zipped = write(tmp_path, "workspace-export.zip", zip_bytes(files))
    from_folder, from_zip = load_file(folder), load_file(zipped)
    assert [(d.title, d.text, d.scope, d.key) for d in from_folder.documents] == [
        (d.title, d.text, d.scope, d.key) for d in from_zip.documents
    ]
    assert from_folder.source == str(folder.resolve())
    before = from_folder.fingerprint
    assert load_file(folder).fingerprint == before
    (folder / "general" / "2020-12-07.json").write_bytes(slack_day())
    assert load_file(folder).fingerprint != before


def test_slack_export_without_team_uses_export_name_and_files_may_sit_in_a_top_folder(tmp_path: Path) -> None:
    files = {f"Acme Slack export/{name}": data for name, data in slack_export_files(team=None).items()}
    loaded = load_file(write(tmp_path, "Acme Slack export.zip", zip_bytes(files)))
    assert {d.scope for d in loaded.documents} == {
        f"slack:Acme-Slack-export:{GENERAL}",
        f"slack:Acme-Slack-export:{PRIVATE}",
    }


def test_slack_permalinks_when_a_shared_file_reveals_the_domain(tmp_path: Path) -> None:
    messages = read_messages(write(tmp_path, "e.zip", zip_bytes(slack_export_files(domain_file=True))))
    reply = next(m for m in messages if m.reply_to)
    assert reply.permalink == (
        f"https://acme.slack.com/archives/{GENERAL}/p1607340060000200?thread_ts=1607340000.000100&cid={GENERAL}"
    )
    upload = messages[-2]
    assert upload.text == "[file: runbook.pdf]"


def test_zip_that_is_not_a_slack_export(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="not a Slack workspace export"):
        load_file(write(tmp_path, "photos.zip", zip_bytes({"a.txt": b"hello"})))


def test_long_thread_splits_into_documents_with_unique_keys(tmp_path: Path) -> None:
    root = "1607340000.000100"
    replies = [
        {"type": "message", "user": "U1", "text": f"step {n}", "ts": f"16073400{n:02d}.000100", "thread_ts": root}
        for n in range(1, 6)
    ]
    files = slack_export_files()
    files["general/2020-12-07.json"] = slack_day(
        {"type": "message", "user": "U1", "text": "root", "ts": root, "thread_ts": root}, *replies
    )
    docs = load_file(write(tmp_path, "e.zip", zip_bytes(files)), conversation_window=2).documents
    general = [d for d in docs if d.scope.endswith(GENERAL)]
    assert [len(d.text.splitlines()) for d in general] == [2, 2, 2]
    assert len({d.key for d in docs}) == len(docs)


def test_chat_documents_take_explicit_scope(tmp_path: Path) -> None:
    docs = load_file(write(tmp_path, "e.zip", zip_bytes(slack_export_files())), scope="archive").documents
    assert {d.scope for d in docs} == {"archive"}


@pytest.mark.parametrize("content", [DISCORD_CSV_SEMICOLON, DISCORD_CSV_COMMA], ids=["semicolon", "comma"])
def test_discord_csv_either_delimiter(tmp_path: Path, content: str) -> None:
    messages = read_messages(write(tmp_path, "komodo-support-2019-Dec-06.csv", content))
    assert messages[0].author.name == "alice" and messages[0].author.id == "111"
    assert messages[0].channel.scope == "discord:komodo-support:komodo-support"
    assert all(m.timestamp.tzinfo is UTC for m in messages)


def test_discord_csv_ids_dates_attachments_and_system_lines(tmp_path: Path) -> None:
    messages = read_messages(write(tmp_path, "komodo-support-2019-Dec-06.csv", DISCORD_CSV_SEMICOLON))
    first = messages[0]
    assert first.timestamp == datetime(2019, 12, 6, 4, 10, 0, 1, tzinfo=UTC)  # its minute, plus its row in µs
    assert first.id == f"111-{int(first.timestamp.timestamp())}-1"
    assert messages[1].text == "Delete the blocks folder\nand restart.\n(attachment: https://cdn.example/a.png)"
    assert [m.kind for m in messages] == ["message", "message", "pin", "message"]
    assert read_messages(write(tmp_path, "again.csv", DISCORD_CSV_SEMICOLON))[0].id == first.id


def test_discord_csv_messages_of_one_minute_keep_the_files_order(tmp_path: Path) -> None:
    """The exporter writes minutes; within one, the file's order is the order they were posted.
    The answer's author id sorts before the asker's, so sorting by time and then id put the
    answer first and left the question open in a digest."""
    content = (
        "AuthorID;Author;Date;Content;Attachments;Reactions;\n"
        '"900";"zed";"06-Dec-19 04:10 AM";"Will my wallet.dat and keys all remain after the update?";"";"";\n'
        '"100";"amy";"06-Dec-19 04:10 AM";"yep, both stay where they are";"";"";\n'
    )
    messages = read_messages(write(tmp_path, "komodo-support-2019-Dec-06.csv", content))
    ordered = sorted(messages, key=lambda m: (m.timestamp, m.id))
    assert [m.author.name for m in ordered] == ["zed", "amy"]
    assert [int(m.timestamp.timestamp()) for m in ordered] == [int(ordered[0].timestamp.timestamp())] * 2
    conversation = group_conversations(messages)[0]
    assert open_questions(conversation) == []


def test_discord_csv_conversations_split_by_gap(tmp_path: Path) -> None:
    docs = load_file(write(tmp_path, "komodo-support-2019-Dec-06.csv", DISCORD_CSV_SEMICOLON)).documents
    assert [d.title for d in docs] == ["#komodo-support, 2019-12-06 04:10", "#komodo-support, 2019-12-06 21:00"]
    assert all(d.scope == "discord:komodo-support:komodo-support" and d.url is None for d in docs)


def _support_day(*rows: tuple[str, str, str]) -> str:
    return "AuthorID,Author,Date,Content,Attachments,Reactions\n" + "".join(
        f'"{author}","{author}#0001","09-Dec-19 {when}","{text}","",""\n' for author, when, text in rows
    )


@pytest.mark.parametrize(
    ("reply", "answered"),
    [
        (("cryptoon", "06:58 AM", "Extract wif and import to agama"), True),
        # Past the answer window the next message answers something else.
        (("cryptoon", "09:30 AM", "Extract wif and import to agama"), False),
        # Asking back, or a new question, is no answer.
        (("cryptoon", "06:58 AM", "which coin was it?"), False),
        # The asker going on is no answer either.
        (("deltazulu", "06:58 AM", "anyone?"), False),
    ],
)
def test_a_question_left_at_a_lull_ends_with_the_next_message_that_answers_it(
    tmp_path: Path, reply: tuple[str, str, str], answered: bool
) -> None:
    # A support channel's answer often comes after a lull, in a conversation of its own: the
    # question's document ends with it too, as a chunk overlaps the next.
    asked = ("deltazulu", "06:18 AM", "i sent my OOT to my ledger address, is there a way to retrieve them?")
    docs = load_file(write(tmp_path, "support-2019-Dec-09.csv", _support_day(asked, reply))).documents
    assert len(docs) == 2 and docs[1].text.endswith(reply[2])
    assert docs[0].text.endswith(reply[2]) is answered
    # A message that asks nothing is not left waiting for an answer; a reply quoting the
    # question it answers asks nothing itself.
    told = ("deltazulu", "06:18 AM", "> is there a way?\nmy OOT went to my ledger address")
    docs = load_file(write(tmp_path, "support-2019-Dec-09.csv", _support_day(told, reply))).documents
    assert not docs[0].text.endswith(reply[2])


@pytest.mark.parametrize(
    "asked",
    [
        "Also, is this legit: https://example.org/hw-kmd-reward-claim/",
        "can i ask for help please\ni am stuck on syncing 99.9%\nany advice please",
    ],
)
def test_a_question_without_its_question_mark_is_answered_after_a_lull(tmp_path: Path, asked: str) -> None:
    reply = ("chmex", "07:31 AM", "Yes this one is legit")
    docs = load_file(write(tmp_path, "support-2019-Dec-09.csv", _support_day(("okthen", "06:07 AM", asked), reply))).documents
    assert len(docs) == 2 and docs[0].text.endswith(reply[2])
    # Nor is a reply that asks back, without its mark, taken for the answer.
    back = ("chmex", "07:31 AM", "is the ledger app up to date")
    docs = load_file(write(tmp_path, "support-2019-Dec-09.csv", _support_day(("okthen", "06:07 AM", asked), back))).documents
    assert not docs[0].text.endswith(back[2])


def test_discord_csv_with_exporter_file_name_uses_guild_and_channel_id(tmp_path: Path) -> None:
    messages = read_messages(write(tmp_path, "Komodo - Help - support [700].csv", DISCORD_CSV_COMMA))
    assert (messages[0].channel.scope, messages[0].channel.name) == ("discord:komodo:700", "support")


def test_discord_csv_with_unreadable_date(tmp_path: Path) -> None:
    bad = "AuthorID,Author,Date,Content\n1,a,yesterday-ish,hello\n"
    with pytest.raises(LoaderError, match="row 2 has a date that could not be read"):
        read_messages(write(tmp_path, "c.csv", bad))


def test_discord_json_messages_links_and_noise(tmp_path: Path) -> None:
    messages = read_messages(write(tmp_path, "support.json", discord_json()))
    assert [(m.id, m.kind, m.author.name, m.reply_to) for m in messages] == [
        ("1001", "message", "Carol", None),
        ("1002", "message", "dave", "1001"),
        ("1003", "join", "erin", None),
        ("1004", "bot", "ticketbot", None),
    ]
    assert messages[0].permalink == "https://discord.com/channels/900/700/1001"
    assert messages[0].channel.scope == "discord:900:700"
    (doc,) = load_file(write(tmp_path, "support.json", discord_json())).documents
    assert (doc.key, doc.url, doc.title) == ("1001", messages[0].permalink, "#support, 2020-01-05 10:00")


def test_discord_json_thread_is_scoped_to_its_parent_and_dms_link_to_me(tmp_path: Path) -> None:
    thread = read_messages(write(tmp_path, "thread.json", discord_json(thread=True)))
    assert {(m.channel.scope, m.channel.thread, m.thread_id) for m in thread} == {("discord:900:700", "701", "701")}
    assert thread[0].permalink == "https://discord.com/channels/900/701/1001"
    direct = read_messages(write(tmp_path, "dm.json", discord_json(guild_id="0")))
    assert direct[0].permalink == "https://discord.com/channels/@me/700/1001"


def test_json_that_is_not_a_discord_export(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="not a DiscordChatExporter JSON export"):
        load_file(write(tmp_path, "package.json", '{"name": "x", "version": "1"}'))


def test_slack_events_log_with_sibling_name_maps(tmp_path: Path) -> None:
    write(tmp_path, "acme-channels.json", json.dumps([{"id": "C1", "name": "clojure"}]))
    write(tmp_path, "acme-users.json", json.dumps([{"id": "U1", "name": "ann"}, {"id": "U2", "name": "ben"}]))
    write(tmp_path, "other-users.json", json.dumps([{"id": "U1", "name": "WRONG"}]))
    messages = read_messages(write(tmp_path, "acme-events-2018-02-01.jsonl", jsonl(slack_events_lines())))
    by_id = {m.id: m for m in messages}
    root, reply = by_id["1517436000.000100"], by_id["1517436060.000200"]
    assert (root.author.name, root.channel.name, root.channel.scope) == ("ann", "clojure", f"slack:{TEAM}:C1")
    assert (root.thread_id, reply.thread_id, reply.reply_to) == (root.id, root.id, root.id)
    assert reply.text == "yes, @ann"
    assert by_id["1517436100.000400"].kind == "join"
    bot = by_id["1517436200.000500"]
    assert (bot.kind, bot.author.is_bot, bot.text) == ("bot", True, "New issue\ncore.async leaks")
    assert by_id["1517436300.000600"].text == "typo fixed"  # the edit applied to the original
    assert by_id["1517436310.000700"].kind == "edit"
    assert [m.timestamp for m in messages] == sorted(m.timestamp for m in messages)


def test_slack_events_log_tolerates_a_cut_last_line_but_not_garbage(tmp_path: Path) -> None:
    data = jsonl(slack_events_lines())
    assert len(read_messages(write(tmp_path, "cut.jsonl", data[:-20]))) == len(slack_events_lines()) - 1
    with pytest.raises(LoaderError, match="not a Slack events log"):
        read_messages(write(tmp_path, "mixed.jsonl", data + b"nope\n" * 5))
    with pytest.raises(LoaderError, match="no Slack message events"):
        read_messages(write(tmp_path, "other.jsonl", b'{"type": "reaction_added"}\n'))


def test_read_messages_refuses_documents(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="not a chat export"):
        read_messages(write(tmp_path, "guide.md", MARKDOWN))
    with pytest.raises(LoaderError, match="not a DiscordChatExporter CSV"):
        read_messages(write(tmp_path, "faq.csv", FAQ_CSV))
    with pytest.raises(LoaderError, match="not a Slack export"):
        read_messages(tmp_path)


# --- discovery ---------------------------------------------------------------------------


def test_discover_walks_folders_and_explains_skips(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "guide.md", MARKDOWN)
    write(docs, "sub/page.html", HTML)
    write(docs, "sub/logo.png", b"\x89PNG")
    write(docs, "README", "no suffix")
    write(docs, "events.jsonl", b"{}\n")
    write(docs, ".hidden.md", "secret")
    write(docs, ".git/config", "[core]")
    write(docs, ".venv/lib/site.md", "noise")
    write_folder(docs / "slack-export", slack_export_files())
    found, skipped = discover([docs, docs / "guide.md", tmp_path / "missing.md"])
    assert [p.relative_to(docs).as_posix() for p in found] == ["guide.md", "slack-export", "sub/page.html"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"README", "events.jsonl", "logo.png", "missing.md"}
    assert reasons["logo.png"].startswith("Files of type .png are not supported. Tidings reads ")
    assert "no extension" in reasons["README"]
    assert "read for digests" in reasons["events.jsonl"]
    assert reasons["missing.md"] == "The path does not exist."
    assert all(isinstance(s, SkippedFile) and s.reason.endswith(".") for s in skipped)


def test_a_web_address_is_skipped_with_how_to_ingest_the_page(tmp_path: Path) -> None:
    page = write(tmp_path, "handbook.md", "# Handbook\n\nExpenses are filed monthly.")
    found, skipped = discover(["https://wiki.example.com/handbook", page])
    assert found == [page]
    assert [s.path for s in skipped] == ["https://wiki.example.com/handbook"]
    assert skipped[0].reason.startswith("Tidings reads files and folders, not web addresses: save the page")


def test_discover_export_folder_given_directly_and_hidden_file_named_explicitly(tmp_path: Path) -> None:
    export = write_folder(tmp_path / "export", slack_export_files())
    hidden = write(tmp_path, ".env.md", "x")
    found, skipped = discover([export, str(hidden)])
    assert found == [export]
    assert skipped == [SkippedFile(str(hidden), "Hidden files are not ingested.")]


def test_discover_does_not_follow_symlink_loops(tmp_path: Path) -> None:
    write(tmp_path, "a/doc.md", "# A")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    found, _ = discover([tmp_path])
    assert [p.name for p in found] == ["doc.md"]


def test_supported_lists_every_suffix_discover_accepts(tmp_path: Path) -> None:
    for suffix in SUPPORTED:
        write(tmp_path, f"x{suffix}", "x")
    found, skipped = discover([tmp_path])
    assert sorted(p.suffix for p in found) == sorted(SUPPORTED) and skipped == []


# --- hostile and broken input ------------------------------------------------------------


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "big.md", "x" * 2048)
    with pytest.raises(LoaderError, match=r"larger than the 1\.0 KB limit"):
        load_file(path, limits=Limits(max_file_bytes=1024))
    assert isinstance(load_file(path), LoadedFile)


def test_binary_data_under_a_text_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="binary file"):
        load_file(write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    with pytest.raises(LoaderError, match="binary file"):
        load_file(write(tmp_path, "image.html", b"<p>\x00\x01\x02</p>"))


def test_wrong_encodings_are_decoded(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "w.txt", "Café – 5€".encode("cp1252"))).documents[0].text == "Café – 5€"
    assert load_file(write(tmp_path, "u16.md", "\ufeff# Grüße\n".encode("utf-16"))).documents[0].title == "Grüße"
    assert load_file(write(tmp_path, "l1.txt", b"\x81\x8d caf\xe9")).documents[0].text == "\x81\x8d café"


def test_deeply_nested_json_and_html(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="nested too deeply"):
        load_file(write(tmp_path, "deep.json", "[" * 200_000 + "]" * 200_000))
    nested = load_file(write(tmp_path, "deep.html", "<div>" * 30_000 + "bottom" + "</div>" * 30_000))
    assert nested.documents[0].text == "bottom"


def test_truncated_files(tmp_path: Path) -> None:
    export = zip_bytes(slack_export_files())
    with pytest.raises(LoaderError, match="not a readable zip"):
        load_file(write(tmp_path, "cut.zip", export[: len(export) // 2]))
    with pytest.raises(LoaderError, match="not valid JSON"):
        load_file(write(tmp_path, "cut.json", discord_json()[:100]))


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    files = slack_export_files()
    files["general/2020-12-09.json"] = b"[" + b" " * (8 * 1024 * 1024) + b"]"
    with pytest.raises(LoaderError, match="zip bomb"):
        load_file(write(tmp_path, "bomb.zip", zip_bytes(files)))


def test_zip_total_size_and_member_count_are_bounded(tmp_path: Path) -> None:
    files = slack_export_files()
    files["general/2020-12-10.json"] = b"[" + b" " * 100_000 + b"]"
    path = write(tmp_path, "e.zip", zip_bytes(files))
    assert path.stat().st_size < 50_000
    with pytest.raises(LoaderError, match=r"would inflate to 98\.7 KB"):
        load_file(path, limits=Limits(max_export_bytes=50_000))
    with pytest.raises(LoaderError, match="more than the limit of 3"):
        load_file(path, limits=Limits(max_export_files=3))
    with pytest.raises(LoaderError, match="larger than the 100 bytes limit"):
        load_file(path, limits=Limits(max_file_bytes=100))


@pytest.mark.parametrize("name", ["../escape.json", "/etc/evil.json", "general/../../up.json", "C:\\win.json"])
def test_zip_with_path_traversal_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    files = slack_export_files()
    files[name] = b"[]"
    path = write(work, "export.zip", zip_bytes(files))
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(LoaderError, match="unsafe path"):
        load_file(path)
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_unsupported_zip_compression_is_a_loader_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in slack_export_files().items():
            archive.writestr(name, data)
    raw = bytearray(buffer.getvalue())
    # Claim compression method 99 (AES) in every local and central header.
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            raw[start + offset : start + offset + 2] = (99).to_bytes(2, "little")
            start += 4
    with pytest.raises(LoaderError, match=r"could not be read|not a readable zip"):
        load_file(write(tmp_path, "aes.zip", bytes(raw)))


def test_unreadable_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="does not exist"):
        load_file(tmp_path / "gone.md")
    with pytest.raises(LoaderError, match="a folder, not a Slack export"):
        load_file(tmp_path)
    locked = write(tmp_path, "locked.md", "# x")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
        with pytest.raises(LoaderError, match="could not be read"):
            load_file(locked)
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("spaces.md", "# a" + " \t" * 200_000 + "#x"),
        ("front.md", "---\ntitle: a" + " \t" * 200_000 + "b\n---\nbody"),
        ("underline.rst", ("x" * 80 + "\n") * 50_000),
        ("boxes.rst", "".join(" " * (3 * n) + ".. note::\n\n" for n in range(2_000)) + "deep"),
        ("roles.rst", ":ref:`" * 200_000 + "x"),
        ("angles.html", "<p" * 200_000),
        ("nested.md", "> " * 200_000 + "quote"),
        ("imports.mdx", "import " + " from 'a" * 200_000),
        ("images.md", "![" * 300_000),
        ("tags.md", "{%" + " %} x" * 200_000),
    ],
    ids=["atx-heading", "front-matter", "rst", "rst-boxes", "rst-roles", "html-brackets", "quotes", "mdx-import", "images",
         "template-tags"],
)
def test_pathological_lines_load_in_linear_time(tmp_path: Path, name: str, text: str) -> None:
    started = time.perf_counter()
    load_file(write(tmp_path, name, text))
    assert time.perf_counter() - started < 3.0
