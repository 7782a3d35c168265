"""The model as a judge of one message: decision, action, question, or none of these.

The wording rules (``core/digests/wording.py``) find candidates; they cannot tell "I'll open
a PR to pin it" from "I'll try that, thanks". The model can read the difference, but a
270M base model cannot be asked to write a list of them: it writes "1,2,3,4,5,6". So it
only chooses: the prompt shows labelled examples, and a grammar lets it write exactly one of
four labels after the message. Everything about the prompt was measured (docs/quality-log.md):

- The labels start with different tokens. With " a decision" / " a task" / " a question" /
  " small talk", greedy decoding under the grammar picks " a" (three labels share it) and
  "small talk" never wins.
- A plain "Kind: remark" line after each example (not an instruction the base model cannot
  follow) and as many "none" examples as the other three together, ordered so that no label
  trails: a base model copies the last example's label.
"""

from __future__ import annotations

from core.ports import Prompt

JUDGE_VERSION = "digest-judge-v1"
LABELS = {"decision": "decision", "action": "task", "question": "question", "none": "remark"}
_BY_WORD = {word: kind for kind, word in LABELS.items()}
JUDGE_GRAMMAR = "root ::= " + " | ".join(f'" {word}"' for word in LABELS.values())
JUDGE_PREFIX = "Kind:"
JUDGE_TOKENS = 4
# What a message of each kind looks like in a chat (written for this prompt, none of them from
# the evaluation data).
EXAMPLES = (
    ("We decided to ship release 2.1 on Friday after the review.", "decision"),
    ("I'll try that, thanks!", "none"),
    ("I'll open a PR to pin the version tomorrow.", "action"),
    ("The ARM runner image ships a newer libssl, that is why.", "none"),
    ("How do I convert a map into a java object?", "question"),
    ("Let's see, I think it works now.", "none"),
    ("@bob can you update the download page?", "action"),
    ("Let's go with Postgres for the state store.", "decision"),
    ("Haha yes, I'll take that as a compliment", "none"),
    ("Why does the build fail on ARM?", "question"),
    ("Nice, glad it worked!", "none"),
)
# A long message is judged on its start: what it is, not everything it says.
MAX_JUDGED_CHARS = 400


def _quoted(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > MAX_JUDGED_CHARS:
        flat = flat[:MAX_JUDGED_CHARS].rsplit(" ", 1)[0] + " ..."
    return flat.replace('"', "'")


def judge_prompt(text: str) -> Prompt:
    """The examples, then the message, then ``Kind:`` for the model to complete. The examples
    come first and never change, so a local model reuses their evaluation between calls."""
    shots = "\n".join(f'Chat message: "{example}"\n{JUDGE_PREFIX} {LABELS[kind]}' for example, kind in EXAMPLES)
    return Prompt(instructions="", body=f'{shots}\nChat message: "{_quoted(text)}"', answer_prefix=JUDGE_PREFIX)


def parse_judgement(completion: str) -> str | None:
    """The kind the model chose ("decision", "action", "question", "none"), or None when the
    completion is not one of the labels (a model or server that ignored the grammar)."""
    word = completion.strip().split()[0].lower().strip(".,:;") if completion.strip() else ""
    return _BY_WORD.get(word)
