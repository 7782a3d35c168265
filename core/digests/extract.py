"""Extractive digest candidates: picked from what people wrote, with no model at all.

A 270M-parameter base model cannot be trusted to find the decisions in a day of chat, but
plain patterns can: a question nobody answered ends with "?", a decision says "we'll" or
"agreed", an action item says "I'll" or "can you". These candidates are always available;
the model's notes replace their wording when they are valid (see ``core/digests/summarizing.py``),
so a better model simply makes better digests.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import zip_longest

from core.digests.conversations import Conversation, addresses
from core.text import (
    EMOJI_CODE,
    INLINE_CODE,
    LINK,
    MENTION,
    STOPWORDS,
    THANKS_WORDS,
    WORD,
    content_words,
    keywords,
    opens_as_question,
    sentences,
    split_outside_code,
)
from core.types import Author, ChannelMessage

_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE = re.compile(r"<(https?://[^>]+)>")
_SLACK_MENTION = re.compile(r"<[@#!]([A-Z0-9]+)(?:\|([^>]+))?>")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
# A code block ends the sentence that shows it when what follows starts as a sentence does
# ("I tried your command: [code] I was able to run it" is two).
_AFTER_A_CODE_BLOCK = re.compile(r"(?<=\[code\])\s+(?=[A-Z0-9@\"'(])")
_SPACES = re.compile(r"\s+")
# A topic line says something: "Okay." or "Big buttons, positive." does not.
MIN_TOPIC_WORDS = 4
# Words that open a clause leaning on what was said before it ("or ...", "though ...").
_LEANING_OPENERS = "because|or|whereas|although|though|unless"
# A sentence opening, in lowercase, with one of these words finishes something said before it
# (a leading "and" or "but" is an opener, which ``quotable`` has already dropped).
TAIL_OF_A_THOUGHT = re.compile(rf"(?:by|since|which|{_LEANING_OPENERS})\b")
# A question that opens so leans on the one before it ("Isn't there a `(declare ...)` form? Though
# it may not be needed ...?", "How do I pin it? Or should I fork it?"): alone it says half. "Which"
# and "since" open questions of their own ("Which version are you running?").
_GOES_ON_FROM = re.compile(rf"(?:{_LEANING_OPENERS})\b", re.IGNORECASE)
# Thanks for something ("Thanks @levitanong for pointing out this interop problem") echoes what
# was said; what was said says it better.
THANKING = re.compile(rf"(?:{THANKS_WORDS})\b", re.IGNORECASE)
# Text wholly in brackets is a note an export or a client left, not words anyone said:
# "[message text edited or deleted]", "[image]", "(attachment)", "[file: if-let map destructuring]".
BRACKETED_NOTE = re.compile(r"^\s*[\[(<{][^\[\]()<>{}]{0,80}[\])>}]\s*$")
# Slack's uploads until 2018 said so in a sentence of their own: "@ann uploaded a file: Typing
# tab results in... (https://...)". It names the file, as "[file: title]" does, and says no more.
UPLOAD_NOTICE = re.compile(r"^\s*@\S+ (?:uploaded|shared) an? (?:file|image|snippet|post)\b[^\n]*$", re.IGNORECASE)
# A decision, action item or question needs a few words to be one: "we'll wait outside" is
# not; "I'll open a PR to pin it properly" is. Someone taking work on says it in fewer: "ok,
# will add more details", "I'll file a ticket".
MIN_ITEM_WORDS = 3
MIN_COMMITMENT_WORDS = 2
# A line of pasted output has fewer than this share of plain words among at least this many
# tokens, mentions and links aside (``looks_like_output``): a log pasted line by line is many
# short lines ("nMaxConnections 384", "EXCEPTION: 15dbwrapper_error").
OUTPUT_MIN_TOKENS = 2
OUTPUT_WORD_SHARE = 0.5
# Neither words nor output: a mention, an emoji code, punctuation alone ("...", "|", "->").
_NEUTRAL_TOKEN = re.compile(r"^(?:@\S+|:[\w+-]+:|[^\w]+)$")
# A line of ``git log --decorate`` is output, however many of its words are plain: "ef700c2a1
# (HEAD -> dev, origin/dev) Merge branch 'jl777'".
_GIT_LOG_LINE = re.compile(r"^[0-9a-f]{7,40} \((?:HEAD\b|tag: |origin/)|\(HEAD -> ")
# Centrality divides a line's summed word weights by its number of words to this power:
# 0 would always pick the longest line, 1 the line with the heaviest average word.
LENGTH_DAMPING = 0.7
_EDGE_PUNCTUATION = ".,;:!?\"'()[]…-"
_LEADING_PUNCTUATION = re.compile(r"^[,;:.…\s-]+")
# Spoken hesitations, as speech-to-text and people typing the way they talk write them.
_FILLERS = frozenset(["um", "umm", "uhm", "uh", "uhh", "erm", "mm", "mmm", "hmm", "hm", "mm-hmm", "uh-huh"])
# Short lowercase words that are words, not false starts.
_SHORT_WORDS = frozenset(
    ["a", "i", "x", "ah", "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "if", "in", "is", "it", "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we", "ad", "ai", "ci", "cd", "db", "id", "js", "os", "pc", "pr", "qa", "tv", "ui", "ux", "vm", "vs"]
)
# Articles: one left before an abandoned start goes with it ("The b, uh, we will" -> "We will").
_ARTICLES = frozenset(["the", "a", "an"])
# Openers that carry nothing in a quoted line: "Okay, so um we'll ..." is quoted as "We'll ...".
_OPENERS = frozenset(["okay", "ok", "so", "well", "yeah", "yes", "right", "alright", "and", "but", "oh", "then", "anyway", "now"])

# A vow of effort names no deed to follow up on: "We will endeavour to ...", "I will do everything
# that I can to ...", "we will work very hard and very diligently to ...".
_VOWING = (
    r"(?:\w+ly )?(?:endeavou?r|strive|make every effort|spare no effort|"
    r"do (?:everything|all|whatever) (?:that )?(?:i|we) can|work (?:very |really |so )?hard)\b"
)
# "Be" says how someone or something will be, unless they will be doing something or be in
# charge of it ("we'll be using Postgres", "I'll be responsible for the release").
_BEING = r"be\b(?! (?:\w+ing|responsible|in charge)\b)"
# "We'll be using Postgres" decides; "we'll all be able to see them", "we'll be fine" and
# "we'll be late" say how things will be. Going on as before decides nothing new: "we will
# continue to work with the provinces", "we're going to keep doing the work", "we will
# always uphold the law"; nor does a vow of effort with no deed named ("we will endeavour to
# make sure ...", "we will work very hard to ..."); nor looking forward to something, nor what one will have to
# do ("we'll have to decide about the control", "... then we'll have to go outside our
# current manufacturer", "we'll have to hurry up"), nor what we will have, need or face ("we
# will have a resilient economy", "we'll need a bigger box", "we will face an echo pandemic").
_WE_NOT_A_STATE = (
    rf"(?! (?:all |both )?{_BEING})"
    r"(?!,? (?:of course,? |\w+ly )?(?:continue|keep|always|never|remain|stick to|look forward)\b)"
    rf"(?! (?:sort of |\w+ly )?(?:have|need|face)\b)(?! {_VOWING})"
)
# A rule set for the days to come decides, in the present tense: "From now on we double-check
# addresses on orders over $500", "going forward, everyone reviews their own deploys". What we
# need, hope or have to do going forward decides nothing yet ("going forward, we absolutely will
# need to have more conversations"), nor does a clause that goes on with it ("... right now, and
# going forward, everyone ...").
_FROM_NOW_ON = (
    r"(?:^|(?<=[,;:.!] ))(?:from now on|going forward|from today on),? (?:(?:we|everyone|everybody)\b"
    r"(?!,? (?:\w+ly )?(?:will|'ll|would|need|have|hope|want|continue|keep|should|could|might|may|must|can)\b)|"
    # ... and so does one for every thing of a kind: "Going forward all new laptops ship with
    # disk encryption on", "from now on, every PR needs two approvals".
    r"(?:all|every|each) [\w-]+(?: [\w-]+)? (?!(?:\w+ly )?(?:will|would|should|could|might|may|can)\b)[a-z]+s\b)"
)
# Naming what was chosen, as both a decision and a choice do.
_CHOSEN = (
    r"(?:^|(?<=[,;:.!] ))going with|settled on|we should go with|"
    # A choice already made, told as such: "we went with Postgres", "We dropped the permissions
    # screen", "we switched to weekly releases"; not "we dropped the ball".
    r"we (?:\w+ly )?(?:went with|chose|picked|opted for|switched to|dropped(?! the ball)|decided against)"
)
# What the room agreed on, said as such: "Consensus is to drop the legacy API in v3", "the
# consensus was that we wait"; not "there is no consensus" nor "we need consensus".
_CONSENSUS = r"(?<!no )(?<!any )\bconsensus (?:is|was) (?:to|that)\b"
# An adverb may stand between "we're" and "going to": "we're definitely going to try it".
# Nobody deciding is no decision: "the last time anyone agreed on a regex style", nor is one
# still to come: "each case will be decided on its merits", "the date is yet to be agreed".
# The nouns alone name a decision without taking one ("past that decision", "a political
# decision", "brought us to the conclusion"): only a "Decision:" line counts. "Going with"
# chooses only when someone is ("we're going with Postgres", "going with Postgres then"), not
# in "when I was going with it".
DECISION = re.compile(
    rf"\b(?:(we(?:(?:'ll| will){_WE_NOT_A_STATE}|(?: are|'re)(?: \w+ly)? going to{_WE_NOT_A_STATE}|(?: are|'re)(?: not)? planning (?:on|to)| decided| agreed)|"
    r"(?<!anyone )(?<!anybody )(?<!nobody )(?<!no one )(?<!will be )(?<!to be )(?:decided|agreed)|let'?s|(?:we|i)(?:'re|'m| are| am)(?: \w+ly)? going (?:to go |ahead )?with|"
    rf"{_CHOSEN})\b|(?:decision|conclusion|final call|verdict)s?:|{_FROM_NOW_ON}|{_CONSENSUS})",
    re.IGNORECASE,
)
# A choice names what was chosen, and nothing more need be said: "Let's go with Mailchimp
# then." is a decision with one content word, where "let's see" and "let's do it" need three.
CHOICE = re.compile(
    r"\b(?:(?:let'?s|we(?:'ll| will)|we(?:'re| are)(?: \w+ly)? going to)(?: \w+ly)? "
    rf"(?:go (?:ahead )?with|use|pick|choose|switch to|stick with|stay with)|{_CHOSEN})\b",
    re.IGNORECASE,
)
MIN_CHOICE_WORDS = 1
# "I'll ..." commits to doing something, and so do "I'll be working on ..." and "I'll be
# responsible for ..."; "I'll be late" and "I'm going to be sick" say how someone will be,
# which is nothing to follow up on; nor is "I'll lose the free tests", "I'll need a key",
# "will know for sure in a while", a stance ("I will always be here to stand up for ..."),
# going on as before ("I will continue to focus our efforts on ...") or a vow of effort.
# An utterance cut off after "so I will" commits to nothing.
_NOT_A_STATE = rf"(?!\W*$)(?! (?:lose|need|miss|know|always|never|continue to)\b)(?! {_BEING})(?! {_VOWING})"
# Work under way, said without its subject and nothing more ("Adding that into todo list").
_TAKEN_ON = (
    r"(?:now |currently )?(?:adding|filing|fixing|looking into|working on|investigating|updating)"
    r"(?: (?:it|that|this|them|these|those))?"
    r"(?: (?:now|today|tonight|tomorrow|asap|right away|(?:in)?to (?:(?:my|the|our) )?"
    r"(?:todo|to-do|to do|backlog|notes|tracker|roadmap|list)(?: list)?))?"
)
_BY_A_TIME = (
    r"(?:today|tonight|tomorrow|this (?:morning|afternoon|evening|week)|"
    r"by (?:eod|end of (?:the )?(?:day|week)|tomorrow|monday|tuesday|wednesday|thursday|friday))\b"
)
SELF_ACTION = re.compile(
    rf"\b(i'?ll{_NOT_A_STATE}|i will{_NOT_A_STATE}|i'?m going to{_NOT_A_STATE}|i am going to{_NOT_A_STATE}|"
    # Planning to do something is taking it on, as "we're planning to" decides: "I'm planning to
    # release a tutorial soon".
    rf"(?:i'?m|i am) (?:\w+ly )?planning (?:on|to){_NOT_A_STATE}|"
    r"i can take|will do|(?:i'?m |i am )?on it|i'?ll handle)\b"
    # Chat drops the subject: "ok, will add more details" commits as "I'll add" does; "Will it
    # build?" and "will be fine" do not.
    r"|(?:^|(?<=[,;:] ))will (?!(?:be|know|it|this|that|these|those|there|they|he|she|we|i|you|the|a|an)\b)[a-z]+\b"
    # Work already under way is owned too: "I'm looking into it", "I'm working on a fix".
    r"|\bi'?m (?:now |currently |already )?(?:working on|looking into|investigating|fixing|adding|implementing|"
    r"writing|updating|preparing)\b"
    # Chat drops the subject of work under way too, when the sentence says no more than that:
    # "Adding that into todo list", "Fixing it tonight"; "Adding it to the classpath fixed it"
    # reports what worked.
    rf"|^{_TAKEN_ON}[.!]*$"
    # An offer with a time set is a commitment: "I can export the charts tonight", "I can send it
    # by Friday"; "I can see it today" and "I can reproduce it now" say what someone can do.
    rf"|\bi can (?!(?:see|hear|tell|imagine|understand|reproduce|confirm|say|only|not|also see)\b)(?:[\w'-]+ ){{1,6}}?{_BY_A_TIME}",
    re.IGNORECASE,
)
# Trying out what someone suggested is the speaker's own next step, nothing anyone follows up
# on: "I'll give it a try", "I'll have a read", "I will read the link", "i'll puzzle over this
# tomorrow", "I'll see if that works". "I'll try to fix it tonight" takes the fixing on, so
# "try to" is not one of them.
_SEEING = r"see (?:what happens|if|whether|how)"
_TRYING = (
    r"(?:try(?! to\b)|give (?:it|that|this|them|these) (?:a )?(?:try|go|shot|whirl|spin)|have a read|"
    r"read (?:it|that|this|them|the (?:link|docs?|article|post|thread|paper|book|manual|readme))|"
    r"puzzle over|sleep on|"
    r"play (?:with|around)|mess (?:with|around)|tinker|experiment|wait|read up|check (?:it|that|this|them) out|"
    rf"{_SEEING})"
)
# "I'll have to try it" is still trying it out, and so is a step taken to see what it does:
# "I will DL that version of Ocean and see what happens".
_I_WILL = r"(?:i'?ll|i will|i'?m going to|i am going to|(?:^|(?<=[,;:] ))will) (?:\w+ly )?(?:just )?(?:have to )?"
TRYING_OUT = re.compile(
    rf"\b{_I_WILL}(?:{_TRYING}|(?:[\w'.-]+ ){{1,8}}?and (?:then )?{_SEEING})\b", re.IGNORECASE
)


def tries_out(sentence: str) -> bool:
    """Whether a sentence is the speaker trying out what someone suggested (``TRYING_OUT``)."""
    return TRYING_OUT.search(sentence.translate(APOSTROPHES)) is not None


# A commitment with no time but a vague one is not yet one (the labelling guide's "I should
# look into it someday"): "I'll have a look at compiling when it's less hectic for me", "I'll
# port it at some point", "I'll write it up one of these days", "When it happens, I'll release
# it". "If I get time next week I'll set up something reproducible" names a week, and stays.
SOMEDAY = re.compile(
    r"\b(?:some ?day|one day|one of these days|at some point|eventually|sometime|in the (?:distant|far) future|"
    r"(?:when|whenever|if) (?:it|that) (?:ever )?happens|if ever|"
    r"when (?:it'?s|things are|things get|i'?m|life is) (?:\w+ )?(?:less (?:hectic|busy)|quieter|calmer)|"
    r"when i (?:ever )?(?:get|find|have) (?:a |the |some )?(?:spare |free )?(?:chance|moment|minute|time))\b",
    re.IGNORECASE,
)
# "Thanks @ann - I'll take a look at that" is the asker acknowledging a pointer; the same
# words without thanks ("I'll take a look at the crash tonight") take something on.
LOOKING = re.compile(rf"\b{_I_WILL}(?:(?:take|have) a (?:\w+ )?look|look (?:at|into) (?:it|that|this|them))\b", re.IGNORECASE)
# A maintainer promising what the product will do commits the team: "it will be implemented
# in the near future", "it will definitely support WIF import before it leaves beta".
PROMISED = re.compile(
    r"(?:^|(?<=[,;:] )|\b(?:and|but|so) )(?:it|this|that) will (?:\w+ly )?(?:be (?:implemented|fixed|added|released|"
    r"merged|supported|updated|shipped|included)|support|include|ship)\b",
    re.IGNORECASE,
)
# Running the meeting, not deciding or taking anything on: "We're going to move on now to talk
# about reform", "We will now proceed to Statements by Members", "I'm going to speak about
# technical functions", "I'll show you the notes", "I'll be sharing my time with the member",
# "I will just repeat that ...", "I'll ask a question similar to the last one".
# Verbs that also take work on ("I'll remind John to renew it", "I'll go over the PR") count
# only with what marks them as talk.
_STEERING = (
    r"\b(?:we|i)(?:'ll| will|'re| are|'m| am)?(?: going to| gonna)?(?: be)? "
    r"(?:now |next |just |then |first |straight |\w+ly )?"
    r"(?:mov(?:e|ing) on|turn(?:ing)? (?:it )?(?:over )?to|talk(?:ing)? about|start(?:ing)? (?:with|by|off)|"
    r"begin(?:ning)? (?:with|by)|hear(?:ing)? from|go(?:ing)? (?:on |straight |back )(?:now )?(?:in)?to|"
    r"go(?:ing)? (?:in)?to (?:questions?|the next|item)|come (?:on)?to|proceed(?:ing)? to|carry on|"
    # The chair passing the word on and keeping time: "We'll now go to the honourable member for
    # Hamilton Mountain", "we'll go to the last five-minute round", "We'll take a short break",
    # "We'll wait a few seconds before moving on".
    r"go(?:ing)? to (?:[\w'-]+ ){0,5}?(?:member|minister|senator|speaker|witness|round|interventions?)s?|"
    r"tak(?:e|ing) (?:a|our) (?:\w+ )?(?:break|pause|recess)|wait(?:ing)? a (?:few )?(?:seconds?|moments?|minutes?)|"
    r"ask(?:ing)? (?:it |that |the question )?again|"
    r"go(?:ing)? (?:through|over) (?:each|every|all|your|our|my|the (?:agenda|presentations?|slides|minutes))|"
    r"(?:get|look at|have) (?:your|the|our|some|more) presentations?|speak(?:ing)? (?:about|on)|"
    r"say(?:ing)?\b|(?:mention|explain)(?:ing)? (?:that|this|something|a few words|why)|remind(?:ing)? (?:\w+ ){1,3}that|"
    r"repeat(?:ing)? (?:that|what|myself|the question|my question)|ask(?:ing)? (?:a|my|another|one) (?:\w+ )?question|"
    r"tell(?:ing)? you (?:something|about|a (?:bit|little))|show(?:ing)? you|sum(?:ming)? up|"
    # Saying something is no work either: "I will tell him, though, that we respect ...", "I will
    # sadly report that ...", "I'll just indicate to the person asking"; "I'll tell Dan to fix
    # it" and "I'll report back" still take something on.
    r"tell(?:ing)? (?:him|her|them|you|the \w+),? (?:though,? )?that|report(?:ing)? that|indicat(?:e|ing) to|"
    r"summari[sz](?:e|ing)|finish(?:ing)? (?:up|off) with|tak(?:e|ing) this opportunity|"
    r"address(?:ing)? my question|(?:shar|split)(?:e|ing|ting)? my time|put my question|hand(?:ing)? (?:it )?over|"
    # Giving someone the floor: "We will now give the floor to the member for Leeds", "I'll call
    # on the minister to respond" (calling on someone to do something else is still work).
    r"giv(?:e|ing) (?:\w+ )?(?:the )?floor|call(?:ing)? (?:up)?on (?:[\w'-]+ ){1,4}to (?:respond|reply|answer|speak|comment))\b"
)
# Talk about the conversation itself, not an outcome: "let's start", "let's see what's next",
# "I'll see you in half an hour", "I'll save it now"; and a supposition ("let's say I have
# some code that ...") sets up a question, it decides nothing. Neither a decision nor an action item
# anyone has to follow up on (what happens "now" happens in the conversation itself).
PROCEDURE = re.compile(
    _STEERING + r"|"
    r"\blet'?s (?:just |now |then )?(?:start|begin|see|talk|discuss|look|have a look|move on|continue|wait|"
    r"go ahead|get started|wrap|go on|go through|go back|head back|get back to (?:work|business|the (?:topic|agenda|point|subject)|what|where)|"
    r"say|assume|suppose|imagine|pretend|figure|"
    r"go to (?:another|the next))\b|"
    # How something is said decides nothing: "Let's be absolutely clear what this Government has
    # done", "let's be honest, nobody reads the changelog".
    r"\blet'?s be (?:\w+ly )?(?:honest|clear|frank|fair|realistic|serious)\b|"
    # A notice and keeping to time ask nothing of anyone: "Please note that the sitting is
    # televised", "Ask a brief question, please", "in 30 seconds or less".
    r"\bplease note\b|\b(?:keep it|be|very|quite) brief(?:ly)?\b|\b(?:brief|short) (?:question|response|answer)|"
    r"\bseconds or less\b|"
    # Inviting someone to speak asks for no work: "I just wanted to check there wasn't anything
    # you wanted to add, please", "anything else to add?".
    r"\banything (?:else |more |further )?(?:(?:you|he|she|they)(?: want(?:ed)?| would like|'d like| wish(?:ed)?) )?to add\b"
    r"(?! (?:to|an?|the|some|it|this|that)\b)|"
    # What is put "here" is put in the room or the thread itself: "yep I'll just switch that back
    # here", "I am going to put it in here", "I'll paste the log here"; not "... here tomorrow".
    rf"\b(?:put|paste|post|drop|switch|leave|write|jot|type|pop|copy)\b(?: [\w'-]+){{0,3}} (?:in |over |back |up |down )?here\b"
    rf"(?!(?: [\w'-]+){{0,4}} {_BY_A_TIME})|"
    r"\b(?:see you|in a (?:second|sec|minute|moment|bit)|half an hour|"
    r"(?:do|say|show|tell you|explain|draw) (?:it |this |that )?now|now\W*$)",
    re.IGNORECASE,
)
# A hedge makes a sentence a proposal or a guess, not a decision or a commitment: "I think
# we'll start with ...", "maybe I'll look at it", "we'll probably use ...", "hopefully I'll
# get some answers". Deliberating leaves the matter open too: "we'll need to think carefully
# about the costs", "I'll think it over", "we'll consider the rubber case", "we'll see about
# the costs".
HEDGE = re.compile(
    r"\b(i think|i guess|i suppose|i don'?t know|not sure|maybe|perhaps|probably|hopefully|i hope|might|"
    # A forecast, however sure, is no decision: "I am certain that, together, we will get through it".
    r"i(?:'m| am) (?:\w+ly )?(?:sure|certain|confident|convinced)|"
    r"think (?:carefully|hard|twice|(?:it )?over|through|about)|consider(?:ing)?|mull(?:ing)? (?:it |this |that )?over|"
    # "We'll discuss the trade-offs" leaves them open; "I'll discuss it with Dan" takes a talk on.
    r"discuss(?:ing)?(?!(?: \S+){0,3} with\b)|"
    r"ponder(?:ing)?|reflect(?:ing)? on|we(?:'ll| will) see|"
    # Waiting to see puts the matter off: "we'll wait to see what they come up with", "we'll
    # wait until we see that arising", "we'll cross that bridge later".
    r"wait(?:ing)? (?:and|to|until (?:we|i|you|they) (?:can )?) ?see|cross (?:that|the) bridge)\b|"
    # So does coming back to it: "If it changes, we will come back.", "we'll come back to this
    # later"; "I'll come back to you with the numbers" takes something on.
    r"\bcome back(?: to (?:it|this|that|(?:the|this|that) [\w'-]+(?: [\w'-]+)?))?(?: (?:later|another time|next (?:time|week)))?[\s.!]*$",
    re.IGNORECASE,
)
# "I think we've settled on top-level only" reports a decision politely; a settled outcome
# outweighs "I think" (but not "maybe" or "probably").
_SETTLED = re.compile(r"\bwe(?:'ve| have)? (?:decided|agreed|settled on)\b", re.IGNORECASE)
_POLITE_HEDGE = re.compile(r"\bi (?:think|guess|suppose)\b", re.IGNORECASE)
# "We'll ..." and "I'll ..." decide or commit only in a main clause: at the start of a
# sentence or clause, or after a word that opens one ("so we'll ship it", "okay, I'll
# open a PR"). After anything else they describe something instead: "the tools that we'll
# be using", "this tool we're going to design", "if I'll have a look", "what I'm going to
# design".
_SPEAKER_LED = re.compile(r"^(?:we|i)\b", re.IGNORECASE)
# A sentence that opens with a condition or a time has its main clause later: "If I get time
# next week I'll set up something reproducible."
_SUBORDINATE_LED = re.compile(r"^(?:if|when|once|after|as soon as|before)\b", re.IGNORECASE)
# Said as a clause of their own or not at all: "lets" for "let's" ("this lets us ..." is the
# verb), "will do" ("tools that will do the libraries"), "on it" ("click on it").
_CLAUSE_LED = re.compile(r"^(?:lets|will do|(?:i'?m |i am )?on it)$", re.IGNORECASE)
# Typographic apostrophes ("I’ll", "we’re", as phones and Slack write them) read as plain ones.
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_CLAUSE_OPENERS = frozenset(
    ["and", "so", "but", "then", "now", "also", "ok", "okay", "alright", "right", "yes", "yeah", "yep", "yup",
     "well", "oh", "sure", "fine", "good", "great", "cool", "first", "next", "finally", "today", "tomorrow"]
)
# "Can you stake KMD in this wallet?" is a question about the world, not a request: an asked
# action counts only when someone is named (or replied to), or when it is not a question.
# A sentence opening with one of these quotes someone else.
_QUOTE_MARKS = frozenset("\"“„«")
# "To please" reports a request, or pleases someone: "the message to parents is to please make
# sure ...", "I am asking the minister to please ...".
ASKED_ACTION = re.compile(r"\b(can you|could you|would you|(?<!\bto )please|pls|todo|to-do|action item)\b", re.IGNORECASE)
# "Can you clarify what you mean?" asks for an answer, not for work: a question, not an item;
# so do "can you be a little more specific?" and "can you vouch that it is safe?".
ASKED_TO_EXPLAIN = re.compile(
    r"\b(?:can|could|would) you (?:please )?(?:clarify|explain|elaborate|describe|tell (?:me|us)|"
    r"give (?:me|us) (?:some |an? |more )?(?:insight|idea|details|info|information|explanation|hint)|"
    r"vouch|be (?:\S+ ){0,3}?more (?:specific|precise|clear))\b",
    re.IGNORECASE,
)
# "Would you be available to go on stage on Feb 14th?" and "would you consider adding a test
# jar?" ask whether someone is free or interested, which they answer; nobody owes work yet.
# "Would you be able to send us the figures?" is a polite request, and stays one.
ASKED_IF_WILLING = re.compile(
    r"\b(?:would|could|will|are|were) you (?:\w+ )?(?:consider(?:ing)?|be (?:\w+ )?(?:available|interested|open to|"
    r"up for|free))\b",
    re.IGNORECASE,
)
# A step the one being helped is asked to try, not work anyone follows up on (the labelling
# guide's "not a suggestion to the asker of what they could try"): "could you try the latest
# build?", "please connect your ledger and check the balance shown there", "can you restart
# your wallet?". A request to do something to the team's things stays an action item: "please
# restart the build agent", "could you open an issue?".
_STEP = (
    r"(?:check|restart|reboot|reinstall|re-install|install|uninstall|update|upgrade|downgrade|connect|reconnect|"
    r"disconnect|unplug|plug in|rescan|resync|re-sync|sync|refresh|reload|clear|reset|run|rerun|re-run|launch|start|"
    r"close|open|delete|remove|rename|move|enable|disable|switch|change|set|verify|confirm|make sure|look (?:at|in|for)|"
    r"search|click|select|log (?:in|out)|sign (?:in|out)|go to|back up|backup|export|import)"
)
ASKED_STEP = re.compile(
    r"\b(?:(?:can|could|would|will) you|please|pls)(?: (?:please|pls|just|also|first|maybe|now|then|quickly))* "
    rf"(?:try\b|{_STEP}\b(?: [\w'-]+){{0,3}}? your\b)",
    re.IGNORECASE,
)
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
# A question put to the room ("Has anyone heard back from the landlord?", "Where do we keep the
# brand assets?") starts an exchange of its own: it answers no earlier question, nor does the
# reply it gets, unless either speaks to that asker or shares the question's words. A question
# put to the asker ("Which version are you running?") is a reply.
_TO_THE_ROOM = re.compile(
    r"\b(?:anyone|anybody|someone|somebody|everyone|everybody|we|our|us|folks|guys|team|y'?all)\b", re.IGNORECASE
)
REPLY_SHARED_WORDS = 2
# An asker thanking someone later got an answer, however late ("@Oszy Thanks" five hours on);
# "thanks in advance" is said before any answer, so it does not count.
THANKS = re.compile(rf"\b(?:{THANKS_WORDS})\b(?! in advance)", re.IGNORECASE)


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


# A digest reads each message's text many times (weights, topics, labels, later answers to a
# question), and cleaning it is the costly part.
@functools.lru_cache(maxsize=8192)
def clean_text(text: str) -> str:
    """Chat markup made readable: link labels, mention names, code blocks shown as [code];
    spoken hesitations removed (see ``tidy_speech``)."""
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_BARE.sub(r"\1", text)
    text = _SLACK_MENTION.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CODE_BLOCK.sub(" [code] ", text)
    return tidy_speech(_SPACES.sub(" ", text).strip())


def plain_words(text: str) -> list[str]:
    """The words of ``text`` without links, emoji codes and mentions, lower-cased."""
    text = LINK.sub(" ", text)
    text = EMOJI_CODE.sub(" ", text.lower())
    text = MENTION.sub(" ", text)
    return [word.lower() for word in WORD.findall(text)]


def is_pleasantry(message: ChannelMessage) -> bool:
    """``message`` says nothing but pleasantries (``PLEASANTRY_WORDS``, taking leave) and asks
    nothing: it answers no one's question. An emoji alone may be an answer (a thumbs-up)."""
    text = clean_text(message.text)
    if "?" in text:
        return False
    said = [w for w in plain_words(text) if w not in STOPWORDS]
    return bool(said) and all(w in PLEASANTRY_WORDS or w in _TAKING_LEAVE_WORDS for w in said)


