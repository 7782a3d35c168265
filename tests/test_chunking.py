from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.answers import quoting
from core.config import KnowledgeBaseSettings
from core.knowledge.chunking import (
    CUT_MARK,
    assign_ids,
    chunk_document,
    embedding_text,
    split_sections,
    split_sentences,
)
from core.knowledge.ingesting import bundled_docs
from core.knowledge.loaders import load_file
from core.types import Document


def words(text: str) -> int:
    """A stand-in tokenizer for the pure tests: one token per word plus [CLS] and [SEP]."""
    return len(text.split()) + 2


def test_headings_open_sections_and_travel_with_their_chunks() -> None:
    doc = Document(source="s", title="Guide", text="# Guide\nIntro text.\n## Slack\nConnect it.\n### Tokens\nPaste them.\n## Discord\nInvite it.")
    sections = split_sections(doc.text)
    assert [s.heading for s in sections] == ["Guide", "Guide > Slack", "Guide > Slack > Tokens", "Guide > Discord"]
    chunks = chunk_document(doc, count_tokens=words, max_tokens=50)
    assert [c.title for c in chunks] == ["Guide", "Guide > Slack", "Guide > Slack > Tokens", "Guide > Discord"]


def test_code_blocks_do_not_open_sections() -> None:
    sections = split_sections("# A\n```\n# not a heading\n```\ntext")
    assert len(sections) == 1 and "# not a heading" in sections[0].text


def test_sentences_are_not_cut_in_the_middle() -> None:
    text = " ".join(f"Sentence number {i} says something useful." for i in range(40))
    chunks = chunk_document(Document(source="s", title="T", text=text), count_tokens=words, max_tokens=30)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith("useful.")


def test_no_chunk_opens_inside_a_quotation() -> None:
    # The guide's '("..., "... Or should I build it from source?") is listed with the question
    # before it.' opened a chunk at "Or should I build it", quoted for "change model".
    quoted = 'A hedge ("Is it synced? Or should I build it from source?") is listed with the question before it.'
    text = " ".join([*(f"Fact {i} is here." for i in range(12)), quoted, *(f"Fact {i} is there." for i in range(12))])
    for limit in range(24, 60):
        chunks = chunk_document(Document(source="s", title="T", text=text), count_tokens=words, max_tokens=limit)
        assert not any(c.text.startswith("Or should") for c in chunks)
        assert any(quoted in c.text for c in chunks)
    assert split_sentences(quoted) == [quoted]


def test_a_sentence_that_opens_with_a_code_span_is_a_sentence_of_its_own() -> None:
    text = "Tidings refuses a `[state] url` with a password. `config/deploy/tidings@.service` is a systemd unit."
    chunks = chunk_document(Document(source="s", title="T", text=text), count_tokens=words, max_tokens=50)
    assert [split_sentences(c.text) for c in chunks] == [
        ["Tidings refuses a `[state] url` with a password.", "`config/deploy/tidings@.service` is a systemd unit."]
    ]


def test_neighbouring_chunks_overlap_by_one_sentence() -> None:
    text = " ".join(f"Fact {i} is here." for i in range(30))
    chunks = chunk_document(Document(source="s", title="T", text=text), count_tokens=words, max_tokens=20, overlap_sentences=1)
    first_last = split_sentences(chunks[0].text)[-1]
    assert split_sentences(chunks[1].text)[0] == first_last


def test_a_table_split_across_chunks_repeats_its_header_in_each() -> None:
    rows = "\n".join(f"| part {i} | runs on machine {i} | moves to engine {i} when shared |" for i in range(12))
    text = f"Where each part lives:\n\n| part | one machine | many replicas |\n|---|---|---|\n{rows}\n\nNothing else changes."
    chunks = chunk_document(Document(source="s", title="T", text=text), count_tokens=words, max_tokens=60)
    with_rows = [c for c in chunks if "| part " in c.text]
    assert len(with_rows) > 2
    for chunk in with_rows:
        lines = [line for line in chunk.text.splitlines() if line.startswith("|")]
        assert lines[:2] == ["| part | one machine | many replicas |", "|---|---|---|"], chunk.text
        assert words(embedding_text(chunk.title, chunk.text)) <= 60
    # So a row from a later chunk is quoted under its column names.
    last = quoting.passages_of(with_rows[-1].text, 1)
    assert any(p.text.startswith("part 11 — one machine: runs on machine 11; many replicas:") for p in last)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=3000), st.integers(min_value=32, max_value=254))
