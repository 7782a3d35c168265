"""Bad rows cost only themselves: a CSV cell too large to be one answer or message, or a date
that cannot be turned into UTC, leaves its row out and says so; the file's other rows load."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_loaders import csv_text

from core.errors import LoaderError
from core.knowledge.loaders import load_file, read_messages
from core.knowledge.loaders.discord_csv import MAX_CELL_CHARS, parse_date

HUGE = "A pasted log line, over and over. " * (MAX_CELL_CHARS // 30)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_faq_row_with_an_oversized_cell_is_left_out_and_the_others_keep_their_keys(tmp_path: Path) -> None:
    """Before: the csv module's field limit raised, and the whole file was skipped."""
    rows = [
        ["Question", "Answer"],
        ["Opening hours?", "Nine to five."],
        ["Why is the log so long?", HUGE],
        ["Where is the printer?", "Floor 2, by the lifts."],
    ]
    loaded = load_file(write(tmp_path, "faq.csv", csv_text(rows, ",")))
    assert [(d.key, d.title) for d in loaded.documents] == [("row-1", "Opening hours?"), ("row-3", "Where is the printer?")]
    assert loaded.left_out == (
        f"Row 3 was left out: one of its cells holds {len(HUGE):,} characters, more than the 131,072 a cell may hold.",
    )


def test_an_oversized_quoted_cell_across_lines_does_not_spill_into_the_rows_after_it(tmp_path: Path) -> None:
    """Resuming the csv reader after its error would read the rest of the quoted cell as rows."""
    spill = ('He said "stop", then\n' + "q,a\nfake question,fake answer\n") * (MAX_CELL_CHARS // 40)
    rows = [["q", "a"], ["First?", "One."], ["Broken?", spill], ["Last?", "Three."]]
    loaded = load_file(write(tmp_path, "faq.csv", csv_text(rows, ";")))
    assert [d.title for d in loaded.documents] == ["First?", "Last?"]
    assert len(loaded.left_out) == 1 and loaded.left_out[0].startswith("Row 3 was left out")


def test_a_discord_row_with_an_oversized_cell_is_left_out(tmp_path: Path) -> None:
    rows = [
        ["AuthorID", "Author", "Date", "Content"],
        ["1", "ana", "2024-03-01 09:00", "The build is green."],
        ["2", "bo", "2024-03-01 09:01", HUGE],
        ["1", "ana", "2024-03-01 09:02", "Deploying now."],
    ]
    path = write(tmp_path, "deploys.csv", csv_text(rows, ","))
    assert [m.text for m in read_messages(path)] == ["The build is green.", "Deploying now."]
    assert load_file(path).left_out[0].startswith("Row 3 was left out: one of its cells holds")


def test_an_oversized_header_refuses_the_file_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="a cell of its header row holds"):
        load_file(write(tmp_path, "faq.csv", csv_text([["Question", HUGE], ["a", "b"]], ",")))


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:01"])
def test_a_date_whose_utc_time_is_out_of_range_is_unreadable_not_an_error(value: str) -> None:
    """Before: OverflowError out of astimezone(), past every loader's error handling."""
    assert parse_date(value) is None


def test_a_discord_row_whose_date_cannot_be_read_is_left_out_and_the_others_load(tmp_path: Path) -> None:
    text = "AuthorID,Author,Date,Content\n1,ana,0001-01-01T00:00:00+14:00,Too early.\n1,ana,2024-03-01 09:00,On time.\n"
    loaded = load_file(write(tmp_path, "c.csv", text))
    assert "On time." in loaded.documents[0].text and "Too early." not in loaded.documents[0].text
    assert loaded.left_out == ("Row 2 was left out: its date could not be read: '0001-01-01T00:00:00+14:00'.",)
    # When no row's date can be read the format is not one this reader knows: the file is refused.
    with pytest.raises(LoaderError, match="row 2 has a date that could not be read"):
        load_file(write(tmp_path, "d.csv", "AuthorID,Author,Date,Content\n1,ana,0001-01-01T00:00:00+14:00,x\n"))
