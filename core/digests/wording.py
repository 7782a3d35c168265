"""The wording rules: what makes a sentence a decision, a commitment, a request for work or a
question, said in a clause of its own and not reported, hedged or about the talk itself.

Plain patterns, no model: a decision says "we'll" or "agreed", an action item "I'll" or "can you"
(``first_sentence_with`` finds the sentence that says one). ``core/digests/extract.py`` and
``core/digests/open_questions.py`` build the digest's items with them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.digests.speech import APOSTROPHES, bare_word, inside, quotable, quoted_spans, said_sentences
from core.text import THANKS_WORDS, content_words, opens_as_question, split_outside_code
from core.types import ChannelMessage

# A topic line says something: "Okay." or "Big buttons, positive." does not.
MIN_TOPIC_WORDS = 4
# Words that open a clause leaning on what was said before it ("or ...", "though ...").
LEANING_OPENERS = "because|or|whereas|although|though|unless"
# A decision, action item or question needs a few words to be one: "we'll wait outside" is
# not; "I'll open a PR to pin it properly" is. Someone taking work on says it in fewer: "ok,
# will add more details", "I'll file a ticket".
MIN_ITEM_WORDS = 3
MIN_COMMITMENT_WORDS = 2
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
# current manufacturer", "we'll have to hurry up"), nor what we will have, need, face, miss or
# lose ("we will have a resilient economy", "we'll need a bigger box", "we will face an echo
# pandemic", "we'll miss the deadline if ..."), nor what we will learn ("We'll know more on
# Monday", "we will find out next week whether ...", "we won't hear back before Friday"), nor
# a stance on what others do ("we're not going to prejudge the outcome", "we won't comment").
_WE_NOT_A_STATE = (
    rf"(?! (?:all |both )?{_BEING})"
    r"(?!,? (?:of course,? |\w+ly )?(?:continue|keep|always|never|remain|stick to|look forward)\b)"
    rf"(?! (?:sort of |\w+ly )?(?:have|need|face|miss|lose|run out|know|find out|hear|learn (?:more|whether|if|what|how|about)|prejudge|speculate|comment)\b)(?! {_VOWING})"
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
# Deciding against something decides as much: "We won't support IE11 in the next release",
# "we're not going to renew the lease" (as "we will not migrate this year" always did).
# Nobody deciding is no decision: "the last time anyone agreed on a regex style", nor is one
# still to come: "each case will be decided on its merits", "the date is yet to be agreed".
# The nouns alone name a decision without taking one ("past that decision", "a political
# decision", "brought us to the conclusion"): only a "Decision:" line counts. "Going with"
# chooses only when someone is ("we're going with Postgres", "going with Postgres then"), not
# in "when I was going with it".
DECISION = re.compile(
    rf"\b(?:(we(?:(?:'ll| will| won'?t){_WE_NOT_A_STATE}|(?: are|'re)(?: not)?(?: \w+ly)? going to{_WE_NOT_A_STATE}|(?: are|'re)(?: not)? planning (?:on|to)| decided| agreed)|"
    r"(?<!anyone )(?<!anybody )(?<!nobody )(?<!no one )(?<!will be )(?<!to be )(?:decided|agreed)|let'?s|(?:we|i)(?:'re|'m| are| am)(?: \w+ly)? going (?:to go |ahead )?with|"
    rf"{_CHOSEN})\b|(?:decision|conclusion|final call|verdict)s?:|{_FROM_NOW_ON}|{_CONSENSUS})",
    re.IGNORECASE,
)
# A change announced with the day it takes effect decides it: "OK, standup moves to 10:00
# starting Monday", "Effective immediately, every PR needs two approvals", "Starting next
# week, deploys happen on Tuesdays". Not "the build is starting now" (what is going on), nor
# "I'm off starting Monday" (``SAID_OF_ONESELF``: one person's plans are no team decision).
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
TAKES_EFFECT = re.compile(
    rf"\b(?:starting|beginning|effective)(?: on| from)? (?:(?:this|next) (?:week|month|sprint|quarter|year|release|{_WEEKDAY})|"
    rf"tomorrow|today|tonight|{_WEEKDAY}|the \d{{1,2}}(?:st|nd|rd|th)|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?)\b"
    r"|\beffective (?:immediately|now)\b",
    re.IGNORECASE,
)
SAID_OF_ONESELF = re.compile(r"\b(?:i|i'm|im|i've|i'll|i'd|me|my|mine)\b", re.IGNORECASE)
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
# it", "If it changes, I'll have to sit down with my boss". "If I get time next week I'll set
# up something reproducible" names a week, and stays.
SOMEDAY = re.compile(
    r"\b(?:some ?day|one day|one of these days|at some point|eventually|sometime|in the (?:distant|far) future|"
    r"(?:when|whenever|if) (?:it|that|this|things) (?:ever )?(?:happens|changes?)|if ever|"
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
    # A figure of speech commits to nothing: "I'll admit the docs are thin", "I'll bet the cache
    # is stale", "I'll take your word for it", "I'll give you that".
    r"admit|bet|wager|confess|grant you|give you that|take (?:your|his|her|their) word|"
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
    # Nor does a wish, a manner or a figure of speech: "let's hope the vendor replies", "let's
    # be careful with production", "let's face it", "let's agree to disagree", "let's not get
    # ahead of ourselves", "let's keep in touch", "let's grab lunch sometime", "we'll cross
    # our fingers"; "let's not ship on Fridays" still decides.
    r"\blet'?s (?:just )?(?:hope|pray|face it|be (?:\w+ly )?(?:careful|patient|nice|kind|positive|optimistic)|"
    r"(?:keep|stay) in touch|grab (?:lunch|coffee|a (?:coffee|beer|drink|bite))|not get ahead of ourselves)\b|"
    r"\bagreed? to disagree\b|\b(?:cross|keep) (?:our|my) fingers\b|"
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
_CLAUSE_OPENERS = frozenset(
    ["and", "so", "but", "then", "now", "also", "ok", "okay", "alright", "right", "yes", "yeah", "yep", "yup",
     "well", "oh", "sure", "fine", "good", "great", "cool", "first", "next", "finally", "today", "tomorrow"]
)
# A sentence opening with one of these quotes someone else.
_QUOTE_MARKS = frozenset("\"“„«")
# "Can you stake KMD in this wallet?" is a question about the world, not a request: an asked
# action counts only when someone is named (or replied to), or when it is not a question.
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
# An asker thanking someone later got an answer, however late ("@Oszy Thanks" five hours on);
# "thanks in advance" is said before any answer, so it does not count.
THANKS = re.compile(rf"\b(?:{THANKS_WORDS})\b(?! in advance)", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """A bullet picked from the messages: its kind, its text and the messages behind it."""

    kind: str  # "topic" | "decision" | "action" | "question"
    text: str
    messages: tuple[ChannelMessage, ...]
    # The sentence quoted, whole and without the owner's name: how two items of one message
    # are told apart.
    sentence: str = ""


def ends_in_question(sentence: str) -> bool:
    """A question, also when a pasted error follows its "?" ("... in lumo?: [code]"); not one
    someone else asked, in quotation marks."""
    said = sentence.rstrip(" :.").removesuffix("[code]").rstrip(" :.")
    return said.endswith("?") and not inside(quoted_spans(said), len(said) - 1)


def put_as_question(sentence: str) -> bool:
    """A question by its "?", or by how it opens when chat drops the "?" ("any advice please",
    "can i ask for help please", "anyone know how to pin a dependency")."""
    return ends_in_question(sentence) or opens_as_question(sentence)


AFTER_A_QUESTION = re.compile(r"(?<=\?)\s+(?=\w)")
# Chat runs a request on after what one says ("I can take it after lunch, Jonas can you send
# me the login?"): what comes before the request is read as a statement of its own.
BEFORE_A_REQUEST = re.compile(r"(?<=\w),\s+(?=(?:@?[\w.\-]+,?\s+)?(?:can|could|would) you\b)", re.IGNORECASE)


# Speech cut off mid-clause says nothing to act on: "If you right click on it you can", "you
# could view it as the age at the time of the". An item never breaks off on a word that needs
# another after it; "we'll help in any way we can." was finished.
_UNFINISHED = re.compile(
    r"\b(?:the|a|an|of|to|for|with|from|into|at|by|can|could|would|will|should|must|my|your|our|their|its|his|her)"
    r"\s*(?:—|–|-|…|\.\.\.)?\s*$",
    re.IGNORECASE,
)


def first_sentence_with(
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
    parts = (
        piece
        for sentence in said_sentences(text)
        for part in split_outside_code(AFTER_A_QUESTION, sentence)
        for piece in (split_outside_code(BEFORE_A_REQUEST, part) if statement else [part])
    )
    for sentence in parts:
        read = sentence.translate(APOSTROPHES)
        if statement and ends_in_question(read):
            continue
        if PROCEDURE.search(read) or any(skip.search(read) for skip in skipping):
            continue
        if statement and HEDGE.search(_POLITE_HEDGE.sub("", read) if _SETTLED.search(read) else read):
            continue
        if _says(read, pattern) and len(content_words(sentence)) >= min_words and not _UNFINISHED.search(read):
            return quotable(sentence)
    return None


_ADDRESSED = re.compile(r"^\s*(?:(?:hey|hi|hello)\b\W*)?(?:@[\w.\-]+[,:]?\s*)+")


def _says(sentence: str, pattern: re.Pattern[str]) -> bool:
    """``pattern`` occurs in ``sentence`` as something said, not described or reported: a
    "we'll", an "I'll" or one of ``_CLAUSE_LED`` counts only where a clause starts
    (``_SPEAKER_LED``, ``_CLAUSE_OPENERS``), and nothing counts inside quotation marks."""
    matches = list(pattern.finditer(sentence))
    quoted = quoted_spans(sentence) if matches else []  # read once, for every match
    for match in matches:
        said = match.group(0)
        if inside(quoted, match.start()):
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
        if bare_word(before.split()[-1]) in _CLAUSE_OPENERS:
            return True
        if not clause_led and _SUBORDINATE_LED.match(before) and len(before.split()) > 2:
            # "If I get time next week I'll ...", not "if I'll have a look"; a bare "on it" has
            # no subject to start a clause with ("If you right click on it you can").
            return True
    return False