def test_no_chunk_ever_exceeds_the_limit(text: str, limit: int) -> None:
    chunks = chunk_document(Document(source="s", title="A title", text=text), count_tokens=words, max_tokens=limit)
    for chunk in chunks:
        assert words(embedding_text(chunk.title, chunk.text)) <= limit


def test_no_chunk_exceeds_the_real_embedder_window(embedder) -> None:  # type: ignore[no-untyped-def]
    monster = "Supercalifragilisticexpialidocious-" * 300  # one enormous "word"
    prose = " ".join(f"The configuration value number {i} controls retries and timeouts." for i in range(200))
    doc = Document(source="s", title="Reference manual", text=f"# Reference\n{prose}\n\n{monster}")
    chunks = chunk_document(doc, count_tokens=embedder.count_tokens, max_tokens=200)
    assert len(chunks) > 5
    for chunk in chunks:
        assert embedder.count_tokens(embedding_text(chunk.title, chunk.text)) <= embedder.max_tokens


def test_faq_entries_embed_their_question_with_the_answer(embedder) -> None:  # type: ignore[no-untyped-def]
    doc = Document(source="faq.csv", title="Can I work remotely?", text="Yes, two days a week.", question="Can I work remotely?", kind="faq", key="row-1")
    (chunk,) = chunk_document(doc, count_tokens=embedder.count_tokens)
    assert embedding_text(chunk.title, chunk.text) == "Can I work remotely?\nYes, two days a week."


def test_ids_are_stable_for_unchanged_content() -> None:
    doc = Document(source="s", title="T", text="# T\n## A\nAlpha.\n## B\nBeta.")
    before = assign_ids(chunk_document(doc, count_tokens=words))
    changed = Document(source="s", title="T", text="# T\n## A\nAlpha.\n## New\nInserted.\n## B\nBeta.")
    after = assign_ids(chunk_document(changed, count_tokens=words))
    assert {c.id for c in before} < {c.id for c in after}
    assert len({c.id for c in after}) == len(after)


def test_chat_lines_are_never_joined_as_wrapped_text() -> None:
    text = "[09:00] ana: the deploy is done\n[09:01] ben: thanks\nlater we talk"
    chunks = chunk_document(Document(source="c", title="chat", text=text, kind="conversation"), count_tokens=words, max_tokens=50)
    assert [line for c in chunks for line in c.text.split("\n")] == text.split("\n")


def test_wrapped_markdown_lines_are_joined_into_their_sentence() -> None:
    text = "A sentence wrapped\nover two lines. Another one.\n\n- an item wrapped\nlazily\n- a second item"
    chunks = chunk_document(Document(source="d.md", title="T", text=text), count_tokens=words, max_tokens=60)
    assert split_sentences(text, unwrap=True) == [
        "A sentence wrapped over two lines.",
        "Another one.",
        "- an item wrapped lazily",
        "- a second item",
    ]
    assert "- an item wrapped lazily\n- a second item" in chunks[0].text


