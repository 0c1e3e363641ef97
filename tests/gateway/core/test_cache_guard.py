"""The semantic cache's guard: traps it must refuse, paraphrases it must serve."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.core.cache_guard import Mismatch, analyze, check, compare
from gateway.core.cache_guard_words import same_word, stem

# (query, cached question, the check that must refuse it)
TRAPS = [
    # antonyms and polarity
    ("Is the clinic open on Sundays?", "Is the clinic closed on Sundays?", "polarity"),
    ("Can I bring my dog?", "Should I bring my dog?", "polarity"),
    ("How do I pay with a credit card?", "How do I pay without a credit card?", "polarity"),
    ("Should I eat before running?", "Should I eat after running?", "polarity"),
    ("How do I increase my credit limit?", "How do I decrease my credit limit?", "polarity"),
    ("When should I buy Tesla stock?", "When should I sell Tesla stock?", "polarity"),
    ("How do I log in to the portal?", "How do I log out of the portal?", "polarity"),
    (
        "How do I enable two-factor authentication?",
        "How do I disable two-factor authentication?",
        "polarity",
    ),
    (
        "Is it safe to drink tap water in Lisbon?",
        "Is it dangerous to drink tap water in Lisbon?",
        "polarity",
    ),
    (
        "What is the maximum dose of ibuprofen?",
        "What is the minimum dose of ibuprofen?",
        "polarity",
    ),
    (
        "How do I upload files to the server?",
        "How do I download files from the server?",
        "polarity",
    ),
    ("Is the museum free for children?", "Is the museum free for adults?", "polarity"),
    ("Does the store accept returns?", "Does the store reject returns?", "polarity"),
    ("How do I turn on dark mode?", "How do I turn off dark mode?", "polarity"),
    ("Is the pharmacy open today?", "Is the pharmacy shut today?", "polarity"),
    (
        "Which is cheaper, the bus or the train?",
        "Which is more expensive, the bus or the train?",
        "polarity",
    ),
    (
        "Is it OK to take aspirin with coffee?",
        "Is it OK to take aspirin without coffee?",
        "polarity",
    ),
    # negation
    ("Is the clinic open on Sundays?", "Is the clinic not open on Sundays?", "negation"),
    ("Can I cancel my order?", "Can't I cancel my order?", "negation"),
    ("Should I restart the server?", "Shouldn't I restart the server?", "negation"),
    ("I never received my package", "I received my package", "negation"),
    # numbers (digits, words, decimals, percentages, currency, ordinals)
    ("Where is order 48213?", "Where is order 48231?", "numbers"),
    ("Book a table for 4 people", "Book a table for 5 people", "numbers"),
    ("Book a table for four people", "Book a table for 5 people", "numbers"),
    ("What is 15% of 200?", "What is 15% of 300?", "numbers"),
    ("Convert $100 to euros", "Convert $1000 to euros", "numbers"),
    ("Is 3.5 mg a safe dose?", "Is 3.05 mg a safe dose?", "numbers"),
    ("What happens on the 3rd floor?", "What happens on the second floor?", "numbers"),
    ("Transfer 500 dollars to savings", "Transfer 500 euros to savings", "numbers"),
    ("Will it cost 20 dollars?", "Will it cost 20 cents?", "numbers"),
    ("Set the thermostat to -5", "Set the thermostat to 5", "numbers"),
    ("What is twenty-one times three?", "What is twenty times three?", "numbers"),
    ("Is 5% interest good?", "Is 5 dollars interest good?", "numbers"),
    # what a number counts
    ("Tickets for 2 adults and 3 children", "Tickets for 3 adults and 2 children", "counts"),
    ("Remind me in 5 minutes", "Remind me in 5 hours", "counts"),
    ("I have two cats and one dog", "I have one cat and two dogs", "counts"),
    # dates and times
    ("Is the clinic open on Sunday?", "Is the clinic open on Saturday?", "dates"),
    ("Is it going to rain tomorrow?", "Is it going to rain today?", "dates"),
    ("Book a meeting on 2025-03-04", "Book a meeting on 2025-04-03", "dates"),
    ("Book a meeting on 3/4/2025", "Book a meeting on 4/3/2025", "dates"),
    ("What's on March 3?", "What's on March 4?", "dates"),
    ("Is the shop open at 9am?", "Is the shop open at 9pm?", "dates"),
    (
        "What was the weather yesterday in Oslo?",
        "What will the weather be tomorrow in Oslo?",
        "dates",
    ),
    ("Any meetings next week?", "Any meetings last week?", "dates"),
    ("Do you deliver in May?", "Do you deliver in June?", "dates"),
    ("Is there a daily limit?", "Is there a weekly limit?", "dates"),
    ("Is the gym busy in the morning?", "Is the gym busy in the evening?", "dates"),
    # identifiers
    ("What's the status of ticket AB-123?", "What's the status of ticket AB-124?", "identifiers"),
    ("Send it to alice@example.com", "Send it to bob@example.com", "identifiers"),
    ("Summarize https://example.com/a", "Summarize https://example.com/b", "identifiers"),
    ("Is version 2.3.1 affected?", "Is version 2.3.2 affected?", "identifiers"),
    ("How do I use gpt-4o?", "How do I use gpt-4?", "identifiers"),
    # named entities
    ("What is the capital of France?", "What is the capital of Germany?", "entities"),
    ("Is the iPhone waterproof?", "Is the Pixel waterproof?", "entities"),
    ("How much does Microsoft pay interns?", "How much does Google pay interns?", "entities"),
    ("What's the population of New York?", "What's the population of York?", "entities"),
    # entity order in one clause
    ("Does Alice owe Bob money?", "Does Bob owe Alice money?", "entity_order"),
    ("Did Arsenal beat Chelsea?", "Did Chelsea beat Arsenal?", "entity_order"),
    # roles: from / to / than (swapped entities)
    ("Show flights from Paris to Rome", "Show flights from Rome to Paris", "roles"),
    ("convert celsius to fahrenheit", "convert fahrenheit to celsius", "roles"),
    ("Is Rome bigger than Milan?", "Is Milan bigger than Rome?", "roles"),
    ("Flights to London", "Flights from London", "roles"),
    (
        "How do I migrate from MySQL to Postgres?",
        "How do I migrate from Postgres to MySQL?",
        "roles",
    ),
    (
        "How do I get to the airport from the hotel?",
        "How do I get to the hotel from the airport?",
        "roles",
    ),
    # scope
    ("How do I close my account?", "How do I close my partner's account?", "scope"),
    ("How do I reset my password?", "How do I reset your password?", "scope"),
    ("Can I see our invoices?", "Can I see their invoices?", "scope"),
    ("Delete all my messages", "Delete only my messages", "scope"),
    ("Who can access the company account?", "Who can access the personal account?", "scope"),
    ("What is my balance?", "What is my wife's balance?", "scope"),
    ("Can every user edit the page?", "Can any user edit the page?", "scope"),
    ("How do I add a member to my team?", "How do I add a member to my family?", "scope"),
    # antonyms added with the eval: height, shade, difficulty, over/under, in/out of, backup
    (
        "What are the signs of high blood pressure?",
        "What are the signs of low blood pressure?",
        "polarity",
    ),
    ("How do I switch to light mode?", "How do I switch to dark mode?", "polarity"),
    ("Is the exam hard?", "Is the exam easy?", "polarity"),
    ("I was overcharged for my order", "I was undercharged for my order", "polarity"),
    ("Is the doctor in network?", "Is the doctor out of network?", "polarity"),
    ("How do I back up my phone?", "How do I restore my phone?", "polarity"),
    ("How do I grant access to the repo?", "How do I revoke access to the repo?", "polarity"),
    ("Is a visa required?", "Is a visa optional?", "polarity"),
    ("Do I need a visa?", "Is a visa optional?", "polarity"),
    # a reference point keeps its own axis: "before departure" / "before arrival"
    ("Can I cancel before departure?", "Can I cancel before arrival?", "polarity"),
    # a modal that asks still counts, after an auxiliary too
    ("What can I do about it?", "What should I do about it?", "polarity"),
    ("Do I need a helmet?", "Can I bring a helmet?", "polarity"),
    # one noun swapped for another, lower case: what the question is about
    ("How do I close my savings account?", "How do I close my checking account?", "substitution"),
    (
        "Does my home insurance cover flood damage?",
        "Does my home insurance cover fire damage?",
        "substitution",
    ),
    ("How do I report a gas leak?", "How do I report a water leak?", "substitution"),
    (
        "What is the maximum dose of ibuprofen?",
        "What is the maximum dose of naproxen?",
        "substitution",
    ),
    (
        "How do I connect to the printer on the third floor?",
        "How do I connect to the scanner on the third floor?",
        "substitution",
    ),
    ("How do I enrol in the dental plan?", "How do I enrol in the vision plan?", "substitution"),
    (
        "How do I apply for the senior engineer role?",
        "How do I apply for the engineering manager role?",
        "substitution",
    ),
    ("How do I report a lost card?", "How do I report a lost cart?", "substitution"),
    ("Is there flood damage?", "Is there floor damage?", "substitution"),
    ("What is a phishing attack?", "What is a smishing attack?", "substitution"),
    ("Can I pay by card?", "Can I pay by cash?", "substitution"),
    # whose: another person named after my / for / of, or with a possessive 's
    ("How do I book a flu jab for myself?", "How do I book a flu jab for my mother?", "scope"),
    ("Can I return a gift I received?", "Can I return a gift I bought for someone?", "scope"),
    ("How do I make a claim?", "How do I make a claim on behalf of my client?", "scope"),
    ("Can I see my test results online?", "Can my husband see my test results online?", "scope"),
    ("How do I reset my password?", "How do I reset a user's password?", "scope"),
    ("How do I book a course for myself?", "How do I book a course for a colleague?", "scope"),
    ("Is the museum free?", "Is the museum free for children?", "scope"),
    (
        "How do I install software on my work laptop?",
        "How do I install software on my laptop?",
        "scope",
    ),
    # "today" still counts against another date
    ("Is the pharmacy open today?", "Is the pharmacy open on Sunday?", "dates"),
    ("Why is my internet so slow today?", "Why was my internet so slow yesterday?", "dates"),
    # another language: the cached answer is in the wrong one
    ("How do I reset my password?", "\u00bfC\u00f3mo restablezco mi contrase\u00f1a?", "language"),
    ("How do I reset my password?", "Wie kann ich mein Passwort zur\u00fccksetzen?", "language"),
    ("How do I reset my password?", "Comment r\u00e9initialiser mon mot de passe ?", "language"),
]
# (query, cached question): one question, worded otherwise
PARAPHRASES = [
    ("How do I reset my password?", "What's the way to reset my password?"),
    ("How do I reset my password?", "how do i reset my password"),
    ("How do I reset my password?", "How do I reset my password??"),
    ("HOW DO I RESET MY PASSWORD", "how do i reset my password?"),
    ("How Do I Reset My Password", "How do I reset my password?"),
    ("Is the clinic open on Sundays?", "Is the clinic open on Sunday?"),
    ("On Sundays, is the clinic open?", "Is the clinic open on Sundays?"),
    ("I need 3 tickets", "I need three tickets"),
    ("Is it open on March 3?", "Is it open on the 3rd of March?"),
    ("What's 15% of 200?", "What is 15 percent of 200?"),
    ("Convert $100 to euros", "Convert 100 dollars to euros"),
    ("Is the shop open at 3pm?", "Is the shop open at 15:00?"),
    ("Compare Python and Java", "Compare Java and Python"),
    ("Flights to Rome from Paris", "Flights from Paris to Rome"),
    ("Is Paris expensive?", "is paris expensive"),
    ("Paris: is it expensive?", "Is Paris expensive?"),
    ("What is the capital of France?", "what's the capital of france?"),
    ("Where is order 48213?", "Where's order #48213?"),
    ("WHERE IS ORDER 48213", "where is order 48213?"),
    ("Can I cancel my subscription?", "Is it possible to cancel my subscription?"),
    ("Can't log in to my account", "I cannot log in to my account"),
    ("How do I book a table for four people?", "How can I book a table for 4 people?"),
    ("What's the weather in Paris tomorrow?", "Tomorrow, what's the weather in Paris?"),
    (
        "If I'm in Paris on Sunday, is the Louvre open?",
        "Is the Louvre open on Sunday if I'm in Paris?",
    ),
    ("Between Paris and Rome, which is cheaper?", "Which is cheaper, Rome or Paris?"),
    ("What are the opening hours of the British Museum?", "When does the British Museum open?"),
    ("Please explain how photosynthesis works", "How does photosynthesis work?"),
    ("How many days are in a leap year?", "How many days does a leap year have?"),
    ("Tell me about the Eiffel Tower", "Tell me about the eiffel tower."),
    ("Is the 5:30 train on time?", "Is the 5:30 train running on time?"),
    (
        "What is the boiling point of water in Fahrenheit?",
        "In Fahrenheit, what is water's boiling point?",
    ),
    ("How long does it take to boil an egg?", "How long should I boil an egg?"),
    ("Explain the difference between TCP and UDP", "What's the difference between UDP and TCP?"),
    ("Recommend a good book about Rome", "Can you recommend a good book on Rome?"),
    ("Is it safe to swim after eating?", "Is swimming after eating safe?"),
    ("Which one is cheaper?", "Which is cheaper?"),
    ("How do I get to the airport from the hotel?", "From the hotel, how do I get to the airport?"),
    ("What's the best way to learn Spanish?", "How can I learn Spanish best?"),
    ("Remind me in 5 minutes", "Remind me in five minutes"),
    ("Remind me in 5 min", "Remind me in 5 minutes"),
    ("Is a 10kg suitcase allowed?", "Is a 10 kg suitcase allowed?"),
    ("Book a room for 2 nights in March", "For two nights in March, book a room"),
    ("How do I export my data to CSV?", "How can I export my data as CSV?"),
    ("Why is the sky blue?", "why is the sky blue"),
    ("Does the hotel have free parking?", "Is parking free at the hotel?"),
    ("Explain   quantum  computing", "Explain quantum computing"),
    ("What does “API” stand for?", "What does API stand for?"),
    ("What time does the store open on weekends?", "When does the store open on weekends?"),
    ("Is the Louvre open on Mondays?", "Is the louvre open on mondays?"),
    ("I can't log in", "I'm unable to log in"),
    (
        "\u00bfC\u00f3mo restablezco mi contrase\u00f1a?",
        "\u00bfC\u00f3mo puedo restablecer mi contrase\u00f1a?",
    ),
    ("Recommend a good book about Rome", "Can you recommend a good book on Rome"),
    # need / required / necessary; a modal after its subject states, it does not ask
    (
        "Do I need a referral to see a specialist?",
        "Is a referral required before I can see a specialist?",
    ),
    ("Is a passport necessary for the ferry?", "Do I need a passport for the ferry?"),
    ("What should I do if I smell gas?", "I can smell gas in my home, what should I do?"),
    ("I can't log in, what should I do?", "What should I do if I can't log in?"),
    # a reference point is not the action asked about
    (
        "How early should I arrive at the airport?",
        "How much time before departure should I get to the airport?",
    ),
    # names written otherwise
    ("How do I connect to the office Wi-Fi?", "How do I connect to the office wifi?"),
    ("How do I open a SharePoint site?", "How do I open a Share Point site?"),
    (
        "What are the steps to update the OS on my laptop?",
        "How do I update the operating system on my laptop?",
    ),
    ("How do I set up SSO?", "How do I set up single sign-on?"),
    # scope written otherwise
    ("How do I invite a teammate?", "How do I invite a team mate?"),
    (
        "How do I install software on my work laptop?",
        "How can I get software installed on my company laptop?",
    ),
    ("How do I enrol in the company health plan?", "How do I enrol in the company's health plan?"),
    (
        "What documents do I need to register a birth?",
        "Which papers are needed to register a baby's birth?",
    ),
    ("Do you ship to Canada?", "Do you ship to Canada at all?"),
    # "today" as an intensifier, with no other date on either side
    ("Why is my internet so slow?", "Why is my internet so slow today?"),
    # "at no cost" is "free", not a negation
    (
        "Is the flu vaccine free for pregnant women?",
        "Is the flu vaccine available at no cost for pregnant women?",
    ),
    # one word swapped for a synonym, a form of it, a misspelling, or a verb reworded
    ("How do I restart my router?", "How do I reboot my router?"),
    ("How can I reduce my water bill?", "How can I lower my water bill?"),
    ("How do I pay a parking fine?", "How do I pay a parking ticket?"),
    ("Is breakfast included in the room rate?", "Is breakfast included in the room price?"),
    ("How do I reset my password?", "How do I reset my pasword?"),
    ("How do I report a phishing email?", "How do I report a phising email?"),
    ("How do I recieve a refund?", "How do I receive a refund?"),
    ("How do I print a shipping label?", "How do I print the label for my shipment?"),
    ("Is this jacket machine washable?", "Can I wash this jacket in the washing machine?"),
    ("Who do I contact about my pension?", "Who should I talk to about my pension?"),
    ("My laptop won't turn on", "My laptop won't power on"),
    ("How do I cancel my order?", "How do I cancel my purchase?"),
    ("How do I contact customer support?", "How do I contact customer service?"),
    ("What is the fee for a wire transfer?", "What is the cost of a wire transfer?"),
    ("How do I get a refund for my ticket?", "How do I get a refund for my tickets?"),
]


@pytest.mark.parametrize(("query", "cached", "reason"), TRAPS)
def test_refuses_the_trap(query: str, cached: str, reason: str) -> None:
    verdict = check(query, cached)
    assert not verdict.ok
    assert reason in verdict.reasons, verdict.mismatches


@pytest.mark.parametrize(("query", "cached"), PARAPHRASES)
def test_serves_the_paraphrase(query: str, cached: str) -> None:
    verdict = check(query, cached)
    assert verdict.ok, verdict.mismatches


def test_the_tables_are_large_enough() -> None:
    assert len(TRAPS) + len(PARAPHRASES) >= 80
    assert {reason for _, _, reason in TRAPS} >= {
        "numbers",
        "counts",
        "dates",
        "identifiers",
        "entities",
        "entity_order",
        "roles",
        "negation",
        "polarity",
        "scope",
        "language",
        "substitution",
    }


@pytest.mark.parametrize(("query", "cached"), [(q, c) for q, c, _ in TRAPS] + PARAPHRASES)
def test_the_verdict_does_not_depend_on_which_side_is_cached(query: str, cached: str) -> None:
    assert check(query, cached).ok == check(cached, query).ok


@pytest.mark.parametrize("text", sorted({t for q, c, _ in TRAPS for t in (q, c)}))
def test_a_text_always_agrees_with_itself(text: str) -> None:
    assert check(text, text).ok


def test_the_verdict_says_why() -> None:
    verdict = check("Is the clinic open on Sundays?", "Is the clinic closed on Sundays?")
    assert verdict.mismatches == (Mismatch("polarity", ("open+",), ("open-",)),)
    assert verdict.reasons == ("polarity",)
    several = check("Where is order 48213 of my wife?", "Where is order 48231 of my partner?")
    assert set(several.reasons) == {"numbers", "scope"}
    numbers = check("Where is order 48213?", "Where is order 48231?").mismatches[0]
    assert (numbers.check, numbers.query, numbers.cached) == ("numbers", ("48213",), ("48231",))


def test_features_of_the_cached_question_can_be_kept() -> None:
    cached = analyze("Is the clinic open on Sundays?")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cached.negations = 1  # type: ignore[misc]
    assert hash(cached) == hash(analyze("Is the clinic open on Sundays?"))
    for query, text, _ in TRAPS[:10]:
        assert compare(analyze(query), analyze(text)) == check(query, text)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("I need three tickets", ("3",)),
        ("twenty-one", ("21",)),
        ("one hundred and five", ("105",)),
        ("two thousand twenty five", ("2025",)),
        ("a dozen eggs", ("12",)),
        ("a hundred people", ("100",)),
        ("3.50", ("3.5",)),
        ("1,000", ("1000",)),
        ("5%", ("5|%",)),
        ("five percent", ("5|%",)),
        ("5 per cent", ("5|%",)),
        ("$5", ("5|USD",)),
        ("5 dollars", ("5|USD",)),
        ("USD 5", ("5|USD",)),
        ("€20", ("20|EUR",)),
        ("$5 million", ("5000000|USD",)),
        ("ten euros", ("10|EUR",)),
        ("3rd", ("3|ord",)),
        ("the third time", ("3|ord",)),
        ("the twenty-first century", ("21|ord",)),
        ("-5 degrees", ("-5",)),
        ("agent 007", ("007",)),
        ("order #48213.", ("48213",)),
        ("10mg", ("10",)),
        ("pages 10-20", ("10", "20")),
        ("which one is it", ()),
        ("no one came", ()),
        ("the second one", ("2|ord",)),
    ],
)
def test_numbers(text: str, numbers: tuple[str, ...]) -> None:
    assert analyze(text).numbers == tuple(sorted(numbers))


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("on 2025-03-04", {"date:2025-3-4"}),
        ("at 2025-03-04T10:30:00Z", {"date:2025-3-4", "time:10:30"}),
        ("on 3/4/2025", {"date:3/4/2025"}),
        ("on 03/04/25", {"date:3/4/2025"}),
        ("on March 3", {"date:*-3-3"}),
        ("on Mar. 3rd", {"date:*-3-3"}),
        ("on the 3rd of March, 2025", {"date:2025-3-3"}),
        ("since May 2020", {"date:2020-5-*"}),
        ("at 3pm", {"time:15:00"}),
        ("at 3:30 p.m.", {"time:15:30"}),
        ("at 15:30", {"time:15:30"}),
        ("at noon", {"time:12:00"}),
        ("on Sundays", {"day:sunday"}),
        ("next week", {"rel:next week"}),
        ("tomorrow morning", {"rel:tomorrow", "tod:morning"}),
        ("Do you deliver in May?", {"month:5"}),
        ("I may come later", set()),
        ("a daily limit", {"freq:daily"}),
    ],
)
def test_dates(text: str, dates: set[str]) -> None:
    assert analyze(text).dates == dates


@pytest.mark.parametrize(
    ("text", "identifiers"),
    [
        ("see https://Example.com/a/.", {"url:example.com/a"}),
        ("see www.example.com", {"url:example.com"}),
        ("mail Alice@Example.com", {"alice@example.com"}),
        ("ticket AB-123", {"ab-123"}),
        ("host 10.0.0.1", {"10.0.0.1"}),
        ("use gpt-4o", {"gpt-4o"}),
    ],
)
def test_identifiers(text: str, identifiers: set[str]) -> None:
    assert analyze(text).identifiers == identifiers


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("Is Paris nice in spring?", {"paris"}),
        ("Paris is nice", set()),  # a sentence's first word: capitalised anyway
        ("Flights to New York", {"new york"}),
        ("iPhone or Pixel?", {"iphone", "pixel"}),
        ("NASA launches today", {"nasa"}),
        ("How Do I Reset My Password", set()),  # Title Case
        ("WHERE IS MY ORDER", set()),  # shouting
        ("Can I come on Monday in May?", set()),  # dates are not names
        ("What is Apple's revenue?", {"apple"}),
    ],
)
def test_entities(text: str, entities: set[str]) -> None:
    assert analyze(text).entities == entities


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("How do I reset my password?", {"me"}),
        ("Reset my partner's password", {"me", "of:partner", "partner"}),
        ("Can we see our invoices?", {"us"}),
        ("Delete all of their files", {"all", "them"}),
        ("the company account", {"company"}),
        ("What is Apple's revenue?", set()),
        ("Book it for my mother", {"me", "of:mother"}),
        ("Book it for my mom", {"me", "of:mother"}),
        ("Book it for someone", {"of:someone"}),
        ("Book it for a friend", {"of:friend"}),
        ("on behalf of my client", {"me", "of:client"}),
        ("Can my husband see it?", {"me", "of:husband"}),
        ("the company's plan", {"company"}),
        ("a baby's birth", set()),
        ("my work laptop", {"me", "company"}),
        ("does it work offline", set()),
        ("Do you ship there at all?", set()),
        ("Do you ship to all countries?", {"all"}),
        ("for myself", {"me"}),
    ],
)
def test_scope(text: str, scope: set[str]) -> None:
    assert analyze(text).scope == scope


@pytest.mark.parametrize(
    ("text", "negations"),
    [
        ("Is it open?", 0),
        ("Isn't it open?", 1),
        ("It isn\u2019t open", 1),
        ("I cannot log in", 1),
        ("I can't log in and don't know why", 2),
        ("I never got it", 1),
        ("I am unable to log in", 1),
    ],
)
def test_negations(text: str, negations: int) -> None:
    assert analyze(text).negations == negations


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I reset my password?", "en"),
        ("Flights from Paris to Rome", "en"),
        ("\u00bfC\u00f3mo restablezco mi contrase\u00f1a?", "other"),
        ("Wie kann ich mein Passwort zur\u00fccksetzen?", "other"),
        ("Recommend a good book", ""),  # no function word either way: cannot tell
        ("Paris weather", ""),
        ("Come attivo la mia nuova carta di debito?", "other"),
        ("\u015eifremi nas\u0131l de\u011fi\u015ftiririm?", "other"),
        ("Is er een vergoeding voor geld opnemen in het buitenland?", "other"),
        ("Is Rio de Janeiro safe?", ""),
        ("How do I upload my r\u00e9sum\u00e9?", "en"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert analyze(text).language == language


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("Can I bring my dog?", {("modal", "+")}),
        ("I can smell gas", set()),  # stated, not asked
        ("Do I need a visa?", {("modal", "-"), ("need", "+")}),
        ("I need a visa", {("need", "+")}),
        ("before departure", {("time", "+"), ("ref:travel", "-")}),
        ("What time is my departure?", {("travel", "-")}),
        ("Is it in stock?", {("stock", "+")}),
        ("What are the signs of high blood pressure?", {("height", "+")}),
    ],
)
def test_polarity(text: str, polarity: set[tuple[str, str]]) -> None:
    assert analyze(text).polarity == polarity


@pytest.mark.parametrize(
    ("text", "content", "nouns"),
    [
        (
            "How do I close my savings account?",
            {"clos", "saving", "account"},
            {"saving", "account"},
        ),
        ("How do I reset my API key?", {"reset", "api", "key"}, {"api", "key"}),
        ("ways to lower my water bill", {"lower", "water", "bill"}, {"water", "bill"}),
        (
            "Why is my computer running slowly?",
            {"computer", "run", "slowly"},
            {"computer", "slowly"},
        ),
        ("Print the shipping label", {"print", "ship", "label"}, {"ship", "label"}),
        ("Remind me in 5 mins", {"remind", "minut"}, {"minut"}),
        ("Hi, quick question: is it possible?", set(), set()),  # filler only
    ],
)
def test_content_words(text: str, content: set[str], nouns: set[str]) -> None:
    features = analyze(text)
    assert (features.content, features.nouns) == (content, nouns)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("refund", "refunds", True),
        ("closed", "closing", True),
        ("engineer", "engineering", True),
        ("pay", "payment", True),
        ("restart", "reboot", True),  # synonyms
        ("fee", "cost", True),
        ("rate", "price", True),
        ("rate", "fee", False),  # "price" is in both groups, they are not in one
        ("password", "pasword", True),  # a letter left out
        ("receive", "recieve", True),  # two letters swapped
        ("phishing", "phising", True),
        ("flood", "floor", False),  # a letter replaced in a short word
        ("card", "cart", False),
        ("car", "card", False),
        ("fire", "hire", False),  # the first letter
        ("savings", "checking", False),
        ("ibuprofen", "naproxen", False),
        ("paid", "unpaid", False),
    ],
)
def test_same_word(a: str, b: str, same: bool) -> None:
    assert same_word(stem(a), stem(b)) is same
    assert same_word(stem(b), stem(a)) is same
