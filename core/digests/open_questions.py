"""Questions left open: asked in a conversation and answered by nobody, then or later in the day.

A question is answered when someone else speaks after it in its conversation, or soon after;
later, only by a reply that reaches its asker (their @name, a reply, the asker's thanks). An
aside (a pleasantry, a notice), a question nobody need answer (a check-in, a guess, a call for
assent, an exclamation) and another exchange that starts after a lull answer nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from itertools import zip_longest

from core.digests.conversations import Conversation, addresses
from core.digests.speech import APOSTROPHES, clean_text, plain_words, quotable, said_sentences, shorten
from core.digests.wording import (
    AFTER_A_QUESTION,
    DECISION,
    LEANING_OPENERS,
    MIN_ITEM_WORDS,
    MIN_TOPIC_WORDS,
    THANKS,
    Candidate,
    ends_in_question,
    first_sentence_with,
    put_as_question,
)
from core.text import MENTION, STOPWORDS, content_words, split_outside_code
from core.types import Author, ChannelMessage

# A question that opens so leans on the one before it ("Isn't there a `(declare ...)` form? Though
# it may not be needed ...?", "How do I pin it? Or should I fork it?"): alone it says half. "Which"
# and "since" open questions of their own ("Which version are you running?").
_GOES_ON_FROM = re.compile(rf"(?:{LEANING_OPENERS})\b", re.IGNORECASE)
# "Can you please DM me when you are back online?" asks one person to get in touch: nobody
# else can answer it, so it is no open question for the channel.
CONTACT_REQUEST = re.compile(
    r"\b(?:(?:dm|pm|msg|message|ping|email|e-mail|text|contact|get back to|reach out to|get in touch with) me|"
    r"(?:send|drop) me an? (?:email|e-mail|dm|pm|message|note|line))\b",
    re.IGNORECASE,
)
# Courtesy put as a question asks nothing: "Can I thank you all for attending?", "May I
# welcome our new members?", "Could I start by congratulating the team?".
COURTESY = re.compile(
    r"^\W*(?:can|could|may|might) (?:i|we) (?:just |also |first )?(?:thank|welcome|congratulate|start by|begin by)\b",
    re.IGNORECASE,
)
# A chair calling for assent after a motion ("Can I propose that we meet in private for the
# rest of the meeting? Are Members content?", "Is that agreed?", "Happy to note those?"): the
# motion is carried by silence, so neither is an open question.
CALL_FOR_ASSENT = re.compile(
    r"^\W*(?:(?:so|okay|ok|right|then),? )?(?:(?:are|is) (?:members|everyone|everybody|we all|all|the committee|you all) )?"
    r"(?:content|agreed|in agreement|happy(?: to note (?:those|these|them|that|this|it))?)\W*$|"
    r"^\W*(?:is (?:that|this|it) agreed|(?:are there )?any objections?)\W*$",
    re.IGNORECASE,
)
# A statement with a tag asks for assent, not an answer: "The idea was to skip the checks,
# right?", "You're not talking about Jeff, are you?", "ssh user@server is a possibility, no?".
TAG_QUESTION = re.compile(
    r",\s*(?:right|no|yes|eh|correct|yeah|true|(?:is|are|do|does|did|was|were|would|could|can|will|should|have|has)"
    r"(?:n'?t)? (?:it|that|this|there|they|you|we|he|she|i)(?: think)?)\s*\?+\s*$",
    re.IGNORECASE,
)
# A helper checking on the one helped asks nothing the digest should chase: "does that help
# @ann?", "... so I assume you are good now?", "Restart it with -reindex. Did that fix it?".
CHECK_IN = re.compile(
    r"(?:\b(?:(?:does|did) (?:that|this|it) (?:help|work|make sense|fix it|do the trick)|any luck|"
    r"(?:are|r) (?:you|u) (?:good|ok|okay|sorted|all set)(?: now)?|(?:you|u)(?: are|'re| r)? (?:good|ok|okay|sorted|all set) now|"
    r"(?:is it|it'?s) (?:working|fixed|solved|better) now)|(?:^|[,;:.]\s*)makes? sense)(?:\s+@\S+)?\W*$",
    re.IGNORECASE,
)
# A guess or a suggestion put as a question asks nobody for an answer: "@pablore maybe you can
# have a health check that restarts it?", "maybe you are in a temporal buffer?", "“outer” comes
# to mind? or “parent” maybe?".
GUESSED = re.compile(r"^\W*(?:@\S+\s+)*(?:or\s+)?(?:maybe|perhaps)\b|\bmaybe\W*$", re.IGNORECASE)
# An exclamation put as a question wants no answer: "Can you believe the build took two hours?",
# "Who knew the config had a second copy?", "Isn't it great that the tests are green?", "How
# cool is that?", "What could possibly go wrong?", "Guess what, ...?".
RHETORICAL = re.compile(
    r"^\W*(?:(?:so|wow|oh|man|lol),? )?(?:(?:can|could) (?:you|u) (?:even )?(?:believe|imagine)|who (?:knew|would(?:'ve| have) (?:thought|guessed))|"
    r"(?:is|was)n'?t (?:it|that|this) (?:\w+ )?(?:great|nice|cool|awesome|amazing|wonderful|lovely|funny|weird|crazy|wild|ironic|fun)|"
    r"how (?:\w+ )?(?:cool|great|awesome|nice|amazing|crazy|weird|funny|sweet|wild) (?:is|was) (?:that|this)|guess what)\b|"
    r"\bwhat could (?:possibly )?go wrong\b",
    re.IGNORECASE,
)
# The asker closing their own question: "found it!", "never mind, figured it out", "found the
# approach @luchini suggested", "ah I see, I have to dispatch it myself".
RESOLVED = re.compile(
    r"\b(found it|figur(?:ed|ing) (?:it )?out|never ?mind|nvm|solved it|got it working|works now|sorted it|(?:ah|oh),? i see|"
    r"found (?:the|a|an|my) (?:\w+ )?(?:answer|solution|approach|way|fix|workaround))\b"
    r"|^\W*(?:(?:ah|oh|ok|okay),?\s+)?nm\b",  # "Ah, nm, misunderstood how CORS works"
    re.IGNORECASE,
)
# A reply can come after a lull long enough to start a new conversation.
ANSWER_WINDOW = timedelta(hours=1)
# Later still, in a support channel a helper's reply comes hours on and names nobody: the next
# message by someone else answers when it speaks to someone ("Have you updated since the
# release?") or shares this many of the question's content words.
_SPOKEN_TO = re.compile(r"\b(?:you|your|yours|you're|youre|u)\b", re.IGNORECASE)
# A notice to everyone opens as one ("reminder: timesheets are due friday", "Heads up: the
# checkout page is throwing 502 errors", "FYI ..."): posted after a question on something else,
# it is no reply to it.
ANNOUNCES = re.compile(r"^\W*(?:reminder|heads[- ]?up|fyi|psa|announcement|update|note)\b\s*[:!,-]", re.IGNORECASE)
# A remark that opens laughing and goes on about something ("lol the coffee machine is broken
# again"): an aside, when it shares no word with a question; "haha yes" says too little to tell.
LAUGHS_ABOUT = re.compile(rf"^\W*(?:lol|lmao|rofl|haha\w*|hehe\w*)\b\W*(?:\w+\W+){{{MIN_ITEM_WORDS - 1},}}\w", re.IGNORECASE)
# A question put to the room ("Has anyone heard back from the landlord?", "Where do we keep the
# brand assets?") starts an exchange of its own: it answers no earlier question, nor does the
# reply it gets, unless either speaks to that asker or shares the question's words. A question
# put to the asker ("Which version are you running?") is a reply.
_TO_THE_ROOM = re.compile(
    r"\b(?:anyone|anybody|someone|somebody|everyone|everybody|we|our|us|folks|guys|team|y'?all)\b", re.IGNORECASE
)
REPLY_SHARED_WORDS = 2
# Greetings, farewells, thanks, laughter and exclamations (the small talk of
# ``core/digests/labels.py`` without its words of agreement). Said by someone else after a
# question, a message of nothing but these answers it no more than silence: "have a good
# evening everyone" after "Who is covering support over the holidays?". A "yes" or a "sure" may.
_PLEASANTRY_TEXT = """
    hi hello hey hiya yo morning evening afternoon night good day welcome bye goodbye cya later cheers
    thanks thank thx ty tnx thnx thankyou much lot lots appreciate appreciated great nice cool awesome
    perfect excellent amazing wow lol haha hahaha lmao rofl heh hehe np problem worries glad happy see
    guys all everyone folks there man mate again pointers help helping helpful answer answers response
    oh ah aha hm hmm interesting brb bbl afk gm gn sorry apologies congrats congratulations"""
PLEASANTRY_WORDS = frozenset(_PLEASANTRY_TEXT.split())
# Taking leave and greeting the room are pleasantries too ("heading out, see you tomorrow",
# "have a nice weekend", "morning team"), though these words alone are not small talk
# ("Release tomorrow?").
_TAKING_LEAVE_WORDS = frozenset(["heading", "leaving", "tomorrow", "tonight", "weekend", "enjoy", "team"])


def is_pleasantry(message: ChannelMessage) -> bool:
    """``message`` says nothing but pleasantries (``PLEASANTRY_WORDS``, taking leave) and asks
    nothing: it answers no one's question. An emoji alone may be an answer (a thumbs-up)."""
    text = clean_text(message.text)
    if "?" in text:
        return False
    said = [w for w in plain_words(text) if w not in STOPWORDS]
    return bool(said) and all(w in PLEASANTRY_WORDS or w in _TAKING_LEAVE_WORDS for w in said)


