"""The pure parts of the digest: extractive candidates, note parsing, packing."""

from __future__ import annotations

from dataclasses import replace

from core.digests.conversations import Conversation, group_conversations
from core.digests.extract import action_items, candidates, central_message, decisions, topic, window_candidates
from core.digests.labels import topic_labels
from core.digests.open_questions import open_questions
from core.digests.packing import Piece, pack
from core.digests.prompts import parse_notes
from core.digests.speech import clean_text, looks_like_output, said_lines, shorten, tidy_speech
from core.types import Author
from tests.digest_support import message, release_day

TEXTS = [
    "The nightly build fails on ARM since yesterday, anyone know why?",
    "It's the new openssl 3.2 release. Pin it to 3.0 in the Dockerfile for now.",
    "Thanks, that fixed it. I'll open a PR to pin openssl.",
]


def open_ones(day: list) -> list[str]:
    """The open questions of a day of messages, as the digest lists them."""
    conversations = group_conversations(day, max_messages=len(day))
    return [c.text for c in window_candidates(conversations) if c.kind == "question"]


def two_speakers(said: list[str]) -> Conversation:
    """One conversation of ``said``, bob and ann taking turns (bob first)."""
    return Conversation(tuple(message(i + 1, "ann" if i % 2 else "bob", text) for i, text in enumerate(said)))


def said_alone(text: str) -> Conversation:
    """One conversation of one message, ``text``, by ann."""
    return Conversation((message(1, "ann", text),))


def decided(text: str) -> str | None:
    """The sentence listed as the decision of ``text`` said alone; None when it decides nothing."""
    found = decisions(said_alone(text))
    assert len(found) <= 1, found
    return found[0].sentence if found else None


def test_questions_count_as_open_only_when_nobody_else_spoke_after() -> None:
    answered = Conversation(tuple(message(i + 1, a, t) for i, (a, t) in enumerate(zip(["alice", "bob", "alice"], TEXTS, strict=True))))
    assert open_questions(answered) == []
    alone = Conversation((message(1, "dave", "How do I rotate the wallet backup keys? Asking for the ops team."),))
    [question] = open_questions(alone)
    assert question.text == "dave: How do I rotate the wallet backup keys?"


def test_decisions_and_owners() -> None:
    conversation = Conversation(tuple(m for m in release_day()[:5]))
    assert [c.text for c in decisions(conversation)] == ["We decided to ship release 2.1 on Friday after the changelog review."]
    owners = [c.text.split(":")[0] for c in action_items(conversation)]
    assert owners == ["alice", "carol"]
    # A question to nobody in particular is not an action item.
    vague = Conversation((message(1, "ken", "Can you stake KMD in the Agama wallet or only in QT?"),))
    assert action_items(vague) == []
    musing = Conversation((message(1, "ken", "Maybe we could ask the supplier for titanium panels, please."),))
    assert action_items(musing) == []  # a passing idea, asked of nobody
    restart = Conversation((message(1, "ken", "That's the marketing research you can you can ask about."),))
    assert action_items(restart) == []  # "you can you can" is no "can you"


