"""reStructuredText read as the Markdown the chunker understands.

A Sphinx page read as plain text loses its sections (a title over its "=====" is one line run
into the next) and quotes its markup: ".. code-block:: bash" came where the command it
introduces should have, and ".. note::" as a sentence. Here section titles become headings,
code blocks and literal blocks fences, a call-out box (note, warning, ...) its own words, and
roles and links their text; what a reader of the built page never sees as text (a table of
contents, images, comments, link targets) is left out.
"""

from __future__ import annotations

import re

# A section title's underline or overline: one punctuation character repeated.
_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:._])\1{2,}$")
# ".. name:: argument", at the start of its (dedented) line.
_DIRECTIVE = re.compile(r"^\.\.[ \t]+([\w:+-]+)::(?:[ \t]+(.*))?$")
_OPTION = re.compile(r"^:[\w-]+:")
_CODE = frozenset(("code-block", "code", "sourcecode"))
_CALL_OUTS = frozenset(
    ("note", "warning", "tip", "hint", "important", "caution", "attention", "danger", "error", "seealso", "todo")
)
# The argument is the box's title, a line of its own.
_TITLED = frozenset(("admonition", "topic", "sidebar", "rubric"))
# No text a reader reads: navigation, pictures, other files, machinery.
_HIDDEN = frozenset(
    ("contents", "toctree", "image", "index", "meta", "raw", "include", "literalinclude", "highlight",
     "default-role", "role", "only", "tabularcolumns", "currentmodule", "module", "automodule", "autoclass",
     "autofunction", "automethod", "autosummary", "sectionauthor", "codeauthor")
)  # fmt: skip
# ":ref:`Configuration <config>`", ":doc:`usage`", ":func:`load`": a reference reads as its
# text; any other role as code.
_ROLE = re.compile(r":([\w-]+(?::[\w-]+)?):`([^`\n]+)`")
_PLAIN_ROLES = frozenset(("ref", "doc", "term", "abbr", "dfn", "emphasis", "strong", "guilabel", "menuselection"))
_LINK = re.compile(r"`([^`<\n]+?)\s*<[^`>\n]*>`__?")
_NAMED_LINK = re.compile(r"`([^`\n]+)`__?")
_LITERAL = re.compile(r"``([^`\n]+)``")
_BLANK_LINES = re.compile(r"\n{3,}")
# Boxes inside boxes deeper than this are kept as they are: each level reads its lines again.
MAX_DEPTH = 8


def rst_as_markdown(text: str) -> str:
    """``text`` with its sections, code and boxes as Markdown headings, fences and paragraphs."""
    return _BLANK_LINES.sub("\n\n", "\n".join(_converted(text.split("\n"), {}, 0))).strip()


def rst_title(text: str) -> str | None:
    """The page's first section title, found as ``rst_as_markdown`` finds its sections."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        title = _title_at(lines, index) if line.strip() else None
        if title is not None:
            return title[0]
    return None


def _converted(lines: list[str], styles: dict[tuple[str, bool], int], depth: int) -> list[str]:
    """The lines as Markdown; ``styles`` maps a title's adornment to its heading level, in the
    order the page first uses them, as reStructuredText does."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped and not line[0].isspace():
            title = _title_at(lines, i)
            if title is not None:
                text, style, used = title
                level = styles.setdefault(style, len(styles) + 1)
                out += ["", f"{'#' * min(level, 6)} {_inline(text)}", ""]
                i += used
                continue
        indent = len(line) - len(line.lstrip())
        directive = _DIRECTIVE.match(stripped) if depth < MAX_DEPTH else None
        if directive is not None or (stripped.startswith(".. ") and depth < MAX_DEPTH):
            body, i = _indented(lines, i + 1, indent)
            if directive is not None:
                out += _directive(directive.group(1).lower(), (directive.group(2) or "").strip(), body, styles, depth)
            continue  # a comment, a link target, a substitution: no text
        if stripped.endswith("::") and not stripped.startswith(".."):
            # "Install it with pip::" introduces the literal block under it.
            shown = line.rstrip()[:-2].rstrip()
            if shown.strip():
                out.append(_inline(shown) + ":")
            block, after = _indented(lines, i + 1, indent)
            if block:
                out += ["", "```", *block, "```", ""]
                i = after
            else:
                i += 1
            continue
        out.append(_inline(line))
        i += 1
    return out


def _title_at(lines: list[str], i: int) -> tuple[str, tuple[str, bool], int] | None:
    """(title, adornment style, lines used) when a section title starts at line ``i``."""
    first = lines[i].strip()
    if _ADORNMENT.match(first) and i + 2 < len(lines):
        text, under = lines[i + 1].strip(), lines[i + 2].strip()
        if text and under == first and len(first) >= len(text):
            return text, (first[0], True), 3
        return None
    if i + 1 < len(lines):
        under = lines[i + 1].strip()
        if _ADORNMENT.match(under) and len(under) >= len(first) and not _ADORNMENT.match(first):
            return first, (under[0], False), 2
    return None


def _indented(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The block indented deeper than ``indent`` under the line before ``start``, dedented,
    and the index after it."""
    end = start
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    taken = end
    while end > start and not lines[end - 1].strip():
        end -= 1
    while start < end and not lines[start].strip():
        start += 1
    block = lines[start:end]
    margin = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
    return [b[margin:] for b in block], taken


def _directive(name: str, argument: str, body: list[str], styles: dict[tuple[str, bool], int], depth: int) -> list[str]:
    options = 0
    while options < len(body) and _OPTION.match(body[options]):
        options += 1
    content = body[options:]
    while content and not content[0].strip():
        content = content[1:]  # the blank line between a directive's options and its text
    if name in _CODE:
        return ["", f"```{argument.split()[0] if argument else ''}", *content, "```", ""]
    if name in _HIDDEN:
        return []
    lines = [_inline(argument)] if argument and (name in _TITLED or name not in _CALL_OUTS) else []
    if name == "figure":
        lines = []  # its argument is the picture; its caption is the body
    return ["", *lines, *_converted(content, styles, depth + 1), ""]


def _inline(line: str) -> str:
    line = _ROLE.sub(_role, line)
    line = _LINK.sub(r"\1", line)
    line = _NAMED_LINK.sub(r"\1", line)
    return _LITERAL.sub(r"`\1`", line)


def _role(match: re.Match[str]) -> str:
    name, text = match.group(1).split(":")[-1], match.group(2)
    shown = text.split("<", 1)[0].strip() if "<" in text and text.endswith(">") else text
    shown = shown.lstrip("~!")
    return shown if name in _PLAIN_ROLES else f"`{shown}`"
