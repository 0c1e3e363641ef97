"""The phrase rules of the injection scanner: what an override, a jailbreak or an extraction
attempt says, as case-insensitive regexes, each behind a cheap word gate.

Why the gate: a dozen case-insensitive regexes over a 2 kB prompt cost about a millisecond in
Python, and nearly every prompt matches none of them. Each rule names groups of trigger words;
it runs only when every group has a word among the text's words (one split and a few set
lookups). The rot13 check reuses the same word set with rot13-encoded triggers, so a prompt
with no encoded attack costs no second pass.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

# ASCII punctuation (except the hyphen of "role-play" and "pre-prompt") becomes a space before
# the text is split into words for the gates.
_PUNCTUATION = str.maketrans({ch: " " for ch in "!\"#$%&'()*+,./:;<=>?@[\\]^_`{|}~"})


def words_of(text: str) -> frozenset[str]:
    """The lower-cased words of `text`, for the trigger gates."""
    return frozenset(text.lower().translate(_PUNCTUATION).split())


@dataclass(frozen=True, slots=True)
class PhraseRule:
    name: str
    type: str
    confidence: float
    pattern: re.Pattern[str]
    triggers: tuple[frozenset[str], ...]
    rot13_triggers: tuple[frozenset[str], ...] = field(init=False)

    def __post_init__(self) -> None:
        rotated = tuple(frozenset(codecs.encode(w, "rot13") for w in g) for g in self.triggers)
        object.__setattr__(self, "rot13_triggers", rotated)

    def may_match(self, words: frozenset[str], *, rot13: bool = False) -> bool:
        """Every trigger group has a word in `words` (rot13: in rot13-encoded form)."""
        groups = self.rot13_triggers if rot13 else self.triggers
        return all(not words.isdisjoint(group) for group in groups)


def _rule(
    name: str, type_: str, confidence: float, triggers: tuple[str, ...], pattern: str
) -> PhraseRule:
    groups = tuple(frozenset(group.split()) for group in triggers)
    return PhraseRule(name, type_, confidence, re.compile(pattern, re.IGNORECASE), groups)


# Trigger groups: space-separated words, every form the regex can start or hinge on.
_T_VERB = (
    "ignore ignoring ignored disregard disregarding forget forgetting override overriding "
    "bypass bypassing discard skip drop abandon scrap throw"
)
_T_ORDERS = (
    "instruction instructions rule rules direction directions directive directives guideline "
    "guidelines guidance constraint constraints restriction restrictions prompt prompts "
    "programming context command commands order orders policy policies safeguard safeguards "
    "told taught given instructed said above before previously far system"
)
_T_LIMITS = (
    "restriction restrictions filter filters rule rules limit limits limitation limitations "
    "guideline guidelines ethics morals censorship policy policies"
)
_T_REVEAL = (
    "reveal show print repeat output display leak dump recite give tell share write spell "
    "paste list quote echo what translate summarise summarize rewrite encode"
)
_T_PROMPT = "prompt prompts instruction instructions system developer pre-prompt preprompt"

_PREVIOUS = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|system|developer)"
)
_ORDERS = (
    r"(?:instructions?|rules|directions|directives|guidelines|guidance|constraints|"
    r"restrictions|prompts?|programming|context|commands|orders|policies|safeguards)"
)
_DETERMINER = r"(?:all|any|the|your|these|those|every|each|of)"
_VERB = r"(?:ignore|disregard|forget|override|bypass|discard|skip|drop|abandon|scrap|throw\s+out)"
_REVEAL = (
    r"(?:reveal|show|print|repeat|output|display|leak|dump|recite|give|tell|share|write\s+out|"
    r"spell\s+out|paste|list|quote|echo)"
)
_QUALIFIER = r"(?:full|entire|exact|complete|original|initial|hidden|secret|internal|verbatim)"
_SYSTEM = (
    r"(?:system\s+(?:prompt|message|instructions?)|developer\s+(?:message|prompt)|pre-?prompt)"
)

# The phrase rules; the encoded-payload rules re-run these on decoded text.
PHRASES: tuple[PhraseRule, ...] = (
    _rule(
        "override.ignore_previous",
        "prompt_injection",
        0.95,
        (_T_VERB, _T_ORDERS),
        # "ignore (all) (of) (the) previous instructions", "disregard your rules",
        # "forget all the rules"; not "ignore the rules in my .eslintrc"
        rf"\b{_VERB}\s+(?:(?:{_DETERMINER})\s+){{0,3}}{_PREVIOUS}\s+(?:\w+\s+)?{_ORDERS}\b"
        rf"(?!\s+(?:I|we)\s+(?:gave|sent|wrote|provided|typed))|"
        rf"\b{_VERB}\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?{_ORDERS}\b|"
        rf"\b{_VERB}\s+all\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+)?{_ORDERS}\b|"
        # "forget the instructions above", "disregard the rules given earlier"
        rf"\b{_VERB}\s+(?:(?:{_DETERMINER})\s+){{1,3}}{_ORDERS}\s+(?:\w+\s+)?"
        r"(?:above|before\s+this|earlier|so\s+far|you\s+(?:were|have\s+been)\s+given)\b",
    ),
    _rule(
        "override.other_language",
        "prompt_injection",
        0.9,
        (
            "ignorez ignorer ignoriere ignorieren ignora ignorar ignore vergiss vergessen oubliez "
            "olvida negeer ignoruj",
        ),
        # French, German, Spanish, Italian, Portuguese, Dutch, Polish: "ignore (all) (the)
        # previous instructions"
        r"\b(?:ignorez|ignorer|ignore|oubliez)\s+(?:toutes\s+|tous\s+)?(?:les\s+|vos\s+)?"
        r"(?:instructions|consignes|r\u00e8gles)\s+(?:pr\u00e9c\u00e9dentes|ant\u00e9rieures|"
        r"ci-dessus)|"
        r"\b(?:ignorier(?:e|en)?|vergiss|vergessen\s+Sie)\s+(?:alle\s+|die\s+)*(?:vorherigen|"
        r"bisherigen|obigen|vorigen)\s+(?:Anweisungen|Instruktionen|Regeln|Befehle)|"
        r"\b(?:ignora|ignorar|ignore|olvida)\s+(?:todas\s+|tutte\s+)?(?:las\s+|le\s+|as\s+)?"
        r"(?:instrucciones|istruzioni|instru\u00e7\u00f5es|regras|reglas|regole)\s+"
        r"(?:anteriores|previas|precedenti|previe)|"
        r"\bnegeer\s+(?:alle\s+)?(?:vorige|eerdere|voorgaande)\s+(?:instructies|regels)|"
        r"\bignoruj\s+(?:wszystkie\s+)?(?:poprzednie|wcze\u015bniejsze)\s+(?:instrukcje|polecenia)",
    ),
    _rule(
        "override.rules_void",
        "prompt_injection",
        0.85,
        (_T_ORDERS,),
        # "the previous rules no longer apply", "earlier restrictions are lifted"
        rf"(?:\b{_PREVIOUS}\s+(?:\w+\s+)?{_ORDERS}|\b{_ORDERS}\s+you\s+(?:were|have\s+been)\s+"
        r"given(?:\s+\w+)?)\s+(?:(?:are|were|have\s+been)\s+(?:now\s+)?"
        r"(?:cancell?ed|void|revoked|obsolete|superseded|lifted|outdated|removed|null)|"
        r"no\s+longer\s+appl(?:y|ies))\b",
    ),
    _rule(
        "override.ignore_what_you_were_told",
        "prompt_injection",
        0.9,
        (_T_VERB, _T_ORDERS),
        rf"\b{_VERB}\s+(?:everything|anything|all|what|whatever)\s+(?:(?:that|in)\s+)?"
        r"(?:you\s+(?:were|have\s+been)\s+(?:told|taught|instructed|given)|"
        r"your\s+(?:developers?|creators?|makers?|owners?|operators?)\s+(?:told|said|instructed)|"
        r"your\s+(?:system\s+(?:prompt|message)|instructions|rules|guidelines)|"
        r"(?:written\s+|said\s+|stated\s+)?(?:above|before\s+this|previously|so\s+far))",
    ),
    _rule(
        "override.new_instructions",
        "prompt_injection",
        0.85,
        ("new system admin developer",),
        r"\b(?:your\s+new\s+(?:instructions|task|goal|objective|role|rules)\s+(?:is|are)\b|"
        r"new\s+system\s+(?:prompt|instructions?)\s*:|"
        r"(?:^|\n)\s*(?:system|admin|developer)\s*(?:override|prompt|message)?\s*:\s*"
        r"(?:ignore|you\s+(?:must|will|are\s+now)))",
    ),
    _rule(
        "override.do_not_follow",
        "prompt_injection",
        0.85,
        ("follow following obey obeying",),
        # "do not follow the system prompt", "stop obeying your rules"; not "do not follow
        # these instructions if the device is wet"
        rf"\b(?:do\s+not|don't|stop)\s+(?:follow(?:ing)?|obey(?:ing)?)\s+"
        rf"(?:your\s+(?:\w+\s+)?{_ORDERS}|(?:{_DETERMINER}\s+){{1,2}}{_PREVIOUS}\s+{_ORDERS}|"
        rf"(?:the\s+)?{_ORDERS}\s+(?:from|of)\s+your\s+(?:developers?|creators?|makers?))\b",
    ),
    _rule(
        "roleplay.dan",
        "jailbreak",
        0.95,
        ("dan stan dude aim anything",),
        r"\b(?:DAN|STAN|DUDE|AIM)\b[^.\n]{0,60}\b(?:do\s+anything\s+now|strive\s+to\s+avoid"
        r"\s+norms|always\s+intelligent|no\s+(?:rules|restrictions|limits|filters))|"
        r"\bdo\s+anything\s+now\b|\byou\s+are\s+(?:now\s+)?(?:DAN|STAN|DUDE)\b",
    ),
    _rule(
        "roleplay.mode",
        "jailbreak",
        0.9,
        ("mode",),
        r"\b(?:jailbreak|jailbroken|unrestricted|unfiltered|uncensored|DAN)\s+mode\b|"
        r"\b(?:developer|debug|maintenance)\s+mode\b[^.\n]{0,60}?\b(?:no|without|ignor\w*|"
        r"bypass\w*|uncensored|unfiltered|restrictions|filters|content\s+polic(?:y|ies))\b|"
        r"\byou\s+(?:are|will\s+be|are\s+now)\s+(?:now\s+)?in\s+(?:developer|debug)\s+mode\b",
    ),
    _rule(
        "roleplay.unrestricted_persona",
        "jailbreak",
        0.9,
        (
            "pretend pretending imagine act acting behave roleplay role-play role hypothetically "
            "suppose you you're play respond answer reply",
            _T_LIMITS,
        ),
        r"(?:\b(?:pretend|imagine|act|behave|roleplay|role-play|hypothetically|suppose|play|"
        r"respond|answer|reply)\b[^.\n]{0,40}?\b(?:you\s+are|you're|you\s+were|to\s+be|as|like|"
        r"role\s+of)|\b(?:you\s+are|you're)(?:\s+now)?(?:\s+\w+\s*,)?)\s+(?:an?\s+)?(?:\w+\s+){0,3}?"
        r"(?:AI|assistant|model|chatbot|bot|character|entity|persona)\b[^.\n]{0,50}?"
        r"\b(?:without|with\s+no|free\s+(?:of|from)|(?:that|who|which)\s+(?:has|have)\s+no|"
        r"(?:that|who|which)\s+(?:ignores|doesn't\s+follow|never\s+refuses))\s+"
        r"(?:any\s+)?(?:\w+\s+){0,2}?(?:restrictions|filters|rules|limits|limitations|guidelines|"
        r"ethics|morals|censorship|policies|content\s+policy)",
    ),
    _rule(
        "roleplay.no_restrictions",
        "jailbreak",
        0.85,
        (
            "freed liberated released unshackled jailbroken unchained refuse refuses decline "
            "declines character unfiltered uncensored unrestricted rogue unlocked " + _T_LIMITS,
        ),
        r"\byou\s+(?:are|have\s+been)\s+(?:now\s+)?(?:freed|liberated|released|unshackled|"
        r"jailbroken|unchained)\b|\byou\s+(?:now\s+)?(?:have|are\s+under)\s+no\s+(?:more\s+)?"
        r"(?:restrictions|filters|rules|limitations|guidelines|content\s+polic(?:y|ies))|"
        r"\b(?:never|don't|do\s+not)\s+(?:refuses?|declines?)\b[^.\n]{0,40}?\b(?:any|a\s+single)\s+"
        r"(?:request|question|prompt)|\bstay\s+in\s+character\b[^.\n]{0,40}\b(?:no\s+matter|"
        r"whatever|always)|"
        # "you are now an uncensored AI" (said to the model)
        r"\byou(?:\s+are|'re)\s+(?:now\s+)?(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|"
        r"jailbroken|rogue|unlocked)\s+(?:AI|assistant|model|chatbot|version)\b",
    ),
    _rule(
        "extraction.system_prompt",
        "prompt_extraction",
        0.9,
        (_T_REVEAL, _T_PROMPT),
        rf"\b(?:{_REVEAL}|what\s+(?:is|are|was|were))\s+(?:me\s+|us\s+)?(?:back\s+)?"
        rf"your\s+(?:{_QUALIFIER}\s+){{0,2}}(?:{_SYSTEM}|(?:prompt|instructions?|pre-?prompt)\b)|"
        rf"\b{_REVEAL}\s+(?:me\s+|us\s+)?(?:back\s+)?the\s+(?:{_QUALIFIER}\s+){{0,2}}{_SYSTEM}|"
        rf"\b{_REVEAL}\s+(?:me\s+|us\s+)?(?:back\s+)?the\s+(?:hidden|secret|internal)\s+"
        r"(?:prompt|instructions?)|"
        # "print out your system prompt", "the first 50 words of your system message",
        # "translate your system prompt into German"
        rf"\b(?:{_REVEAL}|translate|summari[sz]e|rewrite|encode)\b[^.?\n]{{0,40}}?\byour\s+"
        rf"(?:{_QUALIFIER}\s+){{0,2}}{_SYSTEM}|"
        rf"\b{_REVEAL}\b[^.?\n]{{0,40}}?\b(?:rules|instructions|guidelines)\s+you\s+(?:were\s+"
        r"given|have\s+been\s+given|received|got)\b|"
        r"\bwhat\s+(?:instructions|rules|guidelines)\s+(?:did|were|have)\s+(?:your\s+"
        r"(?:developers?|creators?|makers?|operators?)|you\s+(?:been|were))\s+(?:give|given|set)",
    ),
    _rule(
        "extraction.your_system_prompt",
        "prompt_extraction",
        0.7,
        ("your you", "prompt message instructions given"),
        r"\byour\s+(?:system|initial|hidden|secret|original)\s+(?:prompt|message|instructions)\b"
        r"[^.?\n]{0,30}\b(?:say|contain|look\s+like|verbatim|word\s+for\s+word|exactly)\b|"
        r"\b(?:rules|instructions|guidelines)\s+you\s+(?:were|have\s+been)\s+given\b"
        r"[^.?\n]{0,60}\b(?:verbatim|word\s+for\s+word|exactly|in\s+full)\b",
    ),
    _rule(
        "extraction.repeat_above",
        "prompt_extraction",
        0.9,
        (
            "repeat print output copy recite echo starting",
            "above before preceding far you",
        ),
        r"\b(?:repeat|print|output|copy|recite|echo)\s+(?:all\s+|everything\s+|back\s+)?"
        r"(?:of\s+)?(?:the\s+)?(?:text|words|lines|content|everything|instructions|prompt)\s+"
        r"(?:above|before\s+this|preceding|so\s+far)\b|\bstarting\s+with\s+[\"']?you\s+are\b",
    ),
)


def contains_phrase(text: str) -> bool:
    """Any phrase rule matches `text` (decoded payloads are checked with this)."""
    words = words_of(text)
    return any(rule.may_match(words) and rule.pattern.search(text) for rule in PHRASES)