def _core(token: str) -> str:
    return token.strip(_EDGE_PUNCTUATION).lower()


def tidy_speech(text: str) -> str:
    """Hesitations out of a line of speech or chat: fillers ("um", "uh"), a word said twice
    ("the the"), and false starts ("th that", "the b we will"). Transcribed meetings and
    voice notes are full of them and they are noise in a quote; the model reads fewer
    tokens too. Conservative on purpose: only lowercase fragments count as false starts,
    so abbreviations typed in chat ("db", "C", "ui") stay."""
    tokens = text.split(" ")
    kept: list[str] = []
    capitalize = False
    for index, token in enumerate(tokens):
        core = _core(token)
        if not token:
            continue
        if core in _FILLERS:
            tail = token.rstrip(_EDGE_PUNCTUATION.replace(",", ""))
            ending = token[len(tail):] if tail != token else ""
            if ending.strip(",") and kept and not kept[-1].endswith(tuple(".!?")):
                kept[-1] = kept[-1].rstrip(",;:") + ending.strip(",")[:1]
            continue
        if kept and core and _core(kept[-1]) == core and not kept[-1].endswith(tuple(",;:.!?")):
            kept[-1] = token  # "the the": say it once
            continue
        following = next((_core(t) for t in tokens[index + 1 :] if _core(t) not in _FILLERS and t), "")
        fragment = token.isalpha() and token.islower() and len(token) <= 2 and token not in _SHORT_WORDS
        if fragment and following.isalpha() and (len(token) == 1 or following.startswith(token)) and following != token:
            # A false start: "th that", "the b we will". An article before a one-letter start
            # of something else began the abandoned phrase, so it goes too ("The b we will" ->
            # "We will"); before a restart of the same word it stays ("the b build" -> "the build").
            if len(token) == 1 and not following.startswith(token) and kept and _core(kept[-1]) in _ARTICLES:
                capitalize = capitalize or (len(kept) == 1 and kept[0][:1].isupper())
                kept.pop()
            continue
        if capitalize and not kept:
            token = token[:1].upper() + token[1:]
        capitalize = False
        kept.append(token)
    tidy = " ".join(_said_once(kept)).strip()
    tidy = _LEADING_PUNCTUATION.sub("", tidy)
    return tidy if tidy else text