def _is_question(sentence: str) -> bool:
    return (
        put_as_question(sentence)
        and len(content_words(sentence)) >= MIN_ITEM_WORDS
        and not _wants_no_answer(sentence)
        and not COURTESY.match(quotable(sentence))  # "Well, can I thank you all ...?" too
        and not TAG_QUESTION.search(sentence.translate(APOSTROPHES))
    )


def _wants_no_answer(sentence: str) -> bool:
    """A sentence put as a question that nobody need answer, long or short: a request to get in
    touch, a call for assent, a helper's check-in, a guess, an exclamation."""
    read = sentence.translate(APOSTROPHES)
    return (
        CONTACT_REQUEST.search(sentence) is not None
        or RHETORICAL.search(read) is not None
        or CALL_FOR_ASSENT.match(sentence) is not None
        or CHECK_IN.search(read) is not None
        or GUESSED.search(sentence) is not None
    )


# A one-word tag after a statement asks for assent, as ", right?" does: "... is the Magnum
# wallet. Correct?", "That's the default. Right?".
_BARE_TAG = re.compile(
    r"^\W*(?:right|correct|no|yes|yeah|yep|true|ok|okay|eh|huh|really|seriously|sure|agreed|hm+)\W*$", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_]{2}")


def _asked_briefly(said: Sequence[str]) -> str | None:
    """A short question put after what it asks about, in one message ("I have tried
    restarting the wallet, same result. What should I do?", "The dialog does not let me
    choose any vars in re-frame.core. How come?"): the statement and the question, read as
    one. Alone, "What should I do?" says too little to be a question of its own."""
    for index, sentence in enumerate(said):
        if index == 0 or not put_as_question(sentence) or _is_question(sentence) or not _WORD.search(sentence):
            continue
        if _BARE_TAG.match(sentence) or _wants_no_answer(sentence):
            continue
        before = [s for s in said[:index] if not ends_in_question(s) and len(content_words(s)) >= MIN_TOPIC_WORDS]
        if before:
            question = quotable(sentence)
            room = len(question.split())
            return f"{shorten(quotable(before[-1]), words=24 - room, chars=180 - len(question) - 1)} {question}"
    return None


