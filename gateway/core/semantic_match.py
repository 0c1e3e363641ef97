"""The semantic phase's decision: may the answer cached for one conversation serve another?

The caller (the cache) embeds the last user turn and, when there are earlier turns, the context
(`"\\n".join(split.context_turns)`) in one batch, looks up candidates in the vector index and
asks `semantic_match` about each. Scores are computed by the caller; this module is pure (no
numpy, no I/O) so the rule can be tested and evaluated exactly as the gateway runs it
(`benchmarks/eval_metacache.py` over `evals/metacache/`).

The rule, cheapest test first:
1. the questions' cosine is at least `threshold` (SMARTFLOW_SEMANTIC_CACHE_THRESHOLD, 0.90);
2. the guard (`cache_guard.compare`) agrees on the two questions: numbers, dates, names,
   negation, antonyms, scope, language; an embedding scores all of those as near-equal;
3. the contexts agree, one of:
   - the same context (`context_key`), or no context on either side;
   - both contexts are chatter or absent ("Hi" / "Hello! How can I help?"): small talk carries
     nothing the answer depends on, whether or not the question leans on earlier turns;
   - both have a context, their cosine is at least `context_threshold` and the guard agrees on
     them for the checks that survive normalisation (`CONTEXT_CHECKS`: the context texts are
     case-folded, so names are left to the embedding).
   A context on one side only (not chatter) refuses: "I'm on the basic plan" then "How many
   users can I add?" must not be answered from a conversation without it, and an answer that
   was given after such a context must not be served without it.
It errs on refusing: a refusal costs an upstream call, a wrong hit a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.core.cache_guard import TextFeatures, compare


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


DEFAULT_CONTEXT_THRESHOLD: Final = 0.80  # best on the tune half, ONNX embedder
CONTEXT_CHECKS: Final = frozenset(
    {"numbers", "counts", "dates", "identifiers", "negation", "polarity"}
)
CHATTER_WORDS: Final = _wordset(
    """
    hi hello hey hiya howdy morning afternoon evening good day night weekend nice great cool
    awesome perfect fine well thanks thank thx ty cheers welcome pleasure problem worries sorry
    bother quick question questions one thing just moment second minute sec wait take time your
    you yours i i'm im me my we us our a an the and or but so is are am was were be been it this
    that there here is it's its to of for in on at with by from as do does did can could may
    might will would shall should have has had how what who where when why which right place
    chat help helping assist assistance support anyone anybody someone person real human bot
    robot virtual assistant agent new here happy glad love shop by way doing today tonight all
    everything ok okay sure yes yeah yep hope having had hopefully again also too very much
    still available open late early reply replying replied answer fast quickly being asking
    ask sorry team folks there's not at all go ahead best try trying my pleasure of course need
    no up like know earlier anything else going taking last now
    """
)
CHATTER_DATES: Final = frozenset(  # "good morning", "how are you today", "nice weekend"
    {"rel:today", "rel:tonight", "rel:weekend", "rel:last weekend", "rel:this weekend"}
    | {"tod:morning", "tod:afternoon", "tod:evening", "tod:night"}
)
DETAIL_WORDS: Final = 4  # contexts this close in wording that still differ: a swapped detail
_FUNCTION_WORDS: Final = _wordset(
    """
    a an the and or but so of to in on at by for with from as into about is are was were be been
    am do does did i me my you your we our us it its this that there here what which who how
    when where why can could will would should shall may might have has had not no yes
    """
)
_CHATTER_MAX_WORDS: Final = 40  # longer contexts are not small talk, whatever their words


@dataclass(frozen=True, slots=True)
class SemanticSide:
    """One side of a comparison, read once: the cached side's at write time, stored with it."""

    question: TextFeatures  # cache_guard.analyze(split.last_turn_text)
    context_key: str
    recent_key: str
    context: TextFeatures | None  # analyze("\n".join(split.context_turns)); None: no earlier turns
    needs_context: bool


@dataclass(frozen=True, slots=True)
class MatchVerdict:
    """`reason` is "hit", or why not: "question_score", "guard:<check>", "context_missing",
    "context_score", "context_guard:<check>", "context_detail" (shadow-mode logs, the eval)."""

    ok: bool
    reason: str


HIT: Final = MatchVerdict(True, "hit")


def is_chatter(context: TextFeatures | None) -> bool:
    """No context, or small talk only: greetings, thanks, "are you a bot?". Nothing in it that
    an answer could depend on (no number, date, code, and only small-talk words)."""
    if context is None:
        return True
    if context.numbers or context.identifiers or not context.dates <= CHATTER_DATES:
        return False
    words = [word for word in context.words if word != "\x00"]
    return len(words) <= _CHATTER_MAX_WORDS and all(word in CHATTER_WORDS for word in words)


def contexts_agree(
    query: SemanticSide,
    cached: SemanticSide,
    *,
    context_score: float | None,
    context_threshold: float,
) -> MatchVerdict:
    """Step 3 alone (the questions already agree)."""
    if query.context_key == cached.context_key:
        return HIT
    if is_chatter(query.context) and is_chatter(cached.context):
        return HIT
    if query.context is None or cached.context is None:
        return MatchVerdict(False, "context_missing")
    if context_score is None or context_score < context_threshold:
        return MatchVerdict(False, "context_score")
    verdict = compare(query.context, cached.context)
    for mismatch in verdict.mismatches:
        if mismatch.check in CONTEXT_CHECKS:
            return MatchVerdict(False, "context_guard:" + mismatch.check)
    if is_substitution(query.context, cached.context):
        return MatchVerdict(False, "context_detail")
    return HIT


def is_substitution(query: TextFeatures, cached: TextFeatures) -> bool:
    """The contexts say the same thing but for a word or two ("on the basic plan" / "on the
    enterprise plan", "in the EU region" / "in the US region"): a swapped detail that the
    embedding scores as near-equal and that the guard cannot see once case is folded. A
    reworded context changes more words than `DETAIL_WORDS`."""
    q_words = set(query.words) - _FUNCTION_WORDS
    c_words = set(cached.words) - _FUNCTION_WORDS
    only_q, only_c = q_words - c_words, c_words - q_words
    return bool(only_q or only_c) and len(only_q) + len(only_c) <= DETAIL_WORDS


def semantic_match(
    query: SemanticSide,
    cached: SemanticSide,
    *,
    question_score: float,
    context_score: float | None,
    threshold: float,
    context_threshold: float = DEFAULT_CONTEXT_THRESHOLD,
) -> MatchVerdict:
    """May `cached`'s answer serve `query`? Scores are cosines of the caller's embeddings:
    `question_score` of the last user turns, `context_score` of the contexts (None when either
    side has none)."""
    if question_score < threshold:
        return MatchVerdict(False, "question_score")
    verdict = compare(query.question, cached.question)
    if not verdict.ok:
        return MatchVerdict(False, "guard:" + verdict.reasons[0])
    return contexts_agree(
        query, cached, context_score=context_score, context_threshold=context_threshold
    )