def _said_once(tokens: list[str]) -> list[str]:
    """A two- or three-word phrase said twice in a row is said once: "you can you can ask"
    -> "you can ask" (a restart, which also made "can you" out of "you can"). The second
    saying's closing punctuation stays ("We can we can." -> "We can.")."""
    result: list[str] = []
    for token in tokens:
        result.append(token)
        for size in (3, 2):
            if len(result) >= 2 * size:
                first = result[-2 * size : -size]
                second = result[-size:]
                if [_core(t) for t in first] == [_core(t) for t in second] and not first[-1].endswith(tuple(",;:.!?")):
                    closing = second[-1][len(second[-1].rstrip(",;:.!?…")) :]
                    del result[-size:]
                    result[-1] += closing
                    break
    return result


def shorten(text: str, *, words: int = 24, chars: int = 180) -> str:
    """At most ``words`` words and about ``chars`` characters, with an ellipsis when cut
    (display only: what the model reads is never cut). A pasted error line has few spaces,
    so the character limit is what keeps it a bullet and not a wall."""
    parts = text.split()
    short = " ".join(parts[:words])
    if len(short) > chars:
        cut = short.rfind(" ", 0, chars)
        short = short[: cut if cut > chars // 2 else chars]
    if short == " ".join(parts):
        return text
    return short.rstrip(",;: ") + "…"


@dataclass(frozen=True)
class Candidate:
    """A bullet picked from the messages: its kind, its text and the messages behind it."""

    kind: str  # "topic" | "decision" | "action" | "question"
    text: str
    messages: tuple[ChannelMessage, ...]
    # The sentence quoted, whole and without the owner's name: how two items of one message
    # are told apart.
    sentence: str = ""


def name_words(names: Iterable[str]) -> frozenset[str]:
    """The content words of participants' names ("Project Manager" -> project, manag)."""
    return frozenset(word for name in names for word in content_words(name))


def word_weights(messages: Sequence[ChannelMessage], *, names: Collection[str] = ()) -> Counter[str]:
    """How many of ``messages`` use each content word: what a run of messages is about. A line
    quoted with ">" repeats someone's words (often a pasted error), so it does not count again."""
    return Counter(word for m in messages for word in content_words(" ".join(said_sentences(m.text)), names=names))


def centrality(text: str, weights: Mapping[str, float], *, names: Collection[str] = ()) -> float:
    """How much of what a run of messages is about ``text`` says: the weights of its content
    words, summed, over their number to the power ``LENGTH_DAMPING`` (a long line scores by
    holding more of the frequent words, not by being long)."""
    words = content_words(text, names=names)
    if not words:
        return 0.0
    total: float = sum(weights.get(w, 0.0) for w in words)
    damping: float = len(words) ** LENGTH_DAMPING
    return total / damping


def quotable(sentence: str) -> str:
    """A sentence as a bullet quotes it: openers ("Okay, so ...") dropped, and then the new
    first word capitalised (what the writer capitalised, or not, is left alone)."""
    words = sentence.split()
    if len(words) < 2 or _core(words[0]) not in _OPENERS:
        return sentence
    while len(words) > 1 and _core(words[0]) in _OPENERS:
        words = words[1:]
    text = " ".join(words).lstrip(",;: ")
    return text[:1].upper() + text[1:] if text else sentence


def central_message(messages: Sequence[ChannelMessage]) -> ChannelMessage:
    """The message sharing the most keywords with the rest of the conversation: the one a
    reader would quote to say what it was about. Ties go to the earlier message."""
    bags = [keywords(clean_text(m.text)) for m in messages]
    if len(messages) == 1:
        return messages[0]
    totals: Counter[str] = Counter(word for bag in bags for word in bag)

    def score(index: int) -> float:
        bag = bags[index]
        if len(bag) < 2:
            return -1.0
        shared = sum(totals[word] - 1 for word in bag)
        # Questions that open a conversation are usually what it is about.
        bonus = 1.5 if index == 0 and "?" in messages[0].text else 1.0
        return float(bonus * shared / (len(bag) ** 0.5))

    best = max(range(len(messages)), key=lambda i: (score(i), -i))
    return messages[best]


def looks_like_output(line: str) -> bool:
    """A pasted log, command or code line outside a code block: "chainparams_commandline called
    call komodo_args.(/home/wallet/komodo/src/komodod) NOTARY_PUBKEY.() initialized at
    1576835974 ...". Fewer than half its tokens are plain words."""
    if _GIT_LOG_LINE.search(line):
        return True
    line = INLINE_CODE.sub(" `code` ", line)  # a code span is one thing said, however long
    tokens = [token for token in line.split() if not _NEUTRAL_TOKEN.match(token) and not LINK.match(token)]
    if len(tokens) < OUTPUT_MIN_TOKENS:
        return False
    return sum(1 for token in tokens if _plain_word(token)) < OUTPUT_WORD_SHARE * len(tokens)


def _plain_word(token: str) -> bool:
    """A word as people write it, in any alphabet: "Database", "don't", "EXCEPTION", "кложуре";
    not "nMaxConnections", "15dbwrapper_error" or "komodo_args.(/home/wallet)"."""
    word = token.strip(_EDGE_PUNCTUATION + "“”‘’").replace("'", "").replace("’", "")
    return word.isalpha() and (word[1:].islower() or word.isupper() or len(word) == 1)


def lines_without_output(text: str) -> list[str]:
    """A message's lines as written, a code block as "[code]", without its lines of pasted
    output (``looks_like_output``)."""
    lines = _CODE_BLOCK.sub(" [code] ", text).splitlines()
    return [line for line in lines if not looks_like_output(clean_text(line))]


def said_lines(text: str) -> list[str]:
    """A message's own lines, cleaned (``clean_text``): a code block is "[code]"; a line quoted
    with ">" is someone else's words and a pasted log line nobody's, so both are left out."""
    said = (clean_text(line) for line in lines_without_output(text) if not line.lstrip().startswith(">"))
    return [line for line in said if line]


def said_sentences(text: str) -> list[str]:
    """A message's own sentences (``said_lines``). A line break ends one: chat writes a link,
    then "I will notify our host" on the next line, with no full stop between; a code block
    ends one before a capital (``_AFTER_A_CODE_BLOCK``)."""
    return [
        part
        for line in said_lines(text)
        for sentence in sentences(line)
        for part in _AFTER_A_CODE_BLOCK.split(sentence)
    ]


def _asks(sentence: str) -> bool:
    """A question, also when a pasted error follows its "?" ("... in lumo?: [code]"); not one
    someone else asked, in quotation marks."""
    said = sentence.rstrip(" :.").removesuffix("[code]").rstrip(" :.")
    return said.endswith("?") and not _inside(_quoted_spans(said), len(said) - 1)


def _put_as_question(sentence: str) -> bool:
    """A question by its "?", or by how it opens when chat drops the "?" ("any advice please",
    "can i ask for help please", "anyone know how to pin a dependency")."""
    return _asks(sentence) or opens_as_question(sentence)


_AFTER_A_QUESTION = re.compile(r"(?<=\?)\s+(?=\w)")


# Speech cut off mid-clause says nothing to act on: "If you right click on it you can", "you
# could view it as the age at the time of the". An item never breaks off on a word that needs
# another after it; "we'll help in any way we can." was finished.
_UNFINISHED = re.compile(
    r"\b(?:the|a|an|of|to|for|with|from|into|at|by|can|could|would|will|should|must|my|your|our|their|its|his|her)"
    r"\s*(?:—|–|-|…|\.\.\.)?\s*$",
    re.IGNORECASE,
)


def _first_sentence_with(
    text: str,
    pattern: re.Pattern[str],
    *,
    statement: bool = False,
    skipping: Sequence[re.Pattern[str]] = (),
    min_words: int = MIN_ITEM_WORDS,
) -> str | None:
    """The first sentence of a message matching ``pattern`` that says something
    (``min_words`` content words), as a bullet quotes it; talk about the conversation itself never
    counts, and with ``statement`` (a decision or a commitment) neither do questions and
    hedged guesses. Nor does a sentence ``skipping`` finds in."""
    if statement and text.lstrip()[:1] in _QUOTE_MARKS:
        return None  # a message that opens with a quote quotes someone ("A function provides ... I will provide ...")
    # Chat runs a question into what follows ("how do you come to that conclusion? certainly
    # ..."): the question is a sentence of its own here, and never a statement.
    parts = (part for sentence in said_sentences(text) for part in split_outside_code(_AFTER_A_QUESTION, sentence))
    for sentence in parts:
        read = sentence.translate(APOSTROPHES)
        if statement and _asks(read):
            continue
        if PROCEDURE.search(read) or any(skip.search(read) for skip in skipping):
            continue
        if statement and HEDGE.search(_POLITE_HEDGE.sub("", read) if _SETTLED.search(read) else read):
            continue
        if _says(read, pattern) and len(content_words(sentence)) >= min_words and not _UNFINISHED.search(read):
            return quotable(sentence)
    return None


_ADDRESSED = re.compile(r"^\s*(?:(?:hey|hi|hello)\b\W*)?(?:@[\w.\-]+[,:]?\s*)+")
# Words in quotation marks are someone else's, reported: "they keep saying, 'Please can we have
# this offer?'", "somebody can say, 'Well, I'm going to go back into work'". An apostrophe
# inside a word ("I'm") does not end a single-quoted span, nor does a mark after a number open
# one (a 12" screen).
_QUOTED = re.compile(r"(?<!\w)[\"“„«][^\"“”„«»]*[\"”»](?!\w)|(?<!\w)'(?:[^']|(?<=\w)'(?=\w))*'(?!\w)")


# A quotation a sentence break cut in two: a double mark that opens with no close runs to the
# sentence's end ('Quote: "Also: what if ... stop working?'), and one that closes with no open
# runs from its start ('Seems like a time bomb." could be warned at build time'). A mark after
# a number closes nothing (a 12" screen).
_OPENS = re.compile(r"(?<!\w)[\"“„«](?=\S)")
_CLOSES = re.compile(r"(?<=[^\W\d_]|[.!?,])[\"”»](?!\w)")


Span = tuple[int, int]


def _whole_quotations(sentence: str) -> list[Span]:
    return [(span.start(), span.end()) for span in _QUOTED.finditer(sentence)]


def _cut_spans(sentence: str, whole: Sequence[Span]) -> list[Span]:
    """The halves of quotations a sentence break cut in two, outside the ``whole`` ones."""
    outside = list(sentence)
    for start, end in whole:
        outside[start:end] = " " * (end - start)
    blanked = "".join(outside)
    opening, closing = _OPENS.search(blanked), _CLOSES.search(blanked)
    spans = []
    if opening and not (closing and closing.start() > opening.start()):
        spans.append((opening.start(), len(sentence)))
    if closing and not (opening and opening.start() < closing.start()):
        spans.append((-1, closing.end()))
    return spans


def _quoted_spans(sentence: str) -> list[Span]:
    """Every span of a sentence in quotation marks, whole or cut by a sentence break."""
    whole = _whole_quotations(sentence)
    return whole + _cut_spans(sentence, whole)


def _inside(spans: Sequence[Span], position: int) -> bool:
    return any(start < position < end for start, end in spans)


def _cut_quotation(sentence: str) -> bool:
    """Whether a sentence holds half of a quotation a sentence break cut in two."""
    return bool(_cut_spans(sentence, _whole_quotations(sentence)))


def _says(sentence: str, pattern: re.Pattern[str]) -> bool:
    """``pattern`` occurs in ``sentence`` as something said, not described or reported: a
    "we'll", an "I'll" or one of ``_CLAUSE_LED`` counts only where a clause starts
    (``_SPEAKER_LED``, ``_CLAUSE_OPENERS``), and nothing counts inside quotation marks."""
    matches = list(pattern.finditer(sentence))
    quoted = _quoted_spans(sentence) if matches else []  # read once, for every match
    for match in matches:
        said = match.group(0)
        if _inside(quoted, match.start()):
            continue  # reported, not said
        clause_led = _CLAUSE_LED.match(said) is not None
        if clause_led:
            pass  # only where a clause starts: "this lets us", "tools that will do", "click on it"
        elif not _SPEAKER_LED.match(said) or pattern.search(_SPEAKER_LED.sub("", said)):
            return True  # not led by "we"/"I", or still a match without it ("we decided")
        # Whom a message is addressed to stands before its first clause: "@ann I'll open a PR".
        before = _ADDRESSED.sub("", sentence[: match.start()]).rstrip()
        if not before or before[-1] in ",;:.!?()\"'-–—…":
            return True
        if _core(before.split()[-1]) in _CLAUSE_OPENERS:
            return True
        if not clause_led and _SUBORDINATE_LED.match(before) and len(before.split()) > 2:
            # "If I get time next week I'll ...", not "if I'll have a look"; a bare "on it" has
            # no subject to start a clause with ("If you right click on it you can").
            return True
    return False


def topic(
    messages: Sequence[ChannelMessage],
    *,
    background: Mapping[str, float] | None = None,
    names: Collection[str] = (),
    avoid: Collection[str] = (),
) -> Candidate:
    """What a run of messages was about: its most central informative sentence, from a
    message outside ``avoid`` (ids of messages the digest lists as items) where another says
    something.

    Every sentence of at least ``MIN_TOPIC_WORDS`` content words (names not counted) is a
    candidate, as a bullet would show it; it scores by how many of the run's frequent words
    it holds (``centrality``), with ``background`` (the whole window's word weights, scaled
    by the caller) breaking ties toward what the day was about. "Okay." and "Big buttons,
    positive." are never a topic while a run has a real sentence. A run without one falls
    back to its central message's first sentence."""
    local = word_weights(messages, names=names)
    weights: dict[str, float] = {w: float(n - 1) for w, n in local.items()}
    for word, weight in (background or {}).items():
        weights[word] = weights.get(word, 0.0) + weight
    best: tuple[tuple[int, float, float], str, ChannelMessage] | None = None
    for index, message in enumerate(messages):
        said = said_sentences(message.text)
        for sentence in said or [clean_text(message.text)]:
            text = shorten(quotable(sentence))
            count = len(content_words(text, names=names))
            # An upload's "[file: title]" holds the conversation's words, but says nothing; nor
            # does a message of nothing but pasted output, or a sentence that is only a code
            # span (`ssh://github.com/user/project.git`).
            note = BRACKETED_NOTE.match(text) is not None or not said or _only_code(text)
            informative = count >= MIN_TOPIC_WORDS and not note
            # Below the minimum, the sentence saying most stands in ("Okay." never does
            # while anything longer was said). A listed item's sentence ranks below any other
            # that says something ("The changelog is not finished yet.").
            says_something = count >= 2 and not note
            fresh = message.id not in avoid
            # The tail of a thought ("by detecting a manifest file like deps.edn") is read only
            # after what it finishes, and thanks after what they thank for: any sentence that
            # stands alone ranks above them, and so does any above half a quotation.
            whole = TAIL_OF_A_THOUGHT.match(text) is None and THANKING.match(text) is None and not _cut_quotation(text)
            tier = (4 if whole else 3) if informative and fresh else 2 if fresh and says_something else 1 if informative else 0
            score = (tier, centrality(text, weights, names=names) if informative else float(count), -index)
            if best is None or score > best[0]:
                best = (score, text, message)
    if best is None:  # no text at all: meaningful() keeps no such message, but be safe
        best = ((0, 0.0, 0.0), shorten(clean_text(messages[0].text)), messages[0])
    _, text, center = best
    sources = tuple(dict.fromkeys((messages[0], center)))
    return Candidate("topic", text, sources)


def _only_code(sentence: str) -> bool:
    return INLINE_CODE.search(sentence) is not None and not INLINE_CODE.sub("", sentence).strip(" .,;:!?()-")


def _is_question(sentence: str) -> bool:
    return (
        _put_as_question(sentence)
        and len(content_words(sentence)) >= MIN_ITEM_WORDS
        and not _wants_no_answer(sentence)
        and not COURTESY.match(quotable(sentence))  # "Well, can I thank you all ...?" too
        and not TAG_QUESTION.search(sentence.translate(APOSTROPHES))
    )


def _wants_no_answer(sentence: str) -> bool:
    """A sentence put as a question that nobody need answer, long or short: a request to get in
    touch, a call for assent, a helper's check-in, a guess."""
    return (
        CONTACT_REQUEST.search(sentence) is not None
        or CALL_FOR_ASSENT.match(sentence) is not None
        or CHECK_IN.search(sentence.translate(APOSTROPHES)) is not None
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
        if index == 0 or not _put_as_question(sentence) or _is_question(sentence) or not _WORD.search(sentence):
            continue
        if _BARE_TAG.match(sentence) or _wants_no_answer(sentence):
            continue
        before = [s for s in said[:index] if not _asks(s) and len(content_words(s)) >= MIN_TOPIC_WORDS]
        if before:
            question = quotable(sentence)
            room = len(question.split())
            return f"{shorten(quotable(before[-1]), words=24 - room, chars=180 - len(question) - 1)} {question}"
    return None


def _question_first(sentence: str) -> list[str]:
    """A sentence that runs on after its question ("does `testing` work for async tests? it does
    not seem so") read as the question and the rest; one that ends in a question stays whole."""
    if _asks(sentence):
        return [sentence]
    return split_outside_code(_AFTER_A_QUESTION, sentence)


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
    if index > 0 and _GOES_ON_FROM.match(question) and _put_as_question(said[index - 1]):
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
            elsewhere = elsewhere or any(_asks(sentence) for sentence in said_sentences(other.text))
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
        _asks(sentence) and _TO_THE_ROOM.search(sentence.translate(APOSTROPHES)) and len(content_words(sentence)) >= MIN_ITEM_WORDS
        for sentence in said_sentences(message.text)
    )


def _aside(message: ChannelMessage, question: ChannelMessage, words: set[str]) -> bool:
    """``message``, by someone other than ``question``'s asker, answers nothing: a pleasantry
    (``is_pleasantry``) that echoes none of the question's words ("Okay, see you." does answer
    "we'll see you for lunch?"), or a notice to everyone (``ANNOUNCES``) that shares too few of
    its content ``words`` to be about it."""
    if message.author.id == question.author.id:
        return False
    if is_pleasantry(message):
        echoed = set(plain_words(clean_text(message.text))) & set(plain_words(clean_text(question.text)))
        return not echoed - STOPWORDS
    return ANNOUNCES.match(clean_text(message.text)) is not None and not _shares_words(words, message)


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
    return any(_asks(sentence) for sentence in said_sentences(message.text)) or bool(
        _first_sentence_with(message.text, DECISION, statement=True)
    )


def _answers(question: ChannelMessage, other: ChannelMessage, *, same_conversation: bool = False) -> bool:
    """Whether ``other``, said after ``question``, shows that it was answered."""
    asker = question.author
    if other.author.id == asker.id:
        text = clean_text(other.text).translate(APOSTROPHES)
        return RESOLVED.search(text) is not None or (THANKS.search(text) is not None and not _asks(text))
    if same_conversation or other.timestamp - question.timestamp <= ANSWER_WINDOW or other.reply_to == question.id:
        return True
    return addresses(other, asker)


def decisions(conversation: Conversation) -> list[Candidate]:
    found: list[Candidate] = []
    for message in conversation.messages:
        sentence = _first_sentence_with(message.text, DECISION, statement=True) or _first_sentence_with(
            message.text, CHOICE, statement=True, min_words=MIN_CHOICE_WORDS
        )
        if sentence:
            found.append(Candidate("decision", shorten(sentence), (message,), sentence))
    return found


def _named_participant(text: str, participants: Iterable[str], speaker: str) -> str | None:
    lowered = text.lower()
    for name in participants:
        if name and name != speaker and re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered):
            return name
    return None


