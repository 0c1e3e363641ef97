"""The word tables of the semantic cache's guard (`cache_guard`): months, numbers, currencies,
negations, scope words, antonym axes, synonyms; and how two words relate (`stem`, `same_word`).
Kept apart so the guard's logic reads on its own; every table is built once at import. Lower
case throughout.

A table grows by the cases it must tell apart: an antonym pair goes on an axis (`AXES`), a
word that does not change the answer goes in `FILLER`, two words that ask the same thing go in
one `SYNONYMS` group. Too wide a synonym group serves a wrong answer; too narrow costs a call.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Final


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _numbered(text: str, start: int = 0, step: int = 1) -> dict[str, int]:
    return {word: start + step * i for i, word in enumerate(text.split())}


def _table(spec: str) -> dict[str, str]:
    """'a b: x | c: y' -> {a: x, b: x, c: y} (line breaks are spaces)."""
    out = {}
    for entry in " ".join(spec.split()).split("|"):
        words, _, value = entry.partition(": ")
        out.update(dict.fromkeys(words.split(), value.strip()))
    return out


MONTHS: Final = {name: int(number) for name, number in _table(
    "january jan: 1 | february feb: 2 | march mar: 3 | april apr: 4 | may: 5 | june jun: 6 | july"
    " jul: 7 | august aug: 8 | september sep sept: 9 | october oct: 10 | november nov: 11 |"
    " december dec: 12").items()}  # fmt: skip
VERB_MONTHS: Final = _words("may march mar")  # months only next to a date word or capitalised
WEEKDAYS: Final = _table(
    "monday mondays mon: monday | tuesday tuesdays tue tues: tuesday | wednesday wednesdays wed:"
    " wednesday | thursday thursdays thu thur thurs: thursday | friday fridays fri: friday |"
    " saturday saturdays: saturday | sunday sundays: sunday"
)
DAY_WORDS: Final = _table(
    "today: rel:today | tonight: rel:tonight | tomorrow tmrw tomorrows: rel:tomorrow |"
    " yesterday: rel:yesterday | weekend weekends: rel:weekend | weekday weekdays: rel:weekday |"
    " morning mornings: tod:morning | afternoon afternoons: tod:afternoon | evening evenings:"
    " tod:evening | night nights overnight: tod:night | noon midday: time:12:00 | midnight:"
    " time:0:00 | summer: season:summer | winter: season:winter | autumn: season:autumn |"
    " daily: freq:daily | weekly: freq:weekly | monthly: freq:monthly | yearly annually annual:"
    " freq:yearly | hourly: freq:hourly | quarterly: freq:quarterly"
)
RELATIVE: Final = _words("this next last coming past previous following")
PERIODS: Final = _words("week month year quarter weekend day morning afternoon evening night")
DATE_TRIGGERS: Final = frozenset(WEEKDAYS) | set(DAY_WORDS) | RELATIVE | set(MONTHS)
UNITS: Final = _numbered(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
TENS: Final = _numbered("twenty thirty forty fifty sixty seventy eighty ninety", 20, 10)
SCALES: Final = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
ORDINALS: Final = _numbered(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth",
    1,
) | {word[:-1] + "ieth": value for word, value in TENS.items()}
NUMBER_CLASS: Final = {"hundred": "hundred", "dozen": "dozen"} | {  # see `_parse_number`
    word: kind for kind, words in (("unit", UNITS), ("tens", TENS), ("scale", SCALES),
    ("ord", ORDINALS)) for word in words}  # fmt: skip
NUMBER_VALUE: Final = UNITS | TENS | ORDINALS
GRAMMAR: Final = _words(  # "previous>next" classes `_parse_number` accepts ("" is the start)
    ">unit tens>unit hundred>unit scale>unit and>unit >tens hundred>tens scale>tens and>tens "
    ">hundred unit>hundred tens>hundred a>hundred >scale unit>scale tens>scale hundred>scale "
    "a>scale >dozen unit>dozen a>dozen >ord tens>ord hundred>ord scale>ord and>ord"
)
NOT_ONE: Final = _words(  # "which one", "the one", "no one", "one of": not a count
    "the this that which each every any no some another other same only last next first new old "
    "right wrong little big such a"
)
CURRENCY: Final = _table(
    "$ usd dollar dollars buck bucks: USD | € eur euro euros: EUR | £ gbp: GBP | ¥ jpy yen: JPY"
    " | ₹ inr rupee rupees: INR | chf franc francs: CHF | cad: CAD | aud: AUD | cent cents: cent"
)
NOUN_ALIASES: Final = _table(
    "people persons: person | children: child | men: man | women: woman | feet: foot | teeth:"
    " tooth | mice: mouse | s sec secs: second | min mins: minute | h hr hrs: hour | d: day | wk"
    " wks: week | mo: month | y yr yrs: year | kg kgs kilo kilos kilograms: kilogram | g grams:"
    " gram | mg milligrams: milligram | km kms kilometers kilometres kilometre: kilometer | cm:"
    " centimeter | mm: millimeter | lb lbs pounds: pound | ml: milliliter | l litres litre"
    " liters: liter | mi miles: mile | ft: foot"
)
RELATIONS: Final = _words(  # "my partner's account": whose, when said with a possessive
    "partner spouse wife husband child kid son daughter parent mother father mom mum dad brother "
    "sister friend boss manager colleague coworker employer employee client customer company team "
    "family roommate landlord tenant user admin neighbor neighbour doctor teacher student owner "
    "member organization business someone somebody everyone people children guest patient"
)
NEGATIONS: Final = _words("not no never none nothing nobody nowhere neither nor unable")
N_T: Final = {"ca": "can", "wo": "will", "sha": "shall", "ai": "be"}  # can't won't shan't ain't
S_IS: Final = _words("it that what there here he she who where when how why let this")  # it's
ROLES: Final = _table("from: from | to into onto towards toward: to | than: than")
ARTICLES: Final = _words("the a an")
SUBORDINATORS: Final = _words("if when whenever while because although though unless whereas")
COORDINATION: Final = _words("and or nor & vs versus plus the a an both either neither between")
SCOPE: Final = _table(
    "my mine myself: me | we us our ours ourselves: us | your yours yourself yourselves: you |"
    " they them their theirs themselves: them | he him his himself: him | she her hers herself:"
    " her | companies corporate: company | teams: team | partners: partner | org organisation"
    " organizations organisations: organization | all every each everyone everybody everything:"
    " all | any anyone anybody: any"
) | {word: word for word in _words(
    "company team organization department family household enterprise business workspace "
    "personal shared joint partner only both")}  # fmt: skip
DEFAULT_SCOPE: Final = _words(  # a support question is the asker's unless it says otherwise:
    "me us any"  # "my card" = "a card" = "our card", "any fee" = "a fee"; "your" still counts
)
STOPWORDS: Final = _words(
    "a an the and or but if then so of to in on at by for with without from into onto over under "
    "about as is are was were be been being am do does did doing have has had having can could "
    "may might must shall should will would i me my mine you your yours he him his she her hers "
    "it its we us our they them their this that these those what which who whom whose when where "
    "why how there here not no yes please thanks thank hi hello hey dear ok okay sir madam mr mrs "
    "ms dr also just very too more most some any all each every both either neither than such "
    "same other another let lets get got make like want need know tell give show find help "
    "explain describe list compare write"
)
ENGLISH: Final = STOPWORDS - _words("a an in on no so me he hi ok okay dr mr list also")
FOREIGN: Final = _words(  # frequent words of other languages, not of English
    "el la los las del que qué cómo por para con una es está mi su de le les des du est et pour "
    "avec une mon ma mes pas der die das und ist wie ich mein nicht il lo gli per che è com você "
    "não är och jag het mia mio il di della sono posso een ik mijn hoe voor naar ook jak się"
    " nie na moja mój och hur för på av eller bir için ve bu ne"
)
TITLE_WORDS: Final = STOPWORDS - {"i"}  # capitalised mid-sentence: Title Case
COMMON_CAPS: Final = _words("i i'm i've i'd i'll ok okay am pm hi hello hey dear please thanks")
AXES: Final = """
session: log_in sign_in login logon signin = log_out sign_out logout logoff signout = sign_up
signup; power: turn_on switch_on power_on plug_in = turn_off switch_off power_off unplug shut_down;
opt: opt_in optin = opt_out optout; check: check_in checkin clock_in = check_out checkout clock_out;
zoom: zoom_in scale_up = zoom_out scale_down; open: open reopen = close shut closure; with: with =
without; time: before earlier prior previously within = after later afterwards; change: increase
raise rise rose risen grow grew grown boost up = decrease reduce lower cut drop fall fell fallen
shrink shrank decline down; trade: buy bought purchase = sell sold; gain: gain win won profit earn
earned = lose lost loss; membership: add insert include attach = remove delete exclude detach erase;
permission: enable activate allow permit unblock = disable deactivate block deny forbid prohibit ban
disallow; decision: accept approve confirm grant = reject decline refuse deny revoke; run: start
begin began begun launch resume = stop end finish halt terminate quit pause suspend; subscription:
subscribe renew = unsubscribe cancel; install: install = uninstall; link: connect link = disconnect
unlink; lock: lock = unlock; transfer: upload = download; crypt: encrypt encode compress zip =
decrypt decode decompress unzip; flow: push = pull; give: send sent give gave given lend lent =
receive get got gotten borrow; port: import = export; money: deposit = withdraw withdrew withdrawal;
ledger: debit = credit; charge: charge pay = refund; travel: arrive arrival arrivals inbound
incoming = depart departure departures outbound outgoing; extreme: max maximum most highest largest
biggest longest tallest = min minimum least lowest smallest shortest; amount: more greater larger
bigger longer higher above over exceed = less fewer smaller shorter below under; price: cheap
cheaper cheapest inexpensive affordable = expensive costly pricier priciest; speed: fast faster
fastest quick quicker quickly = slow slower slowest slowly; heat: hot warm warmer warmest heat
heating = cold colder coldest cool cooler cooling freeze; quality: good better best positive benefit
advantage = bad worse worst negative harm harmful disadvantage; safety: safe safely secure legal =
unsafe dangerous insecure illegal risky; possibility: possible able = impossible unable;
availability: available = unavailable; validity: valid = invalid; truth: true correct = false
incorrect wrong; need: need required require mandatory necessary compulsory = optional
unnecessary; visibility: public
visible = private hidden invisible; place: internal inside indoor indoors = external outside outdoor
outdoors; position: first = last final; age: old older oldest = new newer newest latest recent;
side: left = right; ns: north northern = south southern; ew: east eastern = west western; grade:
upgrade = downgrade; sex: male man men boy boys = female woman women girl girls; result: pass passed
succeed succeeded success successful = fail failed failure unsuccessful; staff: hire hired employ
onboard = fire fired dismiss dismissed layoff; enrol: join enroll enrol register = leave quit
unenroll unregister; agree: agree = disagree; state: online = offline; sync: sync synchronous =
async asynchronous; io: input read = output write; case: uppercase = lowercase; region: domestic
local = international foreign global; size: big large huge = small tiny; timing: early = late;
level: full = empty; length: long longer longest tall taller tallest = short shorter shortest; life:
alive = dead; wet: wet = dry; follow: follow = unfollow; mute: mute = unmute; include: inclusive =
exclusive; expand: expand maximize = collapse minimize; modal: can could may might = should must
ought need; person: adult adults = child children kid kids minor minors infant infants baby babies;
height: high higher highest upper = low lower lowest; shade: light lighter bright brighter = dark
darker dim; weight: heavy heavier heaviest = light lighter lightest; strength: strong stronger =
weak weaker; difficulty: easy easier easiest = hard harder hardest difficult; gross: gross = net;
rate: fixed = variable floating; entry: enter entry entrance = exit; over: overpaid overpay
overcharge overcharged overweight overestimate = underpaid underpay undercharge undercharged
underweight underestimate; mode: manual manually = automatic automatically; wire: wired = wireless;
rank: junior = senior; skill: beginner beginners novice = advanced expert experts; room: single =
double twin; distance: near nearest nearby = far farther farthest; floor: upstairs = downstairs;
top: top = bottom; front: front = rear; tenancy: landlord lessor = tenant lessee renter; market:
buyer buyers purchaser = seller sellers vendor merchant; post: sender = recipient receiver
addressee; job: employer employers = employee employees; move: move_in = move_out; cash: cash_in =
cash_out; parcel: drop_off = pick_up; volume: turn_up = turn_down; backup: backup back_up = restore;
stock: in_stock in_network in_person = out_of
"""


def _groups(spec: str) -> tuple[frozenset[str], ...]:
    """'a b | c d' -> ({a, b}, {c, d})."""
    return tuple(frozenset(group.split()) for group in spec.split("|"))


def _axes(spec: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """word (or `verb_particle`) -> ((axis, pole), ...); a word may sit on several axes."""
    out: dict[str, set[tuple[str, str]]] = {}
    for entry in " ".join(spec.split()).split(";"):  # "axis: plus words = minus words; ..."
        axis, _, poles = entry.strip().partition(":")
        for pole, words in enumerate(poles.split("=")):
            for word in words.split():
                verb, _, particle = word.partition("_")
                for form in _inflections(verb) if len(word) > 3 and len(verb) > 2 else (verb,):
                    key = f"{form}_{particle}" if particle else form
                    out.setdefault(key, set()).add((axis, "+-~"[pole]))
    return {word: tuple(sorted(poles)) for word, poles in out.items()}


def _inflections(word: str) -> Iterable[str]:
    yield from (word, word + "s", word + "es", word + "ed", word + "d", word + "ing")
    if word.endswith("e"):
        yield word[:-1] + "ing"
    if word.endswith("y"):
        yield from (word[:-1] + "ies", word[:-1] + "ied")
    if len(word) > 2 and word[-1] not in "aeiouwy" and word[-2] in "aeiou":
        yield from (word + word[-1] + "ed", word + word[-1] + "ing")


POLARITY: Final = _axes(AXES)
PHRASAL: Final = frozenset(key.partition("_")[0] for key in POLARITY if "_" in key)

# Whose question it is: a relation after "my"/"your"/... or after "for"/"of" ("for my mother",
# "on behalf of a client", "for someone") names another person the answer is about.
KIN: Final = _table(
    "mother mom mum: mother | father dad: father | parent parents: parent | son sons: son |"
    " daughter daughters: daughter | child children kid kids: child | baby babies infant: baby |"
    " brother brothers: brother | sister sisters: sister | husband: husband | wife: wife | spouse"
    " partner partners: partner | boyfriend girlfriend: partner | friend friends: friend |"
    " colleague colleagues coworker coworkers teammate teammates: colleague | boss manager"
    " supervisor: manager | employee employees staff: employee | client clients customer"
    " customers: client | tenant tenants: tenant | landlord: landlord | roommate flatmate:"
    " roommate | neighbor neighbour neighbors neighbours: neighbour | guest guests visitor"
    " visitors: guest | patient patients: patient | grandparent grandparents grandmother grandma"
    " grandfather grandpa: grandparent | dependant dependent dependants dependents: dependant |"
    " someone somebody others: someone | admin administrator: admin"
)
POSSESSIVES: Final = _words("my your our his her their")
BENEFICIARY: Final = _words("for of")  # "for my mother", "on behalf of a client"
GROUPS: Final = _words(  # group scope words: "the company's plan" = "the company plan"
    "company team organization department family household enterprise business workspace"
)
WORK: Final = _words("work")  # "my work laptop" = "my company laptop"
# A modal after its subject states ("I can smell gas", "before I can see"); a modal that asks
# comes before it ("Can I ...", "What should I ..."), or after an auxiliary ("Do I need ...").
SUBJECTS: Final = _words("i we you they he she it")
AUXILIARIES: Final = _words(
    "do does did can could should would will shall may might must is are am was were have has"
)
REFERENCES: Final = _words("before after until till")  # "before departure": a reference point

# The content words a question asks about, for the one-word substitution check: words that do
# not change the answer are left out; two words in one `SYNONYMS` group (a word may be in
# several) ask the same. A word right after one of `VERB_CONTEXT` (or ending in -ed / -ing after
# no article) is taken for a verb: verbs are reworded freely, so only two swapped nouns refuse.
FILLER: Final = _words(
    "way ways process procedure steps step possible able best right proper correct thing things"
    " something anything kindly actually exactly quick quickly question wondering wonder curious"
    " really still ever currently now go going regarding around again sure somehow anyone"
    " someone's one ones i'm i've i'd i'll let's okay mean means meaning options option"
)
SYNONYMS: Final = _groups(
    """