def test_a_chunk_keeps_its_paragraphs_apart() -> None:
    text = "No. There is no evidence that pets spread it.\n\nSome animals can be infected in a lab. Keep them away."
    for kind in ("document", "faq"):
        [chunk] = chunk_document(Document(source="p.md", title="Pets", text=text, kind=kind), count_tokens=words, max_tokens=80)
        assert chunk.text == "No. There is no evidence that pets spread it.\n\nSome animals can be infected in a lab. Keep them away."
        assert [p.block for p in quoting.passages_of(chunk.text, 1)] == [0, 0, 1, 1]
    # A chunk that opens with a paragraph's first sentence opens with it, not with a blank line.
    chunks = chunk_document(Document(source="p.md", title="Pets", text=text), count_tokens=words, max_tokens=12)
    assert len(chunks) > 1 and not any(c.text.startswith("\n") for c in chunks)
    # A chat's lines stay as they were.
    chat = "[09:00] ana: the deploy is done\n\n[09:01] ben: thanks"
    [line] = chunk_document(Document(source="c", title="chat", text=chat, kind="conversation"), count_tokens=words, max_tokens=50)
    assert line.text == "[09:00] ana: the deploy is done\n[09:01] ben: thanks"


def test_an_indented_code_block_stays_code_and_never_runs_into_the_next_sentence() -> None:
    """Markdown's four-space code block: unwrapped as prose, "make run # start make test You
    need Python ..." was one sentence. A blank line inside the block keeps it one block; a
    section may open with one (its first line keeps its indent)."""
    text = "## Two commands\n\n    make run   # start\n    make test\n\n    make lint\n\nYou need Python 3.11. Then run it."
    chunks = chunk_document(Document(source="r.md", title="T", text=text), count_tokens=words, max_tokens=80)
    assert chunks[0].text == "```\nmake run   # start\nmake test\nmake lint\n```\n\nYou need Python 3.11.\nThen run it."
    shown = [p.text for c in chunks for p in quoting.passages_of(c.text, 1)]
    assert shown == ["```\nmake run   # start\nmake test\nmake lint\n```", "You need Python 3.11.", "Then run it."]


def test_an_indented_paragraph_under_a_list_item_is_the_item_not_code() -> None:
    for text in ("- install it\n\n    then start it from the shell\n\nDone.", "- install it,\n  wrapped\n\n    then start it"):
        assert not any(s.startswith("```") for s in split_sentences(text, unwrap=True))
    # Four columns past the item's text, it is code inside the item.
    steps = "3. Copy the token.\n4. Put it in `.env`:\n\n       TOKEN=xoxb-...\n       OTHER=1\n\n5. Start it."
    assert split_sentences(steps, unwrap=True) == [
        "3. Copy the token.", "4. Put it in `.env`:", "```", "TOKEN=xoxb-...", "OTHER=1", "```", "5. Start it."
    ]
    # A fenced block inside an item loses the item's indent, not its own.
    fenced = "1. Put it in `.env`:\n\n   ```sh\n   TOKEN=x\n     nested\n   ```\n\n   More on it."
    assert split_sentences(fenced, unwrap=True) == ["1. Put it in `.env`:", "```sh", "TOKEN=x", "  nested", "```", "   More on it."]
    chat = "    an indented chat line"
    assert split_sentences(chat) == ["an indented chat line"], "chat and FAQ text are never read as Markdown"


def test_an_items_next_paragraph_stays_in_its_list() -> None:
    """Step 3's note after its code block, then step 4: one list, quoted as one. Unindented, the
    note ended the list and step 4 stood alone; the next chunk began mid-list on one line."""
    text = (
        "Set it up:\n\n1. Copy the token:\n\n   ```sh\n   TOKEN=x\n   ```\n\n   It is a *secret*. Reset it if it leaks.\n"
        "2. Start it.\n\nThat is all."
    )
    assert split_sentences(text, unwrap=True) == [
        "Set it up:", "1. Copy the token:", "```sh", "TOKEN=x", "```", "   It is a *secret*.", "   Reset it if it leaks.",
        "2. Start it.", "That is all.",
    ]
    (chunk,) = chunk_document(Document(source="d.md", title="T", text=text), count_tokens=words, max_tokens=80)
    assert [p.text for p in quoting.passages_of(chunk.text, 1)] == [
        "Set it up:\n1. Copy the token:\n```\nTOKEN=x\n```\nIt is a secret. Reset it if it leaks.\n2. Start it.",
        "That is all.",
    ]
    # A chunk that starts at a later step keeps its lines apart.
    steps = "Intro words here. More intro words.\n\n1. One.\n2. Two.\n3. Three.\n4. Four."
    later = chunk_document(Document(source="d.md", title="T", text=steps), count_tokens=words, max_tokens=8)
    assert [c.text for c in later][-1] == "2. Two.\n3. Three.\n4. Four."
    # Prose cut after "Fig." is no list: its sentences still run on.
    cut = Document(source="a.txt", title="T", text="As shown (Fig. 4) was fitted. It held.")
    (prose,) = chunk_document(cut, count_tokens=words)
    assert prose.text == "As shown (Fig. 4) was fitted. It held."