def action_items(conversation: Conversation) -> list[Candidate]:
    """"I'll ..." is owned by the speaker; "can you ..." by whoever is named or replied to;
    with nobody named the item has no owner rather than a guessed one."""
    found: list[Candidate] = []
    by_id = {m.id: m for m in conversation.messages}
    participants = sorted({m.author.name for m in conversation.messages}, key=len, reverse=True)
    for message in conversation.messages:
        text = message.text
        owner: str | None = None
        own_steps = (TRYING_OUT, SOMEDAY, LOOKING) if THANKS.search(text) else (TRYING_OUT, SOMEDAY)
        sentence = _first_sentence_with(
            text, SELF_ACTION, statement=True, skipping=own_steps, min_words=MIN_COMMITMENT_WORDS
        ) or _first_sentence_with(text, PROMISED, statement=True)
        if sentence:
            owner = message.author.name
        else:
            sentence = _first_sentence_with(text, ASKED_ACTION)
            if sentence is None or any(p.search(sentence) for p in (ASKED_TO_EXPLAIN, ASKED_IF_WILLING, ASKED_STEP)):
                continue
            owner = _named_participant(sentence, participants, message.author.name)
            if owner is None and message.reply_to in by_id:
                replied = by_id[message.reply_to].author.name
                owner = replied if replied != message.author.name else None
            if owner is None and (sentence.endswith("?") or HEDGE.search(sentence.translate(APOSTROPHES))):
                continue  # asked of nobody: a question about the world, or a passing idea
        sentence = _unaddressed(sentence, owner) if owner else sentence
        found.append(Candidate("action", f"{owner}: {shorten(sentence)}" if owner else shorten(sentence), (message,), sentence))
    return found