def _question_first(sentence: str) -> list[str]:
    """A sentence that runs on after its question ("does `testing` work for async tests? it does
    not seem so") read as the question and the rest; one that ends in a question stays whole."""
    if ends_in_question(sentence):
        return [sentence]
    return split_outside_code(AFTER_A_QUESTION, sentence)


def open_questions(conversation: Conversation, following: Sequence[ChannelMessage] = ()) -> list[Candidate]:
    """Questions nobody answered. ``following`` are its line's messages after the conversation,
    where a reply that came after a lull is. A question counts as answered when someone else
    spoke after it in the conversation (``_answered_within``) or within ``ANSWER_WINDOW``; at
    any later time, when someone addressed the asker (a reply to them, or their @name), or the
    asker thanked someone or said they solved it; and when the next message by someone else
    reads as a reply (``_reads_as_reply``). An aside (``_aside``) answers at no time. A conversation ending in one asker's questions has
    one open question: the first."""
    messages = conversation.messages
    for index, message in enumerate(messages):
        said = [part for sentence in said_sentences(message.text) for part in _question_first(sentence)]
        asked = [s for s, then in zip_longest(said, said[1:], fillvalue="") if _is_question(s) and not CALL_FOR_ASSENT.match(then)]
        if not asked:
            briefly = _asked_briefly(said)
            if briefly is None:
                continue  # first, as most messages ask nothing: the rest of the day is read only for questions
            asked = [briefly]
        words = content_words(" ".join(said))
        heard = [m for m in following if not _aside(m, message, words)]
        if _answered_within(message, words, messages[index + 1 :]) or _answered_later(message, words, heard):
            continue
        replier = next((m for m in heard if m.author.id != message.author.id), None)
        if _reads_as_reply(message, words, replier):
            continue
        # Nobody spoke after this one (or it would be answered): a later question in the
        # conversation is the same asker putting it another way ("stripping away both ... vars?").
        question = quotable(_with_what_it_leans_on(asked[-1], said))
        return [Candidate("question", f"{message.author.name}: {shorten(question)}", (message,), question)]
    return []