def test_a_list_item_longer_than_a_chunk_is_cut_between_its_sentences() -> None:
    item = "- `/tidings` is a command group. " + " ".join(f"Sentence {i} of the item says a thing." for i in range(12))
    text = f"Commands:\n\n{item}\n- `/ask` answers.\n"
    chunks = chunk_document(Document(source="d.md", title="T", text=text), count_tokens=words, max_tokens=40)
    assert len(chunks) > 2
    for chunk in chunks:
        first = chunk.text.lstrip()
        assert first.startswith(("Commands:", "- `/tidings`", "Sentence", "- `/ask`")), chunk.text
        assert words(embedding_text(chunk.title, chunk.text)) <= 40
    # Quoted, the item's later sentences still belong to it.
    passages = quoting.passages_of(chunks[0].text, 1)
    assert passages[0].text.startswith("Commands:\n• `/tidings` is a command group. Sentence 0 of the item")
    # A line of one sentence too long for a chunk is still cut between words.
    long_item = "- " + " ".join(["word"] * 100)
    assert len(chunk_document(Document(source="d.md", title="T", text=long_item), count_tokens=words, max_tokens=40)) > 2


def test_a_sentence_cut_by_a_chunk_boundary_is_quoted_as_the_excerpt_it_is() -> None:
    clauses = "; ".join(f"clause {i} adds a detail about the setting" for i in range(12))
    text = f"Intro line. The bot reads the setting at start, {clauses}. A short sentence ends it."
    chunks = chunk_document(Document(source="d.md", title="T", text=text), count_tokens=words, max_tokens=40)
    cut = [c for c in chunks if CUT_MARK in c.text]
    assert len(cut) >= 2
    for chunk in chunks:
        assert words(embedding_text(chunk.title, chunk.text)) <= 40
    # A later piece opens with the mark, and so does its quote: never a fragment read as a sentence.
    later = quoting.passages_of(cut[1].text, 1)
    assert later[0].text.startswith(f"{CUT_MARK} "), later[0].text
    assert cut[0].text.endswith(f" {CUT_MARK}")
    # Where the pieces meet again in one text, the quote reads them as one sentence.
    joined = quoting.passages_of(" ".join(c.text for c in chunks), 1)
    assert any(
        p.text.startswith("The bot reads the setting at start, clause 0") and "clause 11" in p.text for p in joined
    )
    assert not any(CUT_MARK in p.text for p in joined)
    # An item's later pieces are indented as its own lines, so a quote keeps them in the item.
    item = "- " + " ".join(["word"] * 60) + " end."
    pieces = chunk_document(
        Document(source="d.md", title="T", text=f"Steps:\n\n{item}\n"), count_tokens=words, max_tokens=40
    )
    assert all(c.text.startswith(("Steps:", "- word", f"   {CUT_MARK} word")) for c in pieces), [c.text for c in pieces]