def _unaddressed(sentence: str, owner: str) -> str:
    """``sentence`` without the @-name of the ``owner`` the item line already opens with: "ann:
    Could you open an issue?", not "ann: @ann could you open an issue?" (or "... issue @ann?")."""
    name = rf"@{re.escape(owner)}(?![\w-])"
    # "ok"/"okay" need no place here: the sentence comes through ``quotable``, which drops them.
    text = re.sub(rf"^(?:(?:hey|hi|hello)\b[,!]?\s*)?{name}[,:]?\s*", "", sentence, flags=re.IGNORECASE)
    if text != sentence:
        text = text[:1].upper() + text[1:]
    text = re.sub(rf"[,\s]+{name}(?=[.!?]*$)", "", text, flags=re.IGNORECASE)
    return text if content_words(text) else sentence


def candidates(conversation: Conversation, following: Sequence[ChannelMessage] = ()) -> list[Candidate]:
    """Every extractive candidate of a conversation except its topic (``following``: the
    messages after it on its line, where a late answer to its questions may be)."""
    # A sentence is listed once: a decision that also commits someone ("we'll ship it Friday and
    # I'll write the notes") stays a decision; a request put to someone ("Could you add a
    # column ... @grzm?") is their action item, not an open question too.
    found: list[Candidate] = []
    listed: set[tuple[str, frozenset[str]]] = set()
    for candidate in (*decisions(conversation), *action_items(conversation), *open_questions(conversation, following)):
        said = (candidate.messages[0].id, _said(candidate.sentence))
        if said not in listed:
            listed.add(said)
            found.append(candidate)
    return found


def _said(sentence: str) -> frozenset[str]:
    """What a quoted sentence says, whoever it is addressed to."""
    return frozenset(content_words(MENTION.sub(" ", sentence)))


def window_candidates(conversations: Sequence[Conversation]) -> list[Candidate]:
    """The candidates of a window's conversations, in order. Each conversation sees the
    messages that followed it on its line: its channel's own messages, or its thread's
    (chatter elsewhere answers nobody's question)."""
    lines: dict[tuple[str, str | None], list[ChannelMessage]] = defaultdict(list)
    for conversation in conversations:
        for message in conversation.messages:
            lines[(message.channel.scope, message.thread_id)].append(message)
    for line in lines.values():
        line.sort(key=lambda m: m.timestamp)
    found: list[Candidate] = []
    for conversation in conversations:
        last = conversation.messages[-1]
        line = lines[(last.channel.scope, last.thread_id)]
        start = bisect.bisect_right(line, last.timestamp, key=lambda m: m.timestamp)
        own = {m.id for m in conversation.messages}
        found.extend(candidates(conversation, [m for m in line[start:] if m.id not in own]))
    return found