get obtain acquire | buy purchase order | change update modify edit amend alter adjust | cancel
terminate | delete remove erase | fix repair resolve solve troubleshoot | start begin commence |
find locate | see view check look access | contact reach talk speak | register enrol enroll
signup | colleague coworker teammate | doctor physician gp | vaccine vaccination jab shot |
medication medicine meds | password passcode | phone mobile cellphone smartphone cell handset |
laptop notebook computer pc | car vehicle automobile | bill invoice | fee charge cost price |
price cost rate fare | refund reimbursement | parcel package shipment | shipping delivery
postage | holiday vacation pto | salary wage wages paycheck | id identification | website site
webpage | email mail | manager supervisor boss | employee staff worker | customer client |
appointment booking reservation visit | luggage baggage bag suitcase | kid child | mother mom
mum | father dad | error issue problem fault glitch | broken damaged faulty defective | help
assist support | use utilise utilize | talk speak chat | wifi wireless | internet broadband |
house home | rental hire rent | postcode zipcode zip | tv television | photo picture image pic |
file document doc papers paperwork | shop store | tell inform notify | ask request | setup
configure | log sign | job role position | stop halt | fast rapid | big large | small little |
payment pay | policy rules | account profile | message text sms | call ring | instalment
installment repayment | flight plane | cover include | sick ill unwell | apply application |
allowed permitted | nearest closest | fine penalty ticket | restart reboot | reset regenerate |
work company corporate employer | support service helpdesk | stroller pram pushchair | issue
problem trouble
"""
)
VERB_CONTEXT: Final = _words(
    "i we you they he she it me us to can could should would will shall may might must do does"
    " did please not never let just also ever"
)
INFLECTIONS: Final = _words(  # what may follow a stem without changing the question
    "s es e ed ing ings er ers ment ments ion ions ation ations al ly y ies ied able ible abl"
)


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A crude stem, enough to tell an inflection from another word: refunds -> refund, closed /
    closing / close -> clos, shipping -> ship, policies -> policy, mins -> minute."""
    word = NOUN_ALIASES.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix != "s" or word[-2] not in "su":  # class, status
                word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


_SYNONYM_OF: Final = {  # stem -> the synonym groups it is in
    root: frozenset(n for n, group in enumerate(SYNONYMS) for word in group if stem(word) == root)
    for root in {stem(word) for group in SYNONYMS for word in group}
}
_NONE: Final[frozenset[int]] = frozenset()


def same_word(a: str, b: str) -> bool:
    """Two stems for one word: synonyms, forms of one word (engineer / engineering, pay /
    payment) or a misspelling: the first letter kept, one edit (two from 8 letters), and no
    letter replaced in a short word ("flood" / "floor", "card" / "cart")."""
    if a == b or _SYNONYM_OF.get(a, _NONE) & _SYNONYM_OF.get(b, _NONE):
        return True
    short, long = sorted((a, b), key=len)
    if len(short) >= 3 and long.startswith(short) and long[len(short) :] in INFLECTIONS:
        return True
    if a[0] != b[0] or len(short) < (4 if len(long) > len(short) else 6):
        return False
    return _distance(a, b, 2) <= (2 if len(short) >= 8 else 1)


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before = row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        earlier, before, row = before, row, [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(before[j] + 1, row[j - 1] + 1, before[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], earlier[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
    return row[-1]