def test_a_title_or_label_line_is_never_quoted_as_the_start_of_the_sentence_after_it() -> None:
    text = (
        "Backcalculating the incidence on a ship\n\nAuthors: Nishiura, Hiroshi\nLicense: cc-by\n\n"
        "Abstract: We estimated the incidence of infection. The curve was drawn.\n\n"
        "Severity\n\nThe picture is not fully known.\n\n"
        "Symptoms may include:\nFever\nCough\nShortness of breath\n\nCall your doctor."
    )
    (chunk,) = chunk_document(Document(source="a.txt", title="T", text=text), count_tokens=words, max_tokens=200)
    passages = [p.text for p in quoting.passages_of(chunk.text, 1)]
    assert "Abstract: We estimated the incidence of infection." in passages, passages
    assert "The picture is not fully known." in passages
    assert not any(p.startswith("Severity ") or "License: cc-by Abstract" in p for p in passages)
    # Lines without a stop that follow each other stay together: a list without bullets.
    assert "Symptoms may include: Fever Cough Shortness of breath" in passages
    assert "Call your doctor." in passages


def test_a_code_block_cut_between_chunks_is_closed_and_opened_again() -> None:
    """Else the next chunk's closing fence opens a block, and the prose after it is quoted as
    code ("```\nA digest carries its channel's content ..."); code keeps its lines and indent."""
    lines = "\n".join(f"key{i} = {i}    # comment {i}" for i in range(12))
    text = f"# Settings\n\nSome words first. Then more.\n\n```toml\n{lines}\n  nested = true\n\n```\n\nAfter the block."
    for limit in range(24, 61):  # wherever the boundaries fall
        for chunk in chunk_document(Document(source="s.md", title="T", text=text), count_tokens=words, max_tokens=limit):
            assert sum(line.startswith("```") for line in chunk.text.split("\n")) % 2 == 0, chunk.text
            assert words(chunk.text) <= limit
    chunks = chunk_document(Document(source="s.md", title="T", text=text), count_tokens=words, max_tokens=40)
    assert len(chunks) > 2
    shown = [p.text for c in chunks for p in quoting.passages_of(c.text, 1)]
    assert "After the block." in shown
    assert any("\n  nested = true\n" in p for p in shown), "a code line keeps its indent"


def test_a_code_block_that_fits_a_chunk_is_never_cut_in_two() -> None:
    """Cut in two, the second half ("SLACK_SIGNING_SECRET=...") is quoted without the lines it
    belongs with; moved whole into the next chunk, it comes with the sentence introducing it."""
    prose = " ".join(f"Sentence {i} says something." for i in range(6))
    block = "```sh\n# .env, HTTP mode\nSLACK_BOT_TOKEN=xoxb-...\nSLACK_SIGNING_SECRET=...\n```"
    text = f"# Tokens\n\n{prose} Put both in `.env`:\n\n{block}\n\nThen run it."
    for limit in range(30, 61):  # wherever the boundaries fall
        chunks = chunk_document(Document(source="s.md", title="T", text=text), count_tokens=words, max_tokens=limit)
        holding = [c.text for c in chunks if "SLACK_SIGNING_SECRET" in c.text]
        assert holding and all(block in t for t in holding), (limit, [c.text for c in chunks])
        assert all("Put both in `.env`:\n```sh" in t for t in holding), (limit, holding)
        assert all(words(c.text) <= limit for c in chunks)


def test_every_short_code_block_of_the_guide_is_whole_in_one_chunk(embedder) -> None:  # type: ignore[no-untyped-def]
    """The bundled docs as the first start indexes them: a block of at most 100 word pieces is
    found whole in one chunk, its lines in order."""
    fenced = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", re.M | re.S)
    checked = 0
    for path in bundled_docs(Path(__file__).parents[1] / "docs"):
        text = path.read_text(encoding="utf-8")
        chunks = [
            chunk
            for document in load_file(path).documents
            for chunk in chunk_document(document, count_tokens=embedder.count_tokens, max_tokens=KnowledgeBaseSettings().chunk_tokens)
        ]
        chunk_lines = ["\n".join(line.strip() for line in c.text.split("\n")) for c in chunks]
        for block in fenced.findall(text):
            if embedder.count_tokens(block) > 100:
                continue
            lines = "\n".join(line.strip() for line in block.strip().split("\n"))
            assert any(lines in c for c in chunk_lines), f"{path.name}: {block}"
            checked += 1
    assert checked > 10
