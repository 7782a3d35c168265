"""Markdown files: one Document, headings kept in the text so chunking can split at them."""

from __future__ import annotations

import re

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
# Patterns are kept free of ambiguous repeats (a lazy group before optional trailing
# whitespace backtracks quadratically on a long line of spaces); trimming happens in Python.
_FRONT_TITLE = re.compile(r"^title:[ \t]*(\S.*)$", re.MULTILINE)
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(\S.*)$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
# A comment block (CommonMark's HTML block of type 2): from a line opening with "<!--" to the
# line that holds "-->". A reader never sees it: writers' notes, to-dos, hidden metadata.
_COMMENT_OPENS = re.compile(r"^ {0,3}<!--")
# What else a docs site's reader never reads as text (Docusaurus, MkDocs, Jekyll, Hugo): MDX
# imports, template tags, the fences of a call-out box, a line of images or badges alone.
_MDX_IMPORT = re.compile(r"^import\s[^\n]*\sfrom\s+['\"][^'\"\n]+['\"];?\s*$|^import\s+['\"][^'\"\n]+['\"];?\s*$")
_TEMPLATE_TAG = re.compile(r"^\s*(?:\{%[^\n]*%\}|\{\{[<%][^\n]*[>%]\}\})\s*$")
# ":::tip", ":::warning Backups", ":::note[Heads up]", and the closing ":::"; its title, if any.
_CALLOUT_FENCE = re.compile(r"^ {0,3}:{3,}[ \t]*(?:\w+)?[ \t]*(?:\[([^\]\n]*)\]|([^\n]*))$")
# MkDocs: '!!! warning "Never on Fridays"' or '??? note', the box's text indented under it.
_ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)[ \t]+\w+(?:[ \t]+"([^"\n]*)")?[ \t]*$')
# Markup lines are short: a longer line is text (and a hostile one never meets the patterns,
# whose backtracking grows with a line's length).
MAX_MARKUP_LINE = 1_000
_IMAGE = re.compile(r"\[!\[[^\]\n]*\]\([^)\n]*\)\]\([^)\n]*\)|!\[[^\]\n]*\]\([^)\n]*\)")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(title from YAML front matter if any, the text without the front matter)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    title_match = _FRONT_TITLE.search(match.group(1))
    title = title_match.group(1).strip().strip("\"'") if title_match else None
    return title or None, text[match.end() :]


def first_heading(text: str) -> str | None:
    """The first ATX (``# Title``) or setext (``Title`` over ``====``) heading outside code fences."""
    in_fence = False
    previous = ""
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            return _without_closing_hashes(atx.group(1)) or None
        if previous.strip() and _SETEXT_UNDERLINE.match(line) and not _ATX_HEADING.match(previous):
            return previous.strip()
        previous = line
    return None


def _without_closing_hashes(heading: str) -> str:
    """``Title ##`` -> ``Title``: a closing run of ``#`` counts only after whitespace."""
    text = heading.rstrip()
    opened = text.rstrip("#")
    if opened != text and (not opened or opened[-1] in " \t"):
        text = opened.rstrip()
    return text


def without_comments(text: str) -> str:
    """The text less its comment blocks outside code fences; an unclosed comment runs to the
    end, as it does when the page is rendered."""
    kept: list[str] = []
    in_fence = in_comment = False
    for line in text.split("\n"):
        if in_comment:
            in_comment = "-->" not in line
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and _COMMENT_OPENS.match(line):
            in_comment = "-->" not in line.split("<!--", 1)[1]
            continue
        kept.append(line)
    return "\n".join(kept)


def without_site_markup(text: str) -> str:
    """The text less what a docs site shows as no text, outside code fences: MDX imports,
    template tags and lines of images alone are dropped; a call-out box's fences give way to
    its title, if it has one, and an MkDocs box's indented text is read as a paragraph (kept
    indented, it would read as code)."""
    kept: list[str] = []
    in_fence = in_admonition = False
    for line in text.split("\n"):
        if in_admonition:
            if line.startswith(("    ", "\t")):
                kept.append(line[4:] if line.startswith("    ") else line[1:])
                continue
            if not line.strip():
                kept.append(line)  # a blank line inside the box
                continue
            in_admonition = False
        if _FENCE.match(line):
            in_fence = not in_fence
            kept.append(line)
            continue
        if in_fence or len(line) > MAX_MARKUP_LINE:
            kept.append(line)
            continue
        admonition = _ADMONITION.match(line)
        if admonition is not None:
            in_admonition = True
            kept += _title_line(admonition.group(1))
            continue
        callout = _CALLOUT_FENCE.match(line)
        if callout is not None:
            kept += _title_line(callout.group(1) or callout.group(2))
            continue
        if _MDX_IMPORT.match(line) or _TEMPLATE_TAG.match(line):
            continue
        if line.strip() and not _IMAGE.sub("", line).strip():
            continue
        kept.append(line)
    return "\n".join(kept)


def _title_line(title: str | None) -> list[str]:
    """A call-out box's title as a line of its own, if it has one."""
    return [title.strip()] if title and title.strip() else []


def markdown_title_and_text(text: str, fallback_title: str) -> tuple[str, str]:
    front_title, body = split_front_matter(text)
    body = without_site_markup(without_comments(body))
    return front_title or first_heading(body) or fallback_title, body.strip()