def _with_what_it_leans_on(question: str, said: Sequence[str]) -> str:
    """``question`` with the question before it in ``said`` when it only hedges or offers an
    alternative to that one (``_GOES_ON_FROM``)."""
    index = said.index(question) if question in said else 0  # a question put briefly is already read with what came before
    if index > 0 and _GOES_ON_FROM.match(question) and put_as_question(said[index - 1]):
        return f"{said[index - 1]} {question}"
    return question


def _answered_within(question: ChannelMessage, words: set[str], later: Sequence[ChannelMessage]) -> bool:
    """Whether a message of ``later`` (the rest of ``question``'s conversation) answers it. Anyone
    else speaking does, except to someone else by @name, or in an aside (``_aside``: a
    pleasantry, a notice); once someone has asked someone else a question of their own, or put
    one to the room (``_asks_the_room``), what follows belongs to that exchange, and answers this
    one only when it is addressed to the asker or shares ``REPLY_SHARED_WORDS`` of its content
    ``words`` (two askers in a busy channel: "Can someone help me with TabBar props?", then "@dan
    is there a way to change the interceptor queue?", "That seems pretty standard")."""
    elsewhere = False
    for other in later:
        if _aside(other, question, words):
            continue
        if other.author.id == question.author.id or other.reply_to == question.id or addresses(other, question.author):
            if _answers(question, other, same_conversation=True):
                return True
            continue
        if _speaks_to_someone_else(other, question.author):
            elsewhere = elsewhere or any(ends_in_question(sentence) for sentence in said_sentences(other.text))
            continue
        if _shares_words(words, other):
            return True
        if _asks_the_room(other):
            elsewhere = True
            continue
        if not elsewhere:
            return True
    return False


def _asks_the_room(message: ChannelMessage) -> bool:
    """``message`` asks a question of everyone (``_TO_THE_ROOM``) that says what it is about
    (``MIN_ITEM_WORDS`` content words: "We're good?" after "any last things?" is a reply), and
    speaks to no one."""
    if _speaks_to_you(message):
        return False
    return any(
        ends_in_question(sentence) and _TO_THE_ROOM.search(sentence.translate(APOSTROPHES)) and len(content_words(sentence)) >= MIN_ITEM_WORDS
        for sentence in said_sentences(message.text)
    )