def test_we_will_and_i_will_decide_or_commit_only_where_a_clause_starts() -> None:
    said = [
        "Here are the tools that we'll be using for the battery design.",
        "This is the remote control we're going to design for children.",
        "That is the part I'm going to draw on the whiteboard.",
        "After lunch we decided to ship the yellow case on Friday.",
        "Okay, so we'll ship the yellow case on Friday.",
        "Fine, I'll write the battery cost table tonight.",
        "The budget. we will sell the remote at twenty five Euros.",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == [
        "After lunch we decided to ship the yellow case on Friday.",
        "We'll ship the yellow case on Friday.",
        "The budget. we will sell the remote at twenty five Euros.",
    ]
    assert [c.text for c in action_items(conversation)] == ["ann: Fine, I'll write the battery cost table tonight."]


def test_a_laughing_remark_about_something_else_answers_no_question() -> None:
    asked = message(1, "li", "For the Q3 pricing page, do we show prices with or without VAT?", minute=0)
    # After a lull, within the hour: a joke about the coffee machine answers nothing.
    for remark in ("lol the coffee machine is broken again", "haha, the standup ran long again today"):
        assert open_ones([asked, message(2, "aisha", remark, minute=31)]) == [
            "li: For the Q3 pricing page, do we show prices with or without VAT?"
        ], remark
    # One that is about the question, or is said to the asker, does answer.
    for reply in ("lol prices with VAT, as on the old page", "haha no, net prices only", "lol @li ask finance, they decide that"):
        assert open_ones([asked, message(2, "aisha", reply, minute=31)]) == [], reply


def test_an_acknowledgement_before_an_item_is_not_quoted() -> None:
    said = [
        "Can we drop support for Node 16 in the SDK? It blocks the upgrade.",
        "agreed, let's drop Node 16 in the next minor release",
        "great, I'll write the changelog entry",
        "ah that makes sense, I'll rotate the export credentials in the job config",
        "Great work on the release notes, I'll post them in the newsletter",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == ["Let's drop Node 16 in the next minor release"]
    assert [c.text for c in action_items(conversation)] == [
        "bob: I'll write the changelog entry",
        "ann: I'll rotate the export credentials in the job config",
        "bob: Great work on the release notes, I'll post them in the newsletter",  # a word of praise, not set off
    ]


def test_an_action_items_owner_is_not_named_twice() -> None:
    said = [
        "The release notes are missing the migration steps for the storage format.",
        "@bob could you add the migration steps to the release notes?",
        "Sure. Hey @ann, can you tag the release after that?",
        "Could you also ping the packagers about the new format @bob?",
    ]
    assert [c.text for c in action_items(two_speakers(said))] == [
        "bob: Could you add the migration steps to the release notes?",
        "ann: Can you tag the release after that?",
        "bob: Could you also ping the packagers about the new format?",
    ]


def test_a_commitment_with_a_request_run_on_after_it_is_the_speakers() -> None:
    # "Jonas can you send me ..." ran on after maria's "I can take it": the whole sentence ended
    # in a question mark, so it was read as a request and listed as jonas's.
    said = Conversation((
        message(1, "jonas", "Has anyone renewed the SSL certificate for the customer portal?"),
        message(2, "maria", "I can take it after lunch, Jonas can you send me the registrar login?"),
    ))
    assert [c.text for c in action_items(said)] == ["maria: I can take it after lunch"]


def test_a_request_put_to_someone_is_their_action_item_and_not_an_open_question_too() -> None:
    # Nobody answered sean's request: it was listed as grzm's action item and, the same
    # sentence under sean's name, as an open question.
    asked = [
        message(1, "grzm", "Here are the test results for 0.1.4 and 0.2.3, in two tables."),
        message(2, "sean", "Could you add a column to both of those tables that says what you expect the result to be @grzm?"),
    ]
    found = [(c.kind, c.text) for c in window_candidates([Conversation(tuple(asked))])]
    assert found == [("action", "grzm: Could you add a column to both of those tables that says what you expect the result to be?")]
    # A commitment and a question of its own in one message are two items.
    both = Conversation((message(1, "dave", "I'll look at the backup logs tonight. Does anyone know where the cron job writes them?"),))
    assert [c.kind for c in window_candidates([both])] == ["action", "question"]


def test_courtesy_a_manner_of_speaking_and_what_will_be_possible_are_no_items() -> None:
    for text in (
        "Can I thank you all for attending and for answering all our questions?",
        "No. Okay. Well, can I thank you all for attending and for answering all our questions?",
        "May I welcome our two new members to the committee this morning?",
        "Let's be absolutely clear what this Government has done for part-time students.",
        "let's be honest, nobody reads the changelog of the storage format",
        "If you put them in there, we'll all be able to see them and refer to them if we need to.",
        "We will be fine with two replicas of the bot during the migration.",
        # Going on as before, a stance, and supposing decide and take on nothing new.
        "We will, of course, continue to work with the provinces on long-term care.",
        "We're going to keep doing the work that we need to help our small businesses.",
        "I will always be here to stand up for our customers in every situation.",
        "Let's figure that we have eight boards which are set up and a ninth passed around.",
        "Because well we'll see about the costs of the rubber case after the evaluation.",
        # Waiting to see puts the matter off.
        "We'll wait to see what the trade unions come up with before responding formally.",
        "We'll wait until we see that situation arising in the schools.",
        "If plastic is dead cheap anyway, we'll cross that bridge later.",
        "You are back with us on 16 May for Stage 1 of the Bill, so we will look forward to seeing you.",
        # Nobody deciding.
        "which is also basically the last time anyone agreed on a regex style",
        "Nobody agreed on the naming of the storage module in the end.",
    ):
        assert window_candidates([Conversation((message(1, "lynne", text),))]) == [], text
    # Asking, deciding and what will be done stay items.
    for text, kind in (
        ("Can I run two replicas of the bot against one PostgreSQL database?", "question"),
        ("Let's ship release 2.1 on Friday after the changelog review.", "decision"),
        ("We'll be using PostgreSQL for the bot's state from the next release.", "decision"),
        ("I'll continue the storage migration tomorrow morning after the backup.", "action"),
        ("Everyone agreed to move the standup to 10am on Mondays.", "decision"),
    ):
        assert [c.kind for c in window_candidates([Conversation((message(1, "lynne", text),))])] == [kind], text


def test_procedure_hedged_guesses_and_states_are_neither_decisions_nor_action_items() -> None:
    said = [
        "Let's see what's next in the presentation slides.",
        "Okay, I'll see you all in half an hour then.",
        "Let's talk about the remote control budget.",
        "I'll show the battery drawing now.",
        "Let's go with the rubber case and the yellow buttons.",
        "I'll send the battery cost table to the finance team by Friday.",
        "I think we'll start with the functional design of the case.",
        "Maybe I'll look at the battery supplier list later.",
        "Sorry, I'm going to be late for the design review tomorrow.",
        "I will be responsible for the supplier contract review.",
        "I'm going to say, this is how we use these battery terms.",
        "The files are in the speech group directories, so I will",
        "Hopefully, I'll get some good answers on the battery supplier.",
        "We'll need to think carefully about the battery costs.",
        "I'll think it over during the weekend and the supplier visit.",
        "We'll consider the rubber case for the second batch.",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == ["Let's go with the rubber case and the yellow buttons."]
    assert [c.text for c in action_items(conversation)] == [
        "ann: I'll send the battery cost table to the finance team by Friday.",
        "ann: I will be responsible for the supplier contract review.",
    ]


def test_running_a_meeting_is_neither_a_decision_nor_an_action_item() -> None:
    said = [
        "We're going to move on now to talk about the supplier contracts.",
        "We will now proceed to statements by members.",
        "I'm going to speak about the technical functions design.",
        "If you're happy, we'll go straight into questions from members.",
        "I'll show you the battery drawings from last week.",
        "I'll be sharing my time with the member for Leeds.",
        "We'll get your presentations on the conceptual design first.",
        "I'll take this opportunity to welcome Dawn to the committee.",
        "We'll go into production with the rubber case next week.",
        "I'll speak to the supplier about the battery price.",
        "We'll proceed with the database migration on Monday.",
        "I'll go to the supplier's office on Tuesday to sign the contract.",
        "I will remind members that statements are one minute each.",
        "I'll remind John to renew the certificate on Friday.",
        "I'll go over the pull request for the battery module tonight.",
        "Please note that today's proceedings will be televised as usual.",
        "Minister, please keep it brief, the member has a second question.",
        "The minister has thirty seconds or less to answer, please.",
        "I will just repeat that the supplier has not applied for a licence.",
        "I'll ask a question similar to the one from the member for Leeds.",
        "I'll repeat the load test on the staging cluster tomorrow.",
        "Please send the brief to the design agency by Friday.",
        "Albert, I just wanted to check there wasn't anything you wanted to add, please.",
        "Please add anything else to the release notes by Friday.",
        "We will now give the floor to the member for Leeds.",
        "I'll call on the minister to respond to that point.",
        "I'll call on the supplier on Tuesday to sign the contract.",
        "We'll now go to the honourable member for Hamilton Mountain.",
        "We'll next go to the honourable member for Calgary Skyview.",
        "We're going to go to the west coast and the member for Saanich.",
        "We'll go to the last five-minute round before the vote.",
        "We'll take a short break to allow our console operators to switch.",
        "We'll wait a few seconds before the next five-minute period starts.",
        "Let's go to another issue, the price of the battery.",
        "I will remind all the members that statements are one minute each.",
        "Minister, if that's the case, I will ask again.",
        "We'll go to the supplier on Monday to collect the new batteries.",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == [
        "We'll go into production with the rubber case next week.",
        "We'll proceed with the database migration on Monday.",
        "We'll go to the supplier on Monday to collect the new batteries.",
    ]
    assert [c.text for c in action_items(conversation)] == [
        "ann: I'll speak to the supplier about the battery price.",
        "ann: I'll go to the supplier's office on Tuesday to sign the contract.",
        "ann: I'll remind John to renew the certificate on Friday.",
        "bob: I'll go over the pull request for the battery module tonight.",
        "bob: I'll repeat the load test on the staging cluster tomorrow.",
        "Please send the brief to the design agency by Friday.",
        "Please add anything else to the release notes by Friday.",
        "bob: I'll call on the supplier on Tuesday to sign the contract.",
    ]


def test_vows_of_effort_speaking_coming_back_and_what_is_put_here_are_no_items() -> None:
    said = [
        # A vow of effort names no deed.
        "We will endeavour to make sure that more rural businesses have access to the program.",
        "We are going to endeavour to make sure that this help gets out to small businesses.",
        "We will work very hard and very diligently to make sure the vendors are paid.",
        "I will do everything that I can to work with the provinces on the rollout.",
        # Saying something in the meeting is no work.
        "I will tell him, though, that we fully respect the provinces and their budgets.",
        "I will sadly report that our region had the largest number of outages this month.",
        "I'll just indicate to the person asking when there is less than a minute left.",
        # Coming back to it puts it off; going back to the subject runs the meeting.
        "If the schedule changes, we will come back.",
        "We'll come back to the supplier question later.",
        "Let's just head back to work on what we were talking about before lunch.",
        # What is put "here" is put in the room or the thread, now.
        "yep I'll just switch the projector back here.",
        "I am going to put the drawing in here, because we can all look at it.",
        # Saying whom to tell, reporting back, coming back with something and posting here later
        # are still work; a decision to work on something is still a decision.
        "I'll tell Dan to fix the certificate renewal on Friday.",
        "I'll report back on the supplier prices tomorrow.",
        "I'll come back to you with the battery numbers on Monday.",
        "I'll post the migration checklist here tomorrow.",
        "We will work on the release notes together on Thursday.",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == ["We will work on the release notes together on Thursday."]
    assert [c.text for c in action_items(conversation)] == [
        "bob: I'll tell Dan to fix the certificate renewal on Friday.",
        "ann: I'll report back on the supplier prices tomorrow.",
        "bob: I'll come back to you with the battery numbers on Monday.",
        "ann: I'll post the migration checklist here tomorrow.",
    ]


def test_naming_a_decision_is_not_taking_one() -> None:
    said = [
        "Ignore that if you are past that decision and want to involve the database.",
        "Farmers are making the difficult decision to cancel their fall fairs this year.",
        "We did agonise over the things that brought us to the conclusion where we are.",
        "That was a paste mistake from when I was going with the old schema.",
        "Decision: the job queue moves to Postgres next sprint.",
        "We're going with the yellow case for the first batch.",
        "Going with Postgres for the job queue then.",  # quoted without the "Okay,"
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == [
        "Decision: the job queue moves to Postgres next sprint.",
        "We're going with the yellow case for the first batch.",
        "Going with Postgres for the job queue then.",  # quoted without the "Okay,"
    ]


def test_what_we_will_have_to_do_is_not_a_decision() -> None:
    said = [
        "We'll have to decide about the control, the remote control concepts.",
        "If we go the lithium battery route then we'll have to go outside our current manufacturer.",
        "We will need to have a step change over the next three years to meet the targets.",
        "We're going to have to sort of bound the complexity.",
        "We'll use the lithium battery from our current manufacturer.",
    ]
    assert [c.text for c in decisions(two_speakers(said))] == ["We'll use the lithium battery from our current manufacturer."]
    # A decision still to come is not taken, nor is going on as before an action item.
    later = ["Each situation will be decided on a case-by-case basis by the officers.", "The date is yet to be agreed with the venue."]
    assert decisions(two_speakers(later)) == []
    going_on = two_speakers(["I will continue to focus our efforts on supporting small firms.", "I will send the figures to the committee."])
    assert [c.sentence for c in action_items(going_on)] == ["I will send the figures to the committee."]


def test_a_choice_named_in_a_word_and_a_rule_from_now_on_are_decisions() -> None:
    chosen = {
        "Let's go with Mailchimp then.": "Let's go with Mailchimp then.",
        "ok, we'll use Postgres.": "We'll use Postgres.",
        "We're going with Redis for the queue.": "We're going with Redis for the queue.",
        "From now on we double-check addresses on orders over $500 before they ship.": (
            "From now on we double-check addresses on orders over $500 before they ship."
        ),
        "Going forward, everyone reviews their own deploys.": "Going forward, everyone reviews their own deploys.",
        "Final call: the offsite is in Lisbon.": "Final call: the offsite is in Lisbon.",
        "We're going ahead with the Q3 hiring plan.": "We're going ahead with the Q3 hiring plan.",
        "Consensus is to drop the legacy API in v3.": "Consensus is to drop the legacy API in v3.",
    }
    for text, quoted in chosen.items():
        assert decided(text) == quoted, text
    nothing_chosen = [
        "Let's use it.",  # a choice of nothing named
        "let's see",
        "when I was going with it, the build broke",
        "Going forward, we need to think about costs more carefully.",
        "From now on we hope to see fewer crashes.",
        "There is no consensus is to be found on the legacy API yet.",
        "We need consensus on the legacy API before v3.",
        "Going forward, we absolutely will need to have more conversations about seniors.",
        "All orders of government will work together right now, and going forward, everyone gets the support.",
    ]
    for text in nothing_chosen:
        assert decided(text) is None, text


def test_a_choice_already_made_and_a_rule_for_every_thing_of_a_kind_are_decisions() -> None:
    for text in (
        "We dropped the permissions screen, it moves to first use.",
        "we went with Postgres for the bot's state",
        "In the end, we switched to weekly releases.",
        "Going forward all new laptops ship with disk encryption on.",
        "From now on, every PR needs two approvals.",
    ):
        assert decided(text) == text, text
    for text in (
        "Honestly we dropped the ball on the invoice reminders.",
        "Going forward all new laptops will probably need more memory.",
        "From now on, every release should be smaller than the last.",
    ):
        assert decided(text) is None, text


def test_what_we_will_have_or_face_and_a_forecast_are_no_decisions() -> None:
    said = [
        "That way, we will have a resilient economy in the future.",
        "We will face an echo pandemic.",
        "We'll need a bigger box for the staging database.",
        "I am certain that, together, we will get through it.",
        "I hope, by the end of this week, we will have published the responses.",
        "We'll move the staging database to the bigger box on Friday.",
    ]
    assert [c.text for c in decisions(two_speakers(said))] == ["We'll move the staging database to the bigger box on Friday."]


def test_a_change_announced_with_the_day_it_takes_effect_decides() -> None:
    for text in (
        "Standup moves to 10:00 starting Monday.",
        "Effective immediately, every pull request needs two approvals.",
        "Starting next week, deploys happen on Tuesdays only.",
        "Starting March 3rd the office opens at 8:00.",
        "Beginning on the 15th, invoices go out from the new billing system.",
    ):
        assert decided(text) == text, text
    assert decided("OK, standup moves to 10:00 starting Monday. I'll update the invite.") == "Standup moves to 10:00 starting Monday."
    for text in (
        "The nightly build is starting now, should be done by noon.",  # what is going on
        "I'm off starting Monday, back on the 20th.",  # one person's plans
        "My parental leave is starting next week.",
        "Is the new rota starting next week?",
        "The conference starts Monday in Lisbon.",
        "The office is open from Monday to Friday.",
    ):
        assert decided(text) is None, text


def test_deciding_against_something_decides_and_what_we_will_learn_does_not() -> None:
    for text in (
        "We won't support IE11 in the next release.",
        "we wont renew the Jira licence this year",
        "We're not going to ship the beta this week.",
        "We won't be using the old build agents anymore.",
    ):
        assert decided(text) == text, text
    for text in (
        "We'll know more on Monday after the vendor call.",
        "We will find out next week whether the grant came through.",
        "We won't hear back from the vendor before Friday.",
        "We'll learn more as these pilots roll by.",
        "We're not going to prejudge the outcome of the review.",
        "We won't be able to make it to the offsite.",
        "The build agents that we won't be using are listed in the wiki.",
    ):
        assert decided(text) is None, text


def test_a_figure_of_speech_commits_to_nothing_and_a_forecast_decides_nothing() -> None:
    for text in (
        "I'll admit the docs for the plugin API are pretty thin.",
        "I'll bet the cache is stale again after the upgrade.",
        "I'll take your word for it on the cache settings.",
        "I'll give you that, the new build is much faster.",
    ):
        assert action_items(said_alone(text)) == [], text
    for text in ("We'll miss the deadline if the API keys aren't rotated.", "We'll lose the free tier if we upgrade the plan."):
        assert decided(text) is None, text
    [taken] = action_items(said_alone("I'll take the billing bug this week."))
    assert taken.text == "ann: I'll take the billing bug this week."


def test_an_exclamation_put_as_a_question_leaves_nothing_open() -> None:
    for text in (
        "Can you believe the build took two hours today?",
        "Who knew the config file had a second copy in /etc?",
        "Isn’t it great that the tests are finally green?",
        "wow, how cool is that new dashboard?",
        "What could possibly go wrong with a Friday deploy?",
        "Guess what, the vendor finally replied about the contract?",
    ):
        assert open_questions(said_alone(text)) == [], text
    for text in ("Isn't it better to pin the version in deps.edn?", "How big is that new dashboard's bundle?"):
        [question] = open_questions(said_alone(text))
        assert question.text == f"ann: {text}"


def test_a_wish_a_manner_or_a_figure_of_speech_decides_nothing() -> None:
    for text in (
        "Let's hope the vendor replies before the weekend.",
        "Let's be careful with the production database today.",
        "Let's face it, nobody reads the changelog anyway.",
        "Let's agree to disagree on the tabs versus spaces thing.",
        "Let's not get ahead of ourselves with the roadmap.",
        "Let's grab lunch sometime next week.",
        "We agreed to disagree on the naming scheme.",
        "We'll cross our fingers for the release.",
    ):
        assert decided(text) is None, text
    for text in ("Let's not ship on Fridays anymore.", "Let's keep the old endpoint for one more release."):
        assert decided(text) == text, text


def test_a_commitment_for_when_things_change_is_not_one_yet() -> None:
    for text in ("If it changes, I'll have to sit down with my boss to argue the case.",
                 "I'll update the docs when that changes upstream."):
        assert action_items(said_alone(text)) == [], text
    [item] = action_items(said_alone("I'll update the docs for the new flow tomorrow."))
    assert item.text == "ann: I'll update the docs for the new flow tomorrow."


def test_speech_cut_off_mid_clause_is_no_item() -> None:
    for cut in ("I'll send the figures to the", "on the other hand could you view it as the age at the time of the",
                "We'll move the staging database to the —"):
        day = two_speakers([cut])
        assert decisions(day) == [] and action_items(day) == [], cut
    finished = two_speakers(["If he reaches out to my office, we'll help in any way we can."])
    assert [c.text for c in decisions(finished)] == ["If he reaches out to my office, we'll help in any way we can."]


def test_trying_out_a_suggestion_is_no_action_item_but_taking_work_on_is() -> None:
    said = [
        "Run the migration with --dry-run first, then again without it.",
        "I'll give it a try. thanks for the assistance",
        "You could also pin the wallet to 0.4.0 until the fix lands.",
        "Thx, appreciate your patience, will give it a go",
        "Check the node's debug.log for the pindexWalk assertion.",
        "@sean, thank you. i'll puzzle over this tomorrow, after some sleep",
        "Have a look at the bootstrap docs as well.",
        "Thanks @ann - I’ll take a look at that",
        "The crash happens on every Windows start since the update.",
        "I'll take a look at the crash on Windows tonight.",
        "Thanks, that fixed it. I'll open a PR to pin openssl in the Dockerfile.",
        "I'll see if the nightly build passes with the pin.",
        "I'll try those solutions that you provided.",
        "I'll try to fix the Windows crash before the release.",
        "I'll give it a try on staging. I'll file an issue for the missing docs page.",
        "I'll have to try it, as you said, though I can't picture how the pieces interact.",
        "I'll have to rebuild the wallet index tonight.",
        "I will DL that version of Ocean and see what happens.",
        "I'll upgrade the node tonight and then see if the swaps go through.",
        "I'll rebuild the index and restart the node before the release.",
        "Thanks for that post, I'll have a read.",
        "thanks, I'll give that whirl",
        "I am using the predicate...I will read the link.",
        "ok, will add more details",  # chat commits in few words
        "I'll file a ticket.",
    ]
    assert [c.text for c in action_items(two_speakers(said))] == [
        "ann: I'll take a look at the crash on Windows tonight.",
        "bob: I'll open a PR to pin openssl in the Dockerfile.",
        "ann: I'll try to fix the Windows crash before the release.",
        "bob: I'll file an issue for the missing docs page.",  # the step after the trying out
        "bob: I'll have to rebuild the wallet index tonight.",
        "ann: I'll rebuild the index and restart the node before the release.",
        "ann: Will add more details",
        "bob: I'll file a ticket.",
    ]


def test_questions_run_into_a_reply_asks_for_answers_and_states_are_no_items() -> None:
    said = [
        "how do you come to that conclusion wrt realization? certainly as a sequence it is pulled lazily",
        "@bob can you vouch for using magnum with ledger, that the private keys won't leave the device?",
        "@ann Can you be a _little_ bit more specific please?",
        "yep, pull and build looks like it's fixed it, will know for sure in a while",
        "Which ledger firmware did you flash? we decided to pin 1.6 for the release build.",
    ]
    conversation = two_speakers(said)
    # The decision after the question still counts; the one asked about does not.
    assert [c.text for c in decisions(conversation)] == ["we decided to pin 1.6 for the release build."]
    assert action_items(conversation) == []


def test_chat_ways_of_deciding_and_committing() -> None:
    said = [
        "We’re definitely going to try the team approach for the staging cluster.",  # typographic apostrophe
        "@misha Yep, that should work. I’ll add that to my notes for the expound beta.",
        "If I get time next week I'll set up a reproducible case for the peer server.",
        "ok, will add more details to the wallet guide",
        "If I loosen the spec on the f arg, then instrumentation is okay, but I'll lose the free property tests.",
        "Will it build on the ARM runners with the new openssl?",
        "The upgrade will be fine for the staging cluster tomorrow.",
        "@bob can you clarify what you mean by code-local nodes?",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == [
        "We’re definitely going to try the team approach for the staging cluster."
    ]
    assert [c.text for c in action_items(conversation)] == [
        "ann: I’ll add that to my notes for the expound beta.",
        "bob: If I get time next week I'll set up a reproducible case for the peer server.",
        "ann: Will add more details to the wallet guide",
    ]


def test_an_offer_with_a_time_set_is_a_commitment() -> None:
    said = [
        "I can export the charts tonight.",
        "I can send the signed invoice by Friday.",
        "I can see the new charts today.",  # what someone can do, not work taken on
        "I can reproduce the crash on master today.",
        "I can export the charts if you want.",  # no time set: an offer still open
    ]
    conversation = two_speakers(said)
    assert [c.text for c in action_items(conversation)] == [
        "bob: I can export the charts tonight.",
        "ann: I can send the signed invoice by Friday.",
    ]


def test_lines_quotes_work_under_way_promises_and_settled_outcomes() -> None:
    said = [
        # A line break ends a sentence: the commitment after a link is found.
        "The paper wallet is listed on our page https://example.org/wallet.html\nI will notify our hosting team about the old link",
        # A line quoted with ">" is someone else's; the reply under it still counts.
        "> we will drop the legacy wallet\nbut, it will definitely support key import before the beta ends",
        "I'm looking into the failing swaps on the ARM build servers",
        "In summary: we have ideas for the misconfigured swaps and it will be implemented in the near future.",
        "I think we've settled on top-level defines only for the course grammar.",
        "I think the CLI support could be deferred to later if decided it is not needed.",
        "Sorry to ask, I will investigate more, but is there an obvious reason I get this in lumo?:\n```No such macros namespace```",
        "Could you give me some insight into how the address was compromised please?",
        "I'm using the new wallet build on three laptops",
        "Restarting it will fix the sync for most users tomorrow.",
        "Okay, we're planning to move the wallet guides to the new docs site.",
        "Yeah I don't think we're planning on doing letrec for the course.",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == [
        "I think we've settled on top-level defines only for the course grammar.",
        "We're planning to move the wallet guides to the new docs site.",
    ]
    assert [c.text for c in action_items(conversation)] == [
        "bob: I will notify our hosting team about the old link",
        "ann: It will definitely support key import before the beta ends",
        "bob: I'm looking into the failing swaps on the ARM build servers",
        "ann: In summary: we have ideas for the misconfigured swaps and it will be implemented in the near future.",
    ]
    # Asked with a pasted error after its "?": a question, not a commitment.
    asker = Conversation((message(1, "andrea", said[6]),))
    assert [c.kind for c in window_candidates([asker])] == ["question"]


def test_lets_will_do_and_on_it_count_only_where_a_clause_starts() -> None:
    said = [
        "This lets us provide an HTTP endpoint to ask the service for a graceful shutdown.",
        "ok lets go with postgres for the job queue then",
        "There are several tools that will do the java libraries, but they miss clojars.",
        "Right-click on it and choose Open in the wallet menu.",
        "yeah I'm on it, fixing the ARM build tonight",
        # After a condition, "on it" is still where something is, not someone taking work on.
        "If you right click on it you can see the wallet menu",
    ]
    conversation = two_speakers(said)
    assert [c.text for c in decisions(conversation)] == ["Lets go with postgres for the job queue then"]
    assert [c.text for c in action_items(conversation)] == ["bob: I'm on it, fixing the ARM build tonight"]


def test_what_we_will_discuss_is_left_open_but_a_talk_with_someone_is_taken_on() -> None:
    for open_ in ("It is and we'll discuss the trade-offs in between", "I'll discuss what my opinion is about the costs"):
        day = said_alone(open_)
        assert decisions(day) == [] and action_items(day) == [], open_
    day = said_alone("I'll discuss the pricing with Dan tomorrow")
    assert [c.text for c in action_items(day)] == ["ann: I'll discuss the pricing with Dan tomorrow"]


def test_a_sentence_that_decides_and_commits_is_listed_once() -> None:
    both = "We'll ship release 2.1 on Friday and I'll write the release notes"
    listed = candidates(said_alone(both))
    assert [(c.kind, c.text) for c in listed] == [("decision", both)]
    # Said in two sentences, each is listed in its own section.
    apart = "We'll ship release 2.1 on Friday. I'll write the release notes tonight."
    listed = candidates(said_alone(apart))
    assert [(c.kind, c.text) for c in listed] == [
        ("decision", "We'll ship release 2.1 on Friday."), ("action", "ann: I'll write the release notes tonight."),
    ]


def test_a_question_is_answered_after_a_lull_or_by_its_asker_but_not_from_another_thread() -> None:
    asked = "How does instrumentation of function arguments work in spec?"
    late_answer = [
        message(1, "nate", asked, minute=0),
        message(2, "alex", "The args spec generates inputs and the function is invoked with them.", minute=50),
    ]
    too_late = [late_answer[0], message(2, "alex", "Lunch is at the new ramen place today, for everyone.", minute=90)]
    solved = [
        message(1, "misha", "Is there a function that returns the explain-data message as a string?", minute=0),
        message(2, "misha", "found it! expound has printer-str", minute=8),
    ]
    elsewhere = [
        message(1, "nate", asked, minute=0),
        message(2, "alex", "Deploy done for the billing service.", minute=5, thread="t9"),
    ]

    assert len(group_conversations(late_answer)) == 2  # the lull splits the conversation
    assert open_ones(late_answer) == []
    assert open_ones(too_late) == [f"nate: {asked}"]
    assert open_ones(solved) == []
    assert open_ones(elsewhere) == [f"nate: {asked}"]


def test_a_late_reply_that_names_someone_joins_their_conversation() -> None:
    asked = [
        message(1, "paddy", "I imported a private key but getbalance shows only part of the funds", minute=0),
        message(2, "paddy", "anything I can do?", minute=1),
    ]
    other_talk = message(3, "farl", "The reward claim link works with Ledger now.", minute=40)
    reply = "compare the hash of the last block on the explorer and on your node"
    by_name = [*asked, other_talk, message(4, "phm87", f"@paddy {reply}", minute=80)]
    # Slack writes a mention as the user's id.
    slack_asker = replace(asked[0], author=Author("U0PADDY", "paddy"))
    by_id = [slack_asker, replace(asked[1], author=slack_asker.author), message(4, "phm87", f"<@U0PADDY> {reply}", minute=62)]
    too_late = [*asked, message(4, "phm87", f"@paddy {reply}", minute=13 * 60)]
    names_nobody_here = [*asked, message(4, "phm87", f"@ann {reply}", minute=62)]
    in_a_thread = [*asked, message(4, "phm87", f"@paddy {reply}", minute=62, thread="t1")]

    def grouped(day: list) -> list[list[str]]:
        return [[m.id for m in c.messages] for c in group_conversations(day, max_messages=len(day))]

    assert grouped(by_name) == [["m1", "m2", "m4"], ["m3"]]
    assert grouped(by_id) == [["m1", "m2", "m4"]]
    assert grouped(too_late) == [["m1", "m2"], ["m4"]]
    assert grouped(names_nobody_here) == [["m1", "m2"], ["m4"]]
    assert grouped(in_a_thread) == [["m1", "m2"], ["m4"]]
    # Only after a lull: within the gap a message goes on in the running conversation (a
    # busy channel's @-names would otherwise pull its talk apart).
    assert grouped([*asked, message(4, "phm87", f"@paddy {reply}", minute=20)]) == [["m1", "m2", "m4"]]
    assert grouped([*asked, other_talk, message(4, "phm87", f"@paddy {reply}", minute=50)]) == [["m1", "m2"], ["m3", "m4"]]
    # Whoever speaks next, within the gap, goes on in the conversation the reply joined.
    thanks = message(5, "paddy", "thanks, the hashes differ, reindexing now", minute=90)
    assert grouped([*by_name, thanks]) == [["m1", "m2", "m4", "m5"], ["m3"]]


def test_a_question_answered_hours_later_is_not_open_when_the_asker_is_addressed_or_thanks() -> None:
    asked = "Can you stake KMD in the Agama wallet, or only in the desktop wallet?"
    reply = "KMD is not staked: rewards accrue in any wallet, claim them from Agama."

    # Hours later, somebody else starts on something else: the question is still open.
    unanswered = [message(1, "crypto", asked, minute=0), message(2, "oszy", "The block explorer is down again today.", minute=130)]
    addressed = [message(1, "crypto", asked, minute=0), message(2, "oszy", f"@crypto {reply}", minute=130)]
    # Slack writes a mention as the user's id, which is not their name.
    slack_asker = replace(message(1, "crypto", asked, minute=0), author=Author("U0CRYPTO", "crypto"))
    by_id = [slack_asker, message(2, "oszy", f"<@U0CRYPTO> {reply}", minute=130)]
    thanked = [*unanswered, message(3, "crypto", "@oszy Thanks", minute=300)]
    in_advance = [message(1, "crypto", asked, minute=0), message(2, "crypto", "thanks in advance", minute=200)]
    other_person = [message(1, "crypto", asked, minute=0), message(2, "oszy", f"@cryptonaut {reply}", minute=130)]

    assert open_ones(unanswered) == [f"crypto: {asked}"]
    assert open_ones(addressed) == []
    assert open_ones(by_id) == []
    assert open_ones(thanked) == []
    assert open_ones(in_advance) == [f"crypto: {asked}"]
    assert open_ones(other_person) == [f"crypto: {asked}"]


def test_a_late_reply_that_speaks_to_the_asker_or_about_the_question_closes_it() -> None:
    asked = "kmd node always kills itself after a few minutes, what is the reason?"

    spoken_to = [message(1, "lc", asked, minute=0), message(2, "smk", "Have you updated since the last release?", minute=70)]
    same_words = [message(1, "lc", asked, minute=0), message(2, "smk", "The kmd node dies when the disk is full.", minute=150)]
    elsewhere = [message(1, "lc", asked, minute=0), message(2, "smk", "The block explorer is down again today.", minute=70)]
    to_another = [message(1, "lc", asked, minute=0), message(2, "smk", "@ann your kmd node needs the update.", minute=70)]
    # Only the next message by someone else counts: a reply further on answers another question.
    later_still = [*elsewhere, message(3, "ann", "Your node needs a reindex after the update.", minute=200)]

    assert open_ones(spoken_to) == ["smk: Have you updated since the last release?"]  # the reply's own question
    assert open_ones(same_words) == []
    assert open_ones(elsewhere) == [f"lc: {asked}"]
    assert open_ones(to_another) == [f"lc: {asked}"]
    assert open_ones(later_still) == [f"lc: {asked}"]


def test_greetings_farewells_thanks_and_notices_by_someone_else_answer_no_question() -> None:
    asked = "Who is covering support over the holidays?"

    for said, minute in [
        ("have a good evening everyone", 17),
        ("heading out, see you tomorrow", 40),
        ("lol", 2),
        ("thanks @ben!", 5),
        ("Good morning team :wave:", 90),
    ]:
        day = [message(1, "sam", asked, minute=0), message(2, "priya", said, minute=minute)]
        assert open_ones(day) == [f"sam: {asked}"], said
    # A pleasantry that echoes the question answers it.
    see_you = [message(1, "pm", "Okay, I guess we'll see you for lunch in a sec?", minute=0), message(2, "ui", "Okay, see you.", minute=1)]
    assert open_ones(see_you) == []
    # A notice to everyone on something else is no reply either, within the hour or after it.
    for said, minute in [("reminder: timesheets are due friday", 50), ("Heads up: the VPN is down until noon.", 150)]:
        day = [message(1, "sam", asked, minute=0), message(2, "zoe", said, minute=minute)]
        assert open_ones(day) == [f"sam: {asked}"], said
    about_it = [message(1, "sam", asked, minute=0), message(2, "zoe", "Update: Priya is covering support over the holidays.", minute=50)]
    assert open_ones(about_it) == []
    # A word of assent, an emoji or anything more may be an answer.
    for said in ["yes, me", "sure", ":raised_hand:", "Priya has the phones on Monday."]:
        day = [message(1, "sam", asked, minute=0), message(2, "priya", said, minute=5)]
        assert open_ones(day) == [], said
    # A pleasantry does not hide the reply after it.
    day = [
        message(1, "sam", asked, minute=0),
        message(2, "priya", "bye all", minute=80),
        message(3, "tom", "@sam I am, until the 2nd.", minute=200),
    ]
    assert open_ones(day) == []


def test_a_question_put_to_the_room_answers_no_earlier_question() -> None:
    asked = "Has anyone heard back from the landlord about the lease?"

    other_question = [
        message(1, "rita", asked, minute=0),
        message(2, "jake", "Where do we keep the brand assets?", minute=10),
        message(3, "lisa", "in the Drive, under Marketing", minute=12),
    ]
    assert open_ones(other_question) == [f"rita: {asked}"]
    # A question put to the asker is a reply, and so is one about the same thing.
    to_the_asker = [message(1, "rita", asked, minute=0), message(2, "jake", "Did you email them or call?", minute=10)]
    same_matter = [message(1, "rita", asked, minute=0), message(2, "jake", "Do we still need the landlord to sign the lease?", minute=10)]
    assert f"rita: {asked}" not in open_ones(to_the_asker)
    assert f"rita: {asked}" not in open_ones(same_matter)
    # A short question back is a reply, not a question of one's own.
    closing = [
        message(1, "pm", "Cool, so any last things before we break on the remote control?", minute=0),
        message(2, "marketing", "We're good?", minute=1),
        message(3, "pm", "I'm going to save a copy of the minutes in the shared folder.", minute=2),
    ]
    assert "pm: Cool, so any last things before we break on the remote control?" not in open_ones(closing)
    # A line break ends a sentence: the short question on its own line is still the short one.
    on_its_own_line = [
        message(1, "rita", asked, minute=0),
        message(2, "jake", "I moved the brand assets folder\nwe good?", minute=10),
        message(3, "lisa", "yes", minute=12),
    ]
    assert f"rita: {asked}" not in open_ones(on_its_own_line)
    # The reply to the other question answers this one only when it is about it.
    about_it = [*other_question[:2], message(3, "lisa", "The landlord called back, the lease is renewed.", minute=12)]
    assert open_ones(about_it) == []


def test_after_a_lull_a_message_that_starts_its_own_exchange_answers_no_question() -> None:
    asked = "Who owns the guest wifi password rotation?"
    # Forty minutes on, a new conversation: a decision, a request to someone else and its "yep",
    # a question of one's own; none of them shares a word with the question.
    decided = [
        message(1, "rosa", asked, minute=0),
        message(2, "sam", "We'll move the helpdesk tickets to Jira next month, the old tracker is EOL.", minute=40),
        message(3, "uma", "@sam can you write up the migration plan by Friday?", minute=41),
        message(4, "sam", "yep", minute=43),
    ]
    ruled = [message(1, "wes", asked, minute=0), message(2, "zoe", "Decision: we ship the new onboarding behind a flag.", minute=50)]
    their_own = [message(1, "wes", asked, minute=0), message(2, "hal", "Does anyone know why the CI matrix skips JDK 21?", minute=45)]
    assert f"rosa: {asked}" in open_ones(decided)
    assert f"wes: {asked}" in open_ones(ruled)
    assert f"wes: {asked}" in open_ones(their_own)
    # A reply in other words, one said to the asker, or one about the same thing still answers
    # within the hour, and so does what follows an exchange when it is said to the asker.
    for reply in (
        "Facilities does, since last year.",
        "Rosa, have you checked with facilities?",
        "We'll hand the wifi password rotation to facilities.",
    ):
        assert f"rosa: {asked}" not in open_ones([message(1, "rosa", asked, minute=0), message(2, "sam", reply, minute=40)]), reply
    back_to_it = [*decided[:3], message(4, "sam", "@rosa facilities does", minute=44)]
    assert f"rosa: {asked}" not in open_ones(back_to_it)


def test_a_helper_checking_on_the_one_helped_leaves_no_open_question() -> None:
    for text in (
        "My comment above doesn't exactly address your problem, but the README has a section on it, so I assume you are good now?",
        "Restart the wallet with the reindex flag and wait for the sync. Did that fix it?",
        "The export needs the admin scope on the token, does that help @jisaacs46 ?",
        "You have to pin the openssl version in the Dockerfile, makes sense?",
    ):
        assert open_ones([message(1, "smk", text)]) == [], text
    # Asking whether something works or helps, about a thing, still asks.
    for text in (
        "Does the wallet sync work on Windows with the ledger app?",
        "Did the reindex help with the stuck sync on your node?",
        "Does the new pricing page make sense?",
    ):
        assert open_ones([message(1, "smk", text)]) == [f"smk: {text}"], text


def test_a_guess_or_a_suggestion_put_as_a_question_leaves_no_open_question() -> None:
    for text in (
        "@pablore maybe you can have a health check that restarts the container when it hangs?",
        "maybe you are in a temporal buffer and not in the project window?",
        "“outer” comes to mind for the function name? or “parent” maybe?",
    ):
        assert open_ones([message(1, "gus", text)]) == [], text
    # A question that only holds a "maybe" further on still asks.
    text = "Which config file should I edit, maybe the one in the home folder?"
    assert open_ones([message(1, "gus", text)]) == [f"gus: {text}"]


def test_a_question_to_someone_else_starts_an_exchange_that_answers_nobody_else() -> None:
    asked = "Can someone help me understand how to pass components as props to a TabBar?"
    theirs = "@mike @dan is there a classic way of changing the interceptor queue inside interceptors?"
    busy = [message(1, "fero", asked), message(2, "dos", theirs), message(3, "dan", "That seems pretty standard")]
    [question] = open_questions(Conversation(tuple(busy)))
    assert question.text == f"fero: {asked}"
    # Within the other exchange, a reply to the asker or about their question still answers it
    # (the second, to nobody by name, answers the other question too).
    for reply, still_open in (("@fero use the renderTabBar prop", ["dos"]), ("Components passed as props to TabBar are plain functions", [])):
        open_ones = open_questions(Conversation((*busy[:2], message(3, "dan", reply))))
        assert [q.text.split(":")[0] for q in open_ones] == still_open, reply
    # Someone speaking to nobody in particular before that answers, as before: only the other
    # question is open.
    first_answered = Conversation((busy[0], message(2, "dan", "Wrap it in a function first."), message(3, "dos", theirs)))
    assert [q.text.split(":")[0] for q in open_questions(first_answered)] == ["dos"]


def test_asking_whether_someone_is_willing_is_no_action_item() -> None:
    people = ["gklijs", "stu", "skuro"]
    for text in (
        "@gklijs before doing any move in this direction, would you be available to go on stage on Feb 14th?",
        "@stu would you consider in the future shipping the peer server as a jar dependency?",
        "@gklijs would you be interested in giving a lightning talk?",
    ):
        day = Conversation(tuple(message(i + 1, name, text if name == "skuro" else "hi") for i, name in enumerate(people)))
        assert action_items(day) == [], text
    for request in ("@stu could you open an issue for the jar dependency?", "@stu would you be able to send us the figures?"):
        asked = Conversation((message(1, "stu", "hi"), message(2, "skuro", request)))
        assert [c.text.split(":")[0] for c in action_items(asked)] == ["stu"], request


def test_a_step_the_one_being_helped_is_asked_to_try_is_no_action_item() -> None:
    for step in (
        "please connect your ledger and check the balance shown there",
        "@zee could you try the latest build?",
        "@zee can you please restart your wallet and rescan?",
    ):
        day = Conversation((message(1, "zee", "my balance shows 0 after claiming"), message(2, "gc", step)))
        assert action_items(day) == [], step
    # Work on the team's things, or beyond the conversation, is still asked of someone.
    for request in ("@zee please restart the build agent", "@zee could you open an issue?", "@zee can you check the release notes?"):
        day = Conversation((message(1, "zee", "the nightly build is red"), message(2, "gc", request)))
        assert [c.text.split(":")[0] for c in action_items(day)] == ["zee"], request


def test_a_commitment_for_some_day_is_not_one_yet() -> None:
    for vague in (
        "I'll have a look at compiling when it's less hectic for me.",
        "I'll port the parser to 1.9 at some point",
        "I will write the migration guide when I get a chance",
        "I'll eventually move the docs over",
        "It will come down to writing the syntax file myself. When it happens, I'll release it and let people know.",
    ):
        assert action_items(said_alone(vague)) == [], vague
    for dated in ("If I get time next week I'll set up something reproducible.", "I'll fix the flaky test tomorrow"):
        assert [c.text for c in action_items(said_alone(dated))] == [f"ann: {dated}"]


def test_planning_to_do_something_takes_it_on() -> None:
    said = "I'm planning to release a tutorial on graphql endpoints soon"
    assert [c.text for c in action_items(Conversation((message(1, "wil", said),)))] == [f"wil: {said}"]
    for not_taken in ("I'm not planning to upgrade the cluster", "the tutorial I'm planning to write is long", "I'm planning to be there"):
        assert action_items(Conversation((message(1, "wil", not_taken),))) == [], not_taken


def test_a_commitment_or_decision_addressed_to_someone_by_name_still_counts() -> None:
    for said in ("@d4h I'll release the tutorial tomorrow", "@ann @bob I will open the PR tonight", "@ann: I'll handle the deploy"):
        assert [c.text for c in action_items(Conversation((message(1, "wil", said),)))] == [f"wil: {said}"], said
    [decided] = decisions(Conversation((message(1, "wil", "@ann we'll go with Postgres for the queue"),)))
    assert decided.text == "@ann we'll go with Postgres for the queue"
    # The name still leads a clause only: what follows it may describe instead.
    assert action_items(Conversation((message(1, "wil", "@ann the tool I'll write reads the queue"),))) == []


def test_an_asker_who_found_the_way_closes_their_question() -> None:
    asked = "Is there any way to emulate the tx-report-queue with datomic cloud?"
    for later in ("So I read above, found the approach @luchini suggested with tx-log.", "never mind, found a workaround"):
        day = Conversation((message(1, "lane", asked), message(2, "lane", later)))
        assert open_questions(day) == [], later
    still = Conversation((message(1, "lane", asked), message(2, "lane", "I found the docs but not the answer yet, any ideas?")))
    assert [q.text for q in open_questions(still)] == [f"lane: {asked}"]


def test_a_question_that_runs_on_after_its_question_mark_is_still_asked() -> None:
    asked = "does the `testing` macro work for `async` tests? it does not seem so"
    [question] = open_questions(Conversation((message(1, "kaosko", asked),)))
    assert question.text == "kaosko: does the `testing` macro work for `async` tests?"
    # One that ends in its question is quoted whole, a "?" inside it and all.
    whole = "where is the `mk-session` you're using (same ns as the rule? other ns?), and what does the call look like?"
    [question] = open_questions(Conversation((message(1, "dadair", whole),)))
    assert question.text.endswith("what does the call look like?")
    # "Ah I see, I have to ..." is the asker finding the way themself.
    found = "ah I see, I have to call dispatch-current! myself. always good to ask here first, somehow it helps figuring it out"
    assert open_questions(Conversation((message(1, "kaosko", asked), message(2, "kaosko", found)))) == []


def test_a_short_question_asks_about_what_its_message_said_before_it() -> None:
    stuck = "I have tried restarting the wallet, same result. What should I do?"
    [question] = open_questions(Conversation((message(1, "ana", stuck),)))
    assert question.text == f"ana: {stuck}"
    why = "For some reason the Specify dialog does not let me choose any vars in re-frame.core. How come?"
    [question] = open_questions(Conversation((message(1, "kenny", why),)))
    assert question.text == f"kenny: {why}"
    # A long statement is cut, its question kept.
    long = " ".join(["The nightly build on the ARM runner fails"] * 6) + ". Any ideas?"
    [question] = open_questions(Conversation((message(1, "ana", long),)))
    assert question.text.endswith("… Any ideas?") and len(question.text.split()) <= 26, question.text
    # Alone, a tag asking for assent, or with nothing said before it, it asks nothing.
    for text in ["What should I do?", "The only wallet that supports Trezor is the Magnum wallet. Correct?",
                 "What should I do? I have tried restarting the wallet.", "The wallet is synced. ?"]:
        assert open_questions(Conversation((message(1, "ana", text),))) == [], text
    # "Ah, nm" is the asker finding the answer.
    later = message(2, "zalky", "Ah, nm, misunderstood how CORS works, got some clarification.")
    assert open_questions(Conversation((message(1, "zalky", stuck), later))) == []


def test_a_question_put_without_its_question_mark_is_still_asked() -> None:
    for asked in ("anyone know how to pin a transitive dependency in deps.edn", "Is the staging deploy broken again"):
        [question] = open_questions(Conversation((message(1, "reb", asked),)))
        assert question.text == f"reb: {asked}"
    # A plea too short to say anything is read with what its message said before it.
    plea = "can i ask for help please\ni am stuck on syncing at 99.9%, the wallet says tx inputs not found\nany advice please"
    [question] = open_questions(Conversation((message(1, "reb", plea),)))
    assert question.text == "reb: i am stuck on syncing at 99.9%, the wallet says tx inputs not found any advice please"
    # Answered, or a statement, it is no open question.
    answered = (message(1, "reb", plea), message(2, "gc", "Rescan the chain from the wallet's settings."))
    assert open_questions(Conversation(answered)) == []
    assert open_questions(Conversation((message(1, "reb", "I pinned the transitive dependency in deps.edn"),))) == []


def test_one_askers_questions_in_a_row_are_one_open_question() -> None:
    first = "Would the closure compiler strip away the vars I don't use in my application?"
    again = [message(1, "ken", first, minute=0), message(2, "ken", "Stripping away both the unused JS vars and my cljs vars?", minute=1)]
    [question] = open_questions(Conversation(tuple(again)))
    assert question.text == f"ken: {first}"


def test_a_question_that_hedges_or_offers_an_alternative_is_quoted_with_the_one_before_it() -> None:
    for first, then in [
        ("Isn't there a `(declare …)` form?", "Though it may not be needed for mutually-recursive functions?"),
        ("How do I pin the openssl version in the Dockerfile?", "Or should I build it from source instead?"),
    ]:
        [question] = open_questions(Conversation((message(1, "ben", f"{first} {then}"),)))
        assert question.text == f"ben: {first} {then}"
    # A second question of its own is still the one quoted.
    both = "Is the wallet synced to the latest block? Which wallet version is running on the server?"
    [question] = open_questions(Conversation((message(1, "ben", both),)))
    assert question.text == "ben: Which wallet version is running on the server?"


def test_a_statement_with_a_tag_asks_for_assent_not_an_answer() -> None:
    for text in [
        "The idea was to eliminate contract checks when they were proven not to fail, right?",
        "You’re not talking about the compiler course at the university, are you?",
        "ssh user@server nc localhost 5555 is a possibility, no?",
        "That flag only changes the output directory, doesn't it?",
    ]:
        assert open_questions(Conversation((message(1, "ben", text),))) == [], text
    asked = "Is the right way to pass options through the deps.edn alias?"
    [question] = open_questions(Conversation((message(1, "ben", asked),)))
    assert question.text == f"ben: {asked}"


def test_asking_one_person_to_get_in_touch_is_no_open_question() -> None:
    pings = [
        "@Dave F. can you please DM me when you are back online?",
        "Could someone from the core team ping me about the release?",
        "Can you email me the invoice for December?",
        "that would be me :slightly_smiling_face: Can you send me an email?",
    ]
    for text in pings:
        assert open_questions(Conversation((message(1, "gcharang", text),))) == [], text
    # Asking how to reach someone, or what a message means, is a question all the same.
    for text in ("How do I message the wallet's support team directly?", "What does the DM from the release bot mean for my wallet?"):
        [question] = open_questions(Conversation((message(1, "gcharang", text),)))
        assert question.text == f"gcharang: {text}"


def test_a_motion_put_to_the_members_is_no_open_question() -> None:
    motions = [
        "Item 5. Can I propose that the committee meets in private for the rest of today's meeting? Are Members content? Thank you.",
        "We have four papers from the minister on school transport. Are Members happy to note those? Thank you.",
        "Shall we publish the committee's report on the budget in June? Is that agreed?",
        "Could we take items 4 and 5 together after the break? Any objections? Good.",
    ]
    for text in [*motions, "", "[code]"]:
        assert open_questions(Conversation((message(1, "chair", text),))) == [], text
    # A question with no call for assent after it stays open.
    text = "Can I propose that the committee meets in private for the rest of today's meeting?"
    [question] = open_questions(Conversation((message(1, "chair", text + " We have a long agenda."),)))
    assert question.text == f"chair: {text}"


def test_an_uploads_file_title_is_not_the_topic_when_its_comment_says_more() -> None:
    upload = (
        "hello, I thought that in the if-let binding, a nil would be falsey, but that block returns nil instead of the keyword."
        "\n[file: if-let map destructuring]"
    )
    said = [
        upload,
        "Map destructuring in if-let tests the whole map, not the destructured key.",
        "So if-let with map destructuring never sees the nil key?",
    ]
    # The title holds the conversation's most frequent words, yet says nothing a reader can use.
    assert topic(two_speakers(said).messages).text != "[file: if-let map destructuring]"
    # A conversation of nothing but the upload still gets a line.
    assert topic(two_speakers(["[file: if-let map destructuring]"]).messages).text == "[file: if-let map destructuring]"


def test_a_sentence_that_is_only_a_code_span_is_not_the_topic() -> None:
    said = [
        "How do I point a git dependency in deps.edn at a private github repo over ssh?",
        "Use the ssh form of the url. `ssh://github.com/user/project.git`",
        "`ssh://github.com/user/project.git`.",
        "The ssh url works once your ssh key is loaded into the agent.",
    ]
    text = topic(two_speakers(said).messages).text
    assert not text.startswith("`") and "ssh" in text.lower(), text
    # A sentence about the code, quoting it, stays a candidate.
    assert topic(two_speakers(["Run `lein install` to put the jar in your local maven repo."]).messages).text.startswith("Run `lein")


def test_emoji_codes_do_not_make_a_sentence_say_something() -> None:
    said = ["Nice one :tada: :rocket: :fire:", "The build runs faster."]
    assert topic(two_speakers(said).messages).text == "The build runs faster."


def test_a_code_block_ends_its_sentence_when_a_new_one_starts_after_it() -> None:
    shown = (
        "yes, I installed the 64 bits image. I tried your command:\n```uname -a\nLinux ubuntu 5.3.0 aarch64 GNU/Linux``` "
        "I was able to run, sync and stake the node on an external hard drive."
    )
    assert topic(two_speakers([shown]).messages).text == (
        "I was able to run, sync and stake the node on an external hard drive."
    )
    # What follows in lower case goes on with the same sentence.
    going_on = "Run the daemon with ```-rescan -reindex``` and stake again once the node on the drive is synced."
    assert topic(two_speakers([going_on]).messages).text.startswith("Run the daemon with [code] and stake")


def test_the_tail_of_a_thought_is_the_topic_only_when_nothing_stands_alone() -> None:
    said = [
        "How does the clj tool know which kind of dependency a git repo is, deps.edn or pom.xml?",
        "by detecting a manifest file in the git repo, deps.edn or pom.xml, like the clj tool does for local deps",
        "Thanks, that explains the manifest detection.",
    ]
    assert topic(two_speakers(said).messages).text == said[0]
    assert topic(two_speakers(said[1:2]).messages).text == said[1]
    # Thanks for something echo it: what was thanked for is the topic line.
    thanked = [
        ("bob", "I have been working through the video tutorials and really enjoying them. Thanks for doing that @ann"),
        ("ann", "good to hear. Thanks for letting me know"),
        ("ann", "Just added docs on the function-as-a-child react interop to the guide: https://book.example.com/#_the_pattern"),
        ("ann", "Thanks @carol for pointing out this interop problem and solution."),
        ("carol", ":D my pleasure @ann"),
        ("dave", "Thank you @carol been bitten by that once, but never realized the problem"),
    ]
    line = topic([message(n, author, text) for n, (author, text) in enumerate(thanked, start=1)]).text
    assert line.startswith("Just added docs on the function-as-a-child react interop"), line


def test_an_error_quoted_back_does_not_become_the_topic() -> None:
    error = r"Program: C:\Tools\wallet\bin\walletd.exe File: chain.cpp, Line 162 Expression: pindexWalk failed"
    said = [
        error,
        f"> {error}\nThat assertion means the block index is corrupt: back up your wallet and resync the chain.",
        "How do I resync the chain without losing my wallet?",
        "Back up wallet.dat, delete the blocks folder, and start the wallet again to resync the chain.",
    ]
    conversation = two_speakers(said)
    # The error is in the conversation twice only because it was quoted: its words are not
    # what the conversation is about.
    assert "resync the chain" in topic(conversation.messages).text


# A node's log pasted line by line, as a support channel sees it.
PASTED_LOG = (
    "chainparams_commandline called\ncall komodo_args.(/home/wallet/komodo/src/komodod) NOTARY_PUBKEY.()\n"
    "initialized  at 1576835974\nnMaxConnections 384\n\n************************\n"
    "EXCEPTION: 15dbwrapper_error\nDatabase corrupted\nKomodo in AppInit()"
)


def test_a_pasted_log_is_no_topic_sentence_and_no_label() -> None:
    said = ["why i upgrade V0.5.0 ,and then run it", "tip me error", PASTED_LOG, "which chain are you running?"]
    conversation = two_speakers(said)
    assert topic(conversation.messages).text == "why i upgrade V0.5.0 ,and then run it"
    [label] = topic_labels([conversation.messages])
    log_only = {"komodo_args", "home", "src", "nmaxconnections", "notary_pubkey", "15dbwrapper_error"}
    assert not log_only & set(label.lower().replace(",", " ").split()), label
    # The plain lines of the paste still say something.
    assert said_lines(PASTED_LOG)[-2:] == ["Database corrupted", "Komodo in AppInit()"]


def test_pasted_output_is_told_from_words_in_any_alphabet_and_from_inline_code() -> None:
    for line in [
        "nMaxConnections 384",
        "EXCEPTION 0x601daba4 15dbwrapper_error",
        "`(apply + 1 1])` => `(+ 1 1)`",
        "ef700c2a1 (HEAD -> dev, origin/dev from jl777/komodo",
    ]:
        assert looks_like_output(line), line
    for line in [
        "Database corrupted",
        "Suuuuuper random, but isn't `(cond [test => (lambda (p) p)])` just `(cond [test => identity])`?",
        "кто делал vision text extraction на clojure? или вообще",
        "@sean see https://github.com/org/repo/issues/12 for the PR",
        "ok",
        "a977e49 is the commit that broke the ARM build (HEAD is fine)",
    ]:
        assert not looks_like_output(line), line


def test_quotes_lose_hesitations_and_abandoned_starts_but_not_chat_abbreviations() -> None:
    assert tidy_speech("Um, so we'll we'll uh ship it on Friday.") == "so we'll ship it on Friday."
    assert tidy_speech("The b Uh we will sell the t at twenty five Euros.") == "We will sell at twenty five Euros."
    assert tidy_speech("Check the b build logs first") == "Check the build logs first"
    assert tidy_speech("I think th that button is too small") == "I think that button is too small"
    assert tidy_speech("you can you can ask marketing") == "you can ask marketing"
    assert tidy_speech("It has to it has to fit the television") == "It has to fit the television"
    assert tidy_speech("Fine, we can we can. Next slide") == "Fine, we can. Next slide"
    assert tidy_speech("We will. We will.") == "We will. We will."  # said twice, on purpose
    for typed in ("The db is down again", "Use a C compiler", "Restart the ui service"):
        assert tidy_speech(typed) == typed


def test_the_central_message_shares_most_words() -> None:
    messages = [message(1, "a", "hi all"), message(2, "b", "openssl 3.2 breaks the ARM build"), message(3, "c", "pin openssl to fix the ARM build")]
    assert central_message(messages).id in {"m2", "m3"}


def test_clean_text_and_shorten() -> None:
    assert clean_text("see <https://x.io/a|the docs> and <@U123|bob>\n```\ncode\n```") == "see the docs and @bob [code]"
    assert shorten("one two three", words=2) == "one two…"
    assert shorten("x" * 500).endswith("…") and len(shorten("x" * 500)) <= 181


def test_parse_notes_keeps_only_grounded_lines_with_real_message_numbers() -> None:
    completion = (
        " the ARM nightly build fails since the openssl release\n"
        "Decision: pin openssl to 3.0 in the Dockerfile [M2]\n"
        "Action: alice: open a PR to pin openssl (M3)\n"
        "Question: why is the sky blue [M1]\n"
        "Decision: pin openssl [M7]\n"
        "Decision: pin openssl to 3.0 in the Dockerfile [M2]\n"
        "[M4] bob: made up message\n"
    )
    notes = parse_notes(completion, texts=TEXTS)
    assert [(n.kind, n.text, n.numbers) for n in notes] == [
        ("topic", "The ARM nightly build fails since the openssl release", (1,)),
        ("decision", "Pin openssl to 3.0 in the Dockerfile", (2,)),
        ("action", "Alice: open a PR to pin openssl", (3,)),
    ]


def test_parse_notes_drops_an_unfinished_last_line() -> None:
    notes = parse_notes(" the nightly build fails on ARM\nDecision: pin openssl to", texts=TEXTS, truncated=True)
    assert [n.kind for n in notes] == ["topic"]



def test_pack_splits_long_messages_at_sentences_and_keeps_everything() -> None:
    def fits(pieces: list[Piece] | tuple[Piece, ...]) -> bool:  # a context of 30 words
        return sum(len(p.text.split()) + 2 for p in pieces) <= 30

    long_text = " ".join(f"Sentence number {i} is here." for i in range(12))
    conversations = [
        Conversation((message(1, "a", "short opener"), message(2, "b", long_text))),
        Conversation((message(3, "c", "closing remark"),)),
    ]
    batches = pack(conversations, fits=fits, text_of=lambda m: m.text)
    pieces = [p for b in batches for p in b.pieces]
    assert all(fits(b.pieces) for b in batches)
    assert " ".join(p.text for p in pieces if p.message.id == "m2") == long_text
    assert all(p.text.endswith(".") for p in pieces if p.message.id == "m2")  # never cut mid-sentence
    assert pieces[0].message.id == "m1" and pieces[-1].message.id == "m3"


def test_a_rendered_message_is_read_back_with_its_author() -> None:
    # The knowledge base holds chat history as render_message writes it; quoting reads each
    # message and its author back with RENDERED_MESSAGE: one format, written and read in one place.
    from core.digests.conversations import RENDERED_MESSAGE, render_message

    said = replace(message(3, "paddy", "Do I have to delete the folder?\nit says it exists"), author=Author("U1", "Crabby Paddy"))
    rendered = render_message(said)
    match = RENDERED_MESSAGE.match(rendered)
    assert match is not None and match.group(1) == "Crabby Paddy"
    assert rendered[match.end():] == "Do I have to delete the folder?\nit says it exists"


def test_words_in_quotation_marks_are_reported_not_said() -> None:
    reported = (
        "The councils keep knocking on our door saying, 'Please can we have this offer?', and we are looking at it.",
        "The offer lets somebody say, 'Well, I'm going to go a year earlier back into work', and that helps.",
        'He wrote "I\'ll fix the build tonight" in the ticket last week.',
        "I am asking the minister, without wanting to interrupt his reading, to please answer the question on testing.",
    )
    for said in reported:
        assert action_items(said_alone(said)) == [], said
    assert decisions(said_alone("They said 'we decided to drop the ARM build' on the forum")) == []
    # Quoted words inside what someone says themselves leave it said.
    for said in (
        "I'll run 'make test' on the ARM box tonight",
        'I\'ll fix the build tonight, "the usual way".',
        'The 12" screen came, and I\'ll mount it on the "big" stand tomorrow',
    ):
        assert [c.text for c in action_items(said_alone(said))] == [f"ann: {said}"], said
    asked = "@bob please rerun the 'nightly' job on the ARM runner"
    assert [c.text for c in action_items(Conversation((message(1, "ann", asked), message(2, "bob", "sure"))))] == [
        "bob: Please rerun the 'nightly' job on the ARM runner"
    ]


def test_a_question_in_quotation_marks_is_reported_even_when_a_sentence_break_cuts_the_quote() -> None:
    # The "?" ends a sentence of its own inside the quotation: it was the author of the quote who
    # asked, and the speaker goes on to answer it.
    quoting = (
        'I think the Quote: "Also: what if a new release of the compiler changes the formula and your '
        'app silently stops working? Seems like a time bomb waiting to explode." could be detected and '
        "warned at build time. I'm not too worried, but it could lead to runtime errors if you don't test components."
    )
    assert open_questions(said_alone(quoting)) == []
    # Its halves are no topic while a sentence of the speaker's own stands alone.
    assert topic([message(1, "ann", quoting)]).text.startswith("I'm not too worried, but it could lead to runtime errors")
    # A whole quotation at a sentence's end is no half: the sentence stays the topic.
    whole = 'The release notes for the storage migration now say "back up the bot\'s database first"'
    assert topic([message(1, "ann", f"{whole}\nThe migration itself ran on the staging box.")]).text == whole
    # A question that quotes a word, or a 12" screen, still asks.
    for asked in ('Does "lein run" start the nREPL server for you?', 'Is a 12" screen enough for the kiosk build?'):
        assert [c.sentence for c in open_questions(said_alone(asked))] == [asked], asked


def test_work_taken_on_without_a_subject_is_the_speakers_action_item() -> None:
    for said in ("that might be cool. Adding that into todo list", "Noted. Fixing it tonight."):
        items = action_items(said_alone(said))
        assert [c.text for c in items] == [f"ann: {said.split('. ')[-1]}"], said
    # A gerund that reports what worked, or one that goes on to say more, takes nothing on.
    for said in ("Adding it to the classpath fixed it", "Fixing it would take weeks, I think."):
        assert action_items(said_alone(said)) == [], said