def _aside(message: ChannelMessage, question: ChannelMessage, words: set[str]) -> bool:
    """``message``, by someone other than ``question``'s asker, answers nothing: a pleasantry
    (``is_pleasantry``) that echoes none of the question's words ("Okay, see you." does answer
    "we'll see you for lunch?"), a remark that opens laughing (``LAUGHS_ABOUT``) about none of
    them and not to the asker, or a notice to everyone (``ANNOUNCES``) that shares too few of
    its content ``words`` to be about it."""
    if message.author.id == question.author.id:
        return False
    if is_pleasantry(message):
        echoed = set(plain_words(clean_text(message.text))) & set(plain_words(clean_text(question.text)))
        return not echoed - STOPWORDS
    said = clean_text(message.text)
    if LAUGHS_ABOUT.match(said) and not content_words(said) & words and not addresses(message, question.author):
        return True
    return ANNOUNCES.match(said) is not None and not _shares_words(words, message)


def _reads_as_reply(question: ChannelMessage, words: set[str], first: ChannelMessage | None) -> bool:
    """Whether ``first``, the next message by someone else after a lull, replies to ``question``
    (whose content words are ``words``)."""
    if first is None or _speaks_to_someone_else(first, question.author):
        return False
    return _speaks_to_you(first) or _shares_words(words, first)


def _speaks_to_you(message: ChannelMessage) -> bool:
    """``message`` speaks to someone as "you" (``_SPOKEN_TO``)."""
    return _SPOKEN_TO.search(clean_text(message.text).translate(APOSTROPHES)) is not None


def _speaks_to_someone_else(message: ChannelMessage, asker: Author) -> bool:
    """``message`` @-names someone, and not ``asker``."""
    return MENTION.search(clean_text(message.text)) is not None and not addresses(message, asker)


def _shares_words(words: set[str], message: ChannelMessage) -> bool:
    """``message`` holds ``REPLY_SHARED_WORDS`` of a question's content ``words``."""
    return len(words & content_words(clean_text(message.text))) >= REPLY_SHARED_WORDS


def _answered_later(question: ChannelMessage, words: set[str], later: Sequence[ChannelMessage]) -> bool:
    """Whether a message of ``later`` (the line's conversations after the question's) answers it
    (``_answers``). One that plainly starts an exchange of its own (``_starts_its_own``) does not,
    and what follows it belongs to that exchange unless it is said to the asker or shares
    ``REPLY_SHARED_WORDS`` of the question's content ``words``: "yep" after "@sam can you write
    up the plan?" answers Sam, not "Who owns the guest wifi?" half an hour before."""
    elsewhere = False
    for other in later:
        if other.author.id != question.author.id and (elsewhere or _starts_its_own(other, question.author, words)):
            elsewhere = True
            if other.reply_to != question.id and not addresses(other, question.author) and not _shares_words(words, other):
                continue
        if _answers(question, other):
            return True
    return False


def _starts_its_own(message: ChannelMessage, asker: Author, words: set[str]) -> bool:
    """``message``, after a lull, is no reply to a question by ``asker`` whose content ``words``
    it shares none of: it speaks to someone else by @name ("@sam can you write up the plan?"),
    or it speaks to nobody and asks or decides something of its own ("Decision: we ship on the
    15th" after "What font size are we using?"). A short reply in other words ("Rosa does",
    "March 3rd") still answers, as anything said within ``ANSWER_WINDOW`` does."""
    if _speaks_to_someone_else(message, asker):
        return True
    if content_words(clean_text(message.text)) & words or _speaks_to_you(message):
        return False
    return any(ends_in_question(sentence) for sentence in said_sentences(message.text)) or bool(
        first_sentence_with(message.text, DECISION, statement=True)
    )


def _answers(question: ChannelMessage, other: ChannelMessage, *, same_conversation: bool = False) -> bool:
    """Whether ``other``, said after ``question``, shows that it was answered."""
    asker = question.author
    if other.author.id == asker.id:
        text = clean_text(other.text).translate(APOSTROPHES)
        return RESOLVED.search(text) is not None or (THANKS.search(text) is not None and not ends_in_question(text))
    if same_conversation or other.timestamp - question.timestamp <= ANSWER_WINDOW or other.reply_to == question.id:
        return True
    return addresses(other, asker)
