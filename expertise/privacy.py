"""PII redaction with typed placeholders.

Every ticket passes through :func:`redact` before it is stored or scored, so this module is
written for speed (about 80,000 redactions a second of 300-character tickets on one core): it
imports only the standard library, compiles each pattern once where it is first used, and runs
a costly pattern only when a cheap check says it could match. No ``@`` means no e-mail
address; one scan over the digits decides whether phone, card, IBAN, IP, address or postcode
patterns run at all; name patterns run only where a cue ("I'm", a greeting, a sign-off) was
found by a string search. A text outside ASCII first has its look-alike characters made plain
(no-break and thin spaces, full-width and other scripts' digits, zero-width spaces), so that
"4111 1111 1111 1111" typed with no-break spaces is still a card.

Placeholders
------------
``<EMAIL>``, ``<PHONE>``, ``<CARD>`` (13-19 digits passing the Luhn check), ``<IBAN>``,
``<ADDRESS>`` (UK postcodes, street addresses, US towns with state and ZIP, PO boxes),
``<IP>`` (public IPv4), ``<MAC>``, ``<NAME>`` (self-introductions, greetings and sign-offs),
``<ACCOUNT>`` (after "account number", "acct no", "sort code"...) and ``<IMEI>`` (after
"IMEI").

Technical signal is kept on purpose: private and reserved IPv4, the well-known public DNS
resolvers, ports, error codes, version and build numbers, model numbers, speeds, dates, times
and short order numbers.

Examples
--------
>>> redact("Hi, I'm Sarah Jones, call me on 07700 900123 or mail sarah@example.com")
"Hi, I'm <NAME>, call me on <PHONE> or mail <EMAIL>"
>>> redact("Router 192.168.1.1 on firmware 4.2.1 says E-1043, DNS 8.8.8.8")
'Router 192.168.1.1 on firmware 4.2.1 says E-1043, DNS 8.8.8.8'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "PUBLIC_RESOLVERS",
    "is_name_word",
    "luhn_ok",
    "redact",
]

#: Kinds of PII, in the order they are counted and reported.
KINDS: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "CARD",
    "IBAN",
    "ADDRESS",
    "IP",
    "MAC",
    "NAME",
    "ACCOUNT",
    "IMEI",
    "DOB",
    "ID",
    "SECRET",
)
PLACEHOLDERS: dict[str, str] = {kind: f"<{kind}>" for kind in KINDS}

#: Public resolvers people quote when describing DNS settings: technical signal, not PII.
PUBLIC_RESOLVERS: frozenset[str] = frozenset(
    {
        "1.1.1.1",
        "1.0.0.1",
        "8.8.8.8",
        "8.8.4.4",
        "9.9.9.9",
        "149.112.112.112",
        "208.67.222.222",
        "208.67.220.220",
    }
)

# ---------------------------------------------------------------------------------------------
# Patterns. Lookarounds stop a pattern from starting or ending inside a longer token, so that
# "v4.2.1.9" or "SM-G991B" never yield a fragment that looks like something else.
# ---------------------------------------------------------------------------------------------


class _LazyPattern:
    """A pattern compiled where it is first used, which then takes its place among this
    module's globals. Compiling every pattern here takes about 35 ms, a tenth of a one-shot
    answer, while a text's cues call on few of them; after its first use, code reads the
    compiled pattern itself, at no extra cost. (Nothing may keep a reference to this stand-in
    and compare it by identity.)"""

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(self._source)
        module = globals()
        for key, value in list(module.items()):
            if value is self:
                module[key] = compiled
        return getattr(compiled, name)


def _pattern(source: str) -> re.Pattern[str]:
    return cast("re.Pattern[str]", _LazyPattern(source))


def compile_patterns() -> int:
    """Compile now every pattern not yet used; return how many were compiled.

    For a long-lived process (an agent's session), so that its first calls do not pay about
    35 ms of compilation between them (a one-shot answer is better served lazily).
    """
    lazy = [value for value in globals().values() if isinstance(value, _LazyPattern)]
    for value in lazy:
        value.pattern  # noqa: B018 - compiles it, and the compiled pattern takes its place
    return len(lazy)


# Characters that hide data from ASCII patterns: a card written with no-break spaces, a
# phone number in full-width or Arabic-Indic digits, a zero-width space inside an e-mail
# address. Before anything is matched, spaces become " ", hyphens "-", digits and full-width
# letters, digits and "@.+" ASCII, and invisible spaces go. Joiners stay (they hold emoji
# sequences together), as do full-width brackets and other punctuation. Only a text outside
# ASCII can hold one.
_LOOKALIKES: dict[int, int | None] = {
    **dict.fromkeys((0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000), 0x20),
    **dict.fromkeys((0x00AD, 0x200B, 0x2060, 0xFEFF)),
    **dict.fromkeys((0x2010, 0x2011, 0x2012, 0xFE63), 0x2D),
    **{code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B),
                                        *range(0xFF41, 0xFF5B), 0xFF20, 0xFF0E, 0xFF0B)},
    **{zero + d: 0x30 + d for zero in (0x0660, 0x06F0, 0x0966, 0x09E6) for d in range(10)},
}
_LOOKALIKE = _pattern("[" + "".join(re.escape(chr(code)) for code in sorted(_LOOKALIKES)) + "]")

_ATEXT = r"-A-Za-z0-9!#$%&'*+/=?^_`{|}~"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = _pattern(
    rf"(?<![{_ATEXT}.])[{_ATEXT}](?:[{_ATEXT}.]{{0,63}})@{_LABEL}(?:\.{_LABEL})+(?![A-Za-z0-9-])"
)

# Keyword-led patterns are anchored: a plain string search finds where "imei" or "account"
# occurs, and the pattern is matched only there.
_IMEI_AT = _pattern(
    r"(?i:imei(?:[ ]?(?:number|no|nr|\#))?\.?)(?:[ ]+(?i:is))?[ ]*[:#=-]?[ ]*"
    r"(?P<v>[0-9](?:[ -]?[0-9]){13,16})(?![\w-])"
)
_ACCOUNT_AT = _pattern(
    r"(?i:(?:account|acct|acc|a/c)(?:[ ]?(?:number|num|no|nr|\#|id|ref(?:erence)?))?"
    r"|cust(?:omer)?[ ]?(?:id|no|number|num|nr|ref(?:erence)?|\#)(?![a-z])"
    r"|sort[ -]?code)\.?"
    r"(?:[ ]+(?i:is))?[ ]*[:#=-]?[ ]*"
    r"(?P<v>[0-9]{2}[ -][0-9]{2}[ -][0-9]{2}(?:[ ,/]+[0-9]{6,10})?(?![\w-])"
    r"|[0-9](?:[ -]?[0-9]){3,22}(?![\w-])"
    r"|[A-Za-z]{1,4}-?[0-9][0-9-]{2,20}[0-9](?![\w-]))"
)

_IBAN = _pattern(
    r"(?<![\w-])(?P<v>[A-Za-z]{2}[0-9]{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?)"
    r"(?![\w-])"
)

_CARD = _pattern(r"[0-9](?<![\w+.,/-][0-9])(?:[ -]?[0-9]){12,18}(?![\w]|[.,/-][0-9])")

# International: +CC then groups, "(0)" allowed after the country code.
_PHONE_INTL = _pattern(
    r"\+(?<![\w.+/-]\+)[0-9]{1,3}(?:[ .-]?\(0\))?(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,6})){1,7}"
    r"(?![\w]|[.-][0-9])"
)
# National: the first character is consumed, then each branch checks what it was, so that the
# regex engine can skip quickly to the next digit or bracket.
_PHONE_NAT = _pattern(
    r"[(0-9](?<![\w.+/-][(0-9])(?:"
    # UK: 020 7946 0018, (020) 7946 0018, 07700 900123, 0161 496 0000, 01632 960123
    r"(?:(?<=\()0[0-9]{2,4}\)|(?<=0)[0-9]{2,4})[ -]?[0-9]{3,6}(?:[ -]?[0-9]{3,4})?"
    # North American: 1-800-555-0199, (415) 555-0132, 415-555-0132, 415.555.0132
    r"|(?<=1)[ .-](?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}"
    r"|(?<=\()[2-9][0-9]{2}\)[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}"
    r"|(?<=[2-9])[0-9]{2}[ .-][2-9][0-9]{2}[ .-][0-9]{4}"
    # French and others in pairs: 06 12 34 56 78; digit by digit: 0 7 7 0 0  9 0 0 1 2 3
    r"|(?<=0)[1-9](?:[ .][0-9]{2}){4}"
    r"|(?<=0)(?:[ ]{1,2}[0-9]){9,10}"
    r")(?![\w]|[.-][0-9])"
)

_IPV4 = _pattern(
    r"[0-9](?<![\w.][0-9])"
    # 10/8, 127/8, 172.16/12 and 192.168/16 fail here, before any Python callback runs
    r"(?!(?<=1)(?:0|27|92\.168|72\.(?:1[6-9]|2[0-9]|3[01]))\.)"
    r"[0-9]{0,2}+(?:\.[0-9]{1,3}+){3}(?![\w]|\.[0-9])"
)
_VERSION_CUE = _pattern(
    r"(?i:\b(?:version|ver|firmware|fw|build|release|software|update|os|v))[ ]*[:=]?[ ]*$"
)

_MAC = _pattern(
    r"[0-9A-Fa-f]{2}(?<![\w:.-][0-9A-Fa-f]{2})([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
    r"(?![\w:-])"
)

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Close|Crescent|Cres"
    "|Terrace|Place|Pl|Way|Gardens|Grove|Mews|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir"
)
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV"
    "|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_US_CITY_STATE = rf"[A-Z][a-z]+(?:[ ][A-Z][a-z]+){{0,2}},?[ ]+(?:{_US_STATES})"
_STREET_WORDS = r"(?:[ ]+(?:[A-Z][a-z'’]+(?:-[A-Z][a-z]+)?|[0-9]{1,3}(?:st|nd|rd|th))){1,4}"

# One scan over the digits decides which of the costlier patterns run at all: eight or more
# digits in a run (phones, cards), a dotted phone, two letters and two digits starting a long
# code (IBAN), a dotted quad (IP), a number before a street name (address), a digit followed
# by two letters (a postcode's inward code).
_HINT = _pattern(
    r"[0-9](?<![0-9.][0-9])(?:"
    r"(?P<long>(?<![\w.][0-9])(?:[ ()-]{0,2}+[0-9]){7})"
    r"|(?P<dotphone>(?<![\w.][0-9])[0-9]{2}\.[0-9]{3}\.[0-9]{4})"
    r"|(?P<iban>(?<=(?<![\w-])[A-Za-z]{2}[0-9])[0-9](?:[ ]?[A-Za-z0-9]){10})"
    r"|(?P<ip>(?!(?<=1)(?:0|27|92\.168|72\.(?:1[6-9]|2[0-9]|3[01]))\.)"
    r"[0-9]{0,2}+\.[0-9]{1,3}+\.[0-9]{1,3}+\.[0-9])"
    r"|(?P<zip>(?<=[A-Z][A-Z][ ][0-9])[0-9]{4}(?![\w]))"
    r"|(?P<addr>[0-9]{0,4}+[A-Za-z]?[ ]++(?:[A-Z](?!bps)[a-z]{2}|[0-9]{1,3}(?:st|nd|rd|th)[ ]))"
    r"|(?P<post>[A-Za-z0-9]?[ ]?[0-9][A-Za-z]{2}(?![\w-]))"
    r"|(?P<nino>(?:(?<=[A-Z]{2}[0-9])|(?<=[A-Z]{2}[ ][0-9]))[0-9](?:[ ]?[0-9]{2}){2}[ ]?[A-D]"
    r"(?![\w]))"
    r"|(?P<ophone>(?<![\w.][0-9])[0-9]{2,4}+[ -]?[0-9]?O)"
    r"|(?P<dotmac>[0-9A-Fa-f]{0,3}+\.[0-9A-Fa-f]{4}(?![0-9A-Za-z]))"
    r")"
)

_ADDRESS = _pattern(
    r"[0-9](?<![\w.,:/#-][0-9])[0-9]{0,4}[A-Za-z]?"
    r"(?:[ ]+(?:[NSEW]\.?|North|South|East|West))?"
    rf"(?P<words>{_STREET_WORDS})"
    rf"[ ]+(?:{_STREET_TYPES})\b\.?"
    r"(?:,?[ ]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|\#)\.?[ ]*[A-Za-z0-9-]+)?"
    # "City, ST 12345" only when a state's code follows, so a sentence is never swallowed
    rf"(?:(?:,[ ]*|[ ]+){_US_CITY_STATE}(?:[ ]+[0-9]{{5}}(?:-[0-9]{{4}})?)?(?!\w))?"
)
#: A US town, its state and ZIP code standing alone: "Springfield, IL 62704".
_US_CITY_ZIP = _pattern(
    rf"(?<![\w'’-]){_US_CITY_STATE}[ ]+[0-9]{{5}}(?:-[0-9]{{4}})?(?![\w-])"
)
#: "PO Box 1234", "P.O. Box 77", "Post Office Box 9".
_PO_BOX = _pattern(
    r"(?<![\w])(?i:p\.?[ ]?o\.?[ ]?box|post[ ]+office[ ]+box|postbox)[ ]*(?:no\.?|\#)?[ ]*"
    r"[0-9]{1,6}(?![\w])"
)
#: A street written in lower case ("12 acacia avenue"), only with a street type that is
#: never an everyday word (no "drive", "close" or "way"), and none of `_NOT_STREET_LOWER`.
_ADDRESS_LOWER = _pattern(
    r"[0-9](?<![\w.,:/#-][0-9])[0-9]{0,3}[A-Za-z]?(?P<words>(?:[ ]+[A-Za-z][a-z'’]+){1,3})[ ]+"
    r"(?i:street|road|avenue|lane|crescent|terrace|gardens|grove|mews|rd|ave)(?![\w])"
)
_STREET_LOWER_CUES = ("street", "road", "avenue", "lane", "crescent", "terrace", "gardens",
                      "grove", "mews", "rd", "ave")
#: Words that make "2 miles down the road" or "10 mins up the lane" a journey, not a street.
_NOT_STREET_LOWER = frozenset(
    """
    the a an of to on in at by up down along across around round off over from into onto
    my our your their his her its this that these those is was are and or but for with
    mile miles km metres meters yards minutes mins min hours hrs seconds secs times doors
    houses streets roads lanes blocks stops walk drive ride away just only about nearly
    """.split()
)
#: The rest of an address around what was found: "Flat 4, <ADDRESS>", "Rose Cottage,
#: <ADDRESS>", "<ADDRESS>, Norwich <ADDRESS>" (a street, a town, a postcode).
_ADDRESS_AROUND = _pattern(
    r"(?:(?:Flat|Apt|Apartment|Unit|Suite|Room)\.?[ ]+[0-9A-Za-z]{1,5},?[ ]+"
    r"|(?:[A-Z][a-z]+[ ]){1,2}(?:Cottage|House|Farm|Lodge|Barn|Manor|Villa|Hall|Court"
    r"|Mansions|Residency|Towers|Apartments),[ ]+)?"
    r"<ADDRESS>(?:,?[ ]*(?:[A-Z][a-zà-ÿ'’-]+[ ]?){1,3}(?:[ ]?[0-9]{1,2})?,?[ ]*<ADDRESS>)*"
)
#: Capitalised words that make "2 External Hard Drive" a device, not a street.
_NOT_STREET_WORDS = frozenset(
    "hard flash external thumb usb network cloud solid state disk optical portable google"
    " one microsoft apple samsung lumen wireless dual".split()
)

_POSTCODE = _pattern(
    r"(?<![\w-])(?P<out>[A-Za-z]{1,2}[0-9][A-Za-z0-9]?)[ ]?(?P<in>[0-9][A-Za-z]{2})(?![\w-])"
)
#: The 121 UK postcode areas: "PS5 2TB" (a console and a disk) is not a postcode.
_POSTCODE_AREAS = frozenset(
    (
        "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN"
        " DT DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW"
        " KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH"
        " RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD"
        " WF WN WR WS WV YO ZE"
    ).split()
)
_INWARD_LETTERS = frozenset("ABDEFGHJLNPQRSTUWXYZ")
#: "S23 1TB" is a phone and its storage: inward codes that read as capacities are kept.
_INWARD_UNITS = frozenset({"TB", "GB"})

# Names: a capitalised word, optionally O'Brien, McDonald or Mary-Jane shaped; up to three.
# The name patterns are anchored: plain string searches find where they can start (after
# "I'm", at a line start, before a line end), and only there does a pattern run.
_UP = "A-ZÀ-ÖØ-ÞĀ-Ž"
_LO = "a-zß-öø-ÿā-ž"
_NAME_WORD = rf"(?:[{_UP}]['’])?[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:-[{_UP}][{_LO}]+)?"
#: A title before a name stays: "Dear Mr <NAME>".
_TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ ]+)?"
_NAME = rf"{_TITLE}(?P<name>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,2}})"
_ANYCASE_WORD = rf"[{_UP}{_LO}]+(?:['’-][{_UP}{_LO}]+)?"
_GREET = r"(?i:hi|hello|hey|hiya|dear|morning|good[ ]+(?:morning|afternoon|evening))"
_INTRO_END = (
    r"(?=[ \t]*[.!,;:?)\n\r]|[ \t]*\Z|[ \t]+(?:and|from|here|calling|speaking|at|of)\b"
    r"|[ ]-)"
)

_INTRO_NEEDLES = ("i'm", "i am", "im ", "i’m")
_INTRO_AT = _pattern(r"(?i:i'm|i’m|i[ ]am|im)[ \t]+" + _NAME + r"(?![\w'’-])")
_MY_NAME_AT = _pattern(
    r"(?i:name(?:[ ]+(?:is|was|as)|'s|’s|[ ]+on[ ]+(?:the[ ]+)?(?:card|account))?)"
    r"[\"']?[ \t]*[:=,\t]?[ \t]*[\"']?[ \t]*"
    rf"(?P<name>{_ANYCASE_WORD}(?:[ ]{_ANYCASE_WORD}){{0,2}})"
)

#: Words that follow "I'm", "my name is" or a sign-off without being a name.
_NOT_NAMES = frozenset(
    """
    a about abroad absolutely actually advance afraid again ago all almost already also always
    am an and annoyed another any anyone app are as asking at available away back bad being
    best bill both broadband busy but by calling can cannot certain checking confused
    connected constantly contacting correct could currently customer dear desperate different
    disconnected do does done down due each either else email english engineer every everyone
    everything experiencing expert extremely fed fine folks for frustrated from fully getting
    glad going gone good great guys happy hard having hello help helping here hey hi his home
    hoping how however hub i if in interested is it its just keen kind late less like looking
    lost lumen mad mate me messaging mine missing more most much my new nice no none not
    novice now of off ok okay old on one only or other our out over owner paying please
    pleased pretty quite ready really regards registered replying reporting retired right
    same seeing self sending sent service settings she showing signed sir madam so some
    sorry spelled spelt still stuck such support sure team technical thanks that the their
    them then there these they this those though through to today too totally trying twice
    under unable unsure up upset using very waiting was we well were what when where which
    who why wifi will with without wondering working worried writing wrong yes yet you your
    monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december christmas easter
    alexa siri google apple amazon netflix disney samsung sky virgin bt windows android iphone
    ipad android chrome outlook gmail microsoft xbox playstation nintendo roku sonos ring nest
    hive huawei netgear spotify youtube whatsapp facebook instagram zoom teams fibre mobile tv
    broadband router modem phone tel telephone address postcode email
    """.split()
) | {"regards", "thanks", "thx", "ta", "cheers", "best", "wishes", "sincerely", "faithfully"}

#: Given names (and the short forms people sign with) that are not also everyday English or
#: product words: one of these, capitalised, is read as a name wherever it stands, and in a
#: message written all in lower case too. Words like Mark, Will, Grace, May or Bill are not
#: here: they count as names only after a cue ("Mr", "Caller", "Thanks,").
_GIVEN_NAMES = frozenset(
    """
    aaliyah aaron abbie abdul abdullah abdullahi abdulrahman abena abhishek abigail adam adebayo
    adele adeola aditya adriana adrian agata agnes agnieszka ahmad ahmed aidan aileen aimee aisha
    ajay akash akua alana alasdair alberto aleksandra alejandro alessandro alessia alexander
    alexandra alexis alfie alfred alicia alina alison alistair amanda amani amelia amina amir
    amit amrit amy anand anastasia andrea andreas andrew andrzej andy aneta angela angelina
    angus anika anil anita anjali ankit anna annabel anne annette annie anthony antoine antonio
    anup aoife archie arjun arthur arun asha ashok ashley astrid audrey ayesha aziz barbara
    barry beatrice beatriz becky belinda bella ben benjamin benoit bernadette bernard beth bethany
    betty bex bilal billy birgit bjorn bogdan bola bongani bradley brandon brenda brendan brian
    bridget bronwen bruno bryony caitlin callum camila camille carla carlos carly carmen caroline
    carolyn catalina catherine cathy catriona cecilia celine cerys chantelle charlene charlie
    charlotte chelsea cheryl chidi chinedu chioma chloe chris christian christina christine
    christopher chukwuemeka ciara ciaran claire clara clare claudia colin colleen connor craig
    cristina dafydd damian damien daniel daniela danielle danny dariusz darren dave davey david
    dean deborah debbie debra declan deepa deepak deirdre denise dennis derek dermot desmond
    devi diana diane diego dieter dimitri dinesh divya dmitri dominic donna doreen doris dorothy
    douglas duncan dylan eamon edith eduardo edward edwin eileen elaine eleanor elena elif elise
    eliza elizabeth ella ellen ellie elliot elliott elodie eloise elsie emeka emily emma enrique
    eoin eric erica erin esther ethan ethel eugene euan eva evan evelyn ewa fabio faisal farah
    farid fatima federica felipe felix femi fergus fernando ffion finlay finn fiona folake
    frances francesca francesco francis francisco francois fraser freddie frederick freya
    funmi gabriel gabriela gareth garry gary gavin gaz gemma geoffrey george georgina gerald
    geraldine gerard gethin gillian gina giovanni giulia giuseppe gladys glenda gloria gordon
    goran graham grainne gregory greta grzegorz guillaume gunter gurpreet gwen hamish hamza
    hannah hans harish harold harpreet harriet harrison harry harvey hassan hayley heike
    heinz helen helena helmut henrik henry hilary hiroshi hollie howard hugh hugo hussein iain
    ian ibrahim igor imogen imran indira ingrid irena irene irfan irina isaac isabel isabella
    isabelle isla ivan iwan jacek jacob jacqueline jake jakub jamal james jamie janet janice
    jaspreet jason jen joão josé andré zoë jürgen günter björn françois benoît céline chloé
    élodie tom tim joe kim ali rob javier jayne jeffrey jemma jenna jennifer jenny jens jeremy
    jerome jess
    jessica jill jim jimmy joanna joanne jocelyn joel johann johanna john johnny jonathan jorge
    jose josef joseph josephine joshua joyce juan judith judy julian julie julien juliet
    jurgen justin kabir kamala kamau karen kareem karim karin karina kasia katarzyna kate
    katharine katherine kathleen kathryn katie katrin katy kavita kayleigh keisha keith kemi
    kenji kenneth kerry kevin khalid kieran kiran kirsty klaus kofi krishna kristen krzysztof
    kuldeep kumar kwabena kwame kwesi kyle lakshmi lars laura lauren laurent layla leah leanne
    leila lena leon leonard lerato lesley leslie liam lindsay linda lisa liz lorenzo lorna
    lorraine louise luca lucas lucia lucy luis lukasz luke lydia lynne madeleine magdalena
    magnus mahesh mahmoud maisie malcolm malgorzata mandy manish manoj manpreet manuel marcel
    marco marcus marek margaret margot maria mariam marian marie marilyn marion marius marjorie
    marta martha martin mary maryam mateusz matteo matthew matthias maureen mehmet megan mei
    melanie melissa michael michal michelle miguel mikhail mildred millie miriam mohamed
    mohammed mohan molly monika morag muhammad mukesh muriel mustafa nabil nadia nandini naomi
    naresh natalia natalie natasha nathan navdeep neha neil ngozi niamh nicholas nicola
    nicolas nicole nigel nikhil nikolai nils nina nisha noah noreen norma obinna oksana olga
    oliver olivia oluwaseun omar orla oscar owen pablo padraig paolo parminder patricia
    patrick paul paula pauline pavel pawel pedro peggy peter petra philip phillip phoebe
    pierre piotr pooja pradeep prakash priscilla priya priyanka rachel radek rafael rahul
    raj rajesh rajinder rajiv rakesh ramesh ramon rashid ravi rebecca reece reza rhiannon
    rhodri rhys ricardo richard roberta roberto rodrigo rohan roisin ronald rosemary rosie
    rukhsana rupert ruth ryan sabine sabrina sachin saeed salma samantha samir samuel sana
    sandeep sandra sanjay santosh sara sarah sasha satoshi saoirse scott seamus sean sebastian
    selina seren sergei sergio seun shabana shahid shane shanice sharon shaun sheila shirley
    shreya sian simon sinead siobhan sipho sofia sonia sophia sophie stacey stanislav stefan
    stefanie stephanie stephen steve steven stewart stuart sudhir sukhvinder sunil sunita
    suresh susan suzanne sven svetlana swati sylvia takeshi tamara tamsin tanya tariq tash
    tatiana teresa terence thabo themba theo theresa thierry thomas tiago timothy tobias toby
    tomasz tommy tony tracey tracy trevor tunde tyler ulrike umar usha usman valentina valerie
    vanessa varun vera veronica vijay vikram vincent vinod vivek vladimir waqas wayne wanjiru
    wei wendy wiktoria william wojciech xavier yasmin yetunde yousef yuki yusuf yvonne zahra
    zainab zara zbigniew zoe zofia
    """.split()
)
#: Family names common enough to recognise; with the given names, what the training
#: vocabulary filter drops (`expertise.modeling.estimators.NgramFeatures`). Everyday words
#: (Price, Green, Hall, Baker...) are left out.
_FAMILY_NAMES = frozenset(
    """
    abbott adeyemi ahmed akhtar ali anderson atkinson bajwa banerjee barnes begum bennett
    bhatt brennan buckley byrne chandran chaudhry chen choudhury clarke connolly costa cunningham
    davies dixon doherty donnelly doyle evans fernandes fernandez fitzgerald fitzpatrick gallagher
    garcia ghosh gonzalez griffiths gupta hargreaves harris hughes hussain iyer jackson jenkins
    johnson jones kamau kaur kelly kennedy khan kowalski kumar lopez macdonald mackenzie mahmood
    martinez mcdonald mcgrath mckenzie mcleish menon mensah mitchell morrison murphy nair nguyen
    nowak obrien oconnell oconnor okafor okoye oliveira osullivan patel pereira perez quinn rahman
    reddy reid reilly richardson robinson rodriguez roberts russo sanchez santos schmidt
    schneider shah sharma siddiqui silva singh smith sullivan sutherland tan taylor thompson
    thornton vogel wallace walsh wang watson wilkinson williams wilson wisniewski wong wright
    yang zhang
    """.split()
)

#: Capitalised words that, though not in `_NOT_NAMES`, are not a name after a cue such as
#: "Customer" or "Thanks,": "Customer Profile", "Caller Display", "Thanks Team".
_NOT_NAMES_AFTER_CUE = _NOT_NAMES | frozenset(
    """
    profile services display details record records notes note visit portal care centre
    center desk office number id reference ref name names agent advisor adviser holder
    account accounts billing bill payment payments complaints complaint retentions sales
    department dept feedback survey satisfaction journey experience relations insight
    everyone all guys folks again anyway sir madam mum dad mom mother father son daughter
    husband wife partner engineer engineers technician tech manager management lead leader
    supervisor support helpdesk desk line team teams said says asked told reported rang
    called emailed wants wanted needs needed confirmed advised explained agreed request
    requested kind kindest warm warmest best many much so very in advance regards thanks
    thank cheers for your the a an this that it its and or but if please sorry apologies
    again following below above attached enclosed signed sent from my iphone ipad android
    outlook gmail mobile galaxy pixel get lumen virgin vodafone ee three o2 plusnet talktalk
    openreach sky bt hub box router modem broadband fibre tv wifi wi-fi internet
    hi hiya hey hello morning evening afternoon dear greetings yo seriously honestly really
    fab great cool brilliant perfect lovely strict open moderate type nothing something
    """.split()
)
#: Two-word shops and brands that begin with a given name.
_NAMED_BRANDS = frozenset({"john lewis", "ted baker", "tim hortons", "ben sherman"})

_INIT = rf"[{_UP}]\.?"
_NAME_RUN = (
    rf"(?:{_INIT}[ ]+){{0,2}}{_NAME_WORD}(?:(?:[ ]+{_INIT})?[ ]+{_NAME_WORD}){{0,2}}"
)
_NAME_END = r"(?=[ \t]*(?:[\r\n.,!?|(;:&/\"\]}>]|\Z|x\b|xx\b|and\b|&|[-–—]))"
#: After a sign-off word: separators, perhaps a line break or two, perhaps a title, the name,
#: and a break ("Regards, Helen. PS", "Best,\nChen Wei | IT", "Thx, Rob (the guy...)").
_AFTER_SIGNOFF = _pattern(
    r"[ \t]*[,.!:;\-–—]*[ \t]*(?:\r?\n[ \t]*){0,3}"
    rf"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Fr|Rev)\.?[ ]+)?(?P<name>{_NAME_RUN}){_NAME_END}"
)
#: After a weak sign-off ("best", "again", "soon"): a comma, a dash or a line break first.
_AFTER_WEAK_SIGNOFF = _pattern(
    r"[ \t]*(?:[,:;\-–—]+[ \t]*(?:\r?\n[ \t]*){0,3}|[.!]*(?:\r?\n[ \t]*){1,3})"
    rf"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Fr|Rev)\.?[ ]+)?(?P<name>{_NAME_RUN}){_NAME_END}"
)
#: After a title: "Mrs A Fletcher", "Dr Anand Rao", "Mr and Mrs Patel" (at "Mrs").
_AFTER_TITLE = _pattern(rf"\.?[ ]+(?P<name>{_NAME_RUN})(?![\w'’-])")
#: After a role ("Caller Janet Price rang", "executor Pauline Hargreaves", "Contact: Sam").
_AFTER_ROLE = _pattern(
    r"(?:[ ]+(?:name|is|was|to|with))?[ \t]*[:=]?[ \t]*"
    rf"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Fr|Rev)\.?[ ]+)?(?P<name>{_NAME_RUN})(?![\w'’-])"
)
#: A signature block after "-- " and a line break; a name after a closing dash.
_AFTER_SIG_DASHES = _pattern(
    r"[ ]?\r?\n[ \t]*"
    rf"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Fr|Rev)\.?[ ]+)?(?P<name>{_NAME_RUN})"
    r"(?=[ \t]*(?:\r?\n|\Z|[|,(]))"
)
_AFTER_END_DASH = _pattern(rf"[ ]+(?P<name>{_NAME_RUN})(?=[ \t]*(?:\r?\n|\Z))")
_AND_NAME = _pattern(rf"[ ]+(?:and|&)[ ]+(?P<name>{_NAME_WORD})(?![\w'’-])")
_NAME_AT = _pattern(
    rf"{_NAME_WORD}(?:(?:[ ]+{_INIT})?[ ]+{_NAME_WORD}){{0,2}}(?![\w'’-])"
)
_LOWER_NAME_AT = _pattern(rf"[{_LO}]+(?:['’-][{_LO}]+)?(?![\w'’-])")

_TITLE_CUES = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "fr", "rev")
_ROLE_CUES = (
    "caller", "customer", "cx", "client", "husband", "wife", "partner", "son", "daughter",
    "mum", "mom", "mother", "dad", "father", "brother", "sister", "grandson", "granddaughter",
    "grandmother", "grandfather", "grandma", "grandad", "nan", "gran", "uncle", "aunt",
    "auntie", "niece", "nephew", "cousin", "friend", "mate", "neighbour", "neighbor",
    "colleague", "boss", "executor", "engineer", "technician", "agent", "advisor", "adviser",
    "manager", "lead", "supervisor", "landlord", "landlady", "tenant", "flatmate",
    "housemate", "contact", "holder", "named", "rang", "phoned", "emailed", "texted", "attn",
    "kontoinhaber", "inhaber", "titulaire", "recipient", "addressee", "signatory",
    # "spoke to Janet", "registered to Wanjiru Kamau"
    "spoke", "speak", "talked", "registered", "transferred", "addressed", "belongs", "married",
)  # fmt: skip
_SIGNOFF_CUES = ("regards", "thanks", "thank", "thx", "cheers", "sincerely", "faithfully",
                 "signed", "ta")
_WEAK_SIGNOFF_CUES = ("best", "wishes", "truly", "advance", "again", "much", "soon", "love",
                      "warmly", "respectfully")
_GREETING_CUES = ("hi", "hello", "hey", "hiya", "dear", "morning", "afternoon", "evening",
                  "heyy", "heyyy", "yo")
_INTRO_CUES = ("i'm", "i’m", "im", "am", "this", "it's", "it’s", "its", "me")
_AFTER_GREETING = _pattern(
    rf"[ \t,!]*{_TITLE}(?P<name>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,2}})"
    r"(?=[ \t]*[,!.\n\r:]|[ \t]*\Z)"
)
_THIS_IS_AT = _pattern(
    rf"{_TITLE}(?P<name>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,2}}){_INTRO_END}"
)
#: A capitalised word just before a given name, inside a sentence: "Takahashi Yuki".
_NAME_BEFORE = _pattern(rf"(?<=[a-z0-9,;:(][ ])({_NAME_WORD})[ ]\Z")
_PLACEHOLDER = _pattern(r"<([A-Z][A-Z_]{1,15})>")  # one already put in
_NAMED_BRANDS_TUPLE = tuple(_NAMED_BRANDS)
#: "surname:", "forename:", "firstname=": a "name" label glued to a word.
_NAME_PREFIXES = ("sur", "fore", "nick", "first", "last", "full", "given", "family")

# ---------------------------------------------------------------------------------------------
# Keyword-led kinds: dates of birth, national ids, secrets. A cue word is looked up once in the
# set of the text's words (`_CUES`), and the pattern is matched only where the cue stands.
# ---------------------------------------------------------------------------------------------

_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:[0-9]{1,2}[/.-][0-9]{1,2}(?:[/.-](?:19|20)?[0-9]{2})?"
    r"|(?:19|20)[0-9]{2}[/.-][0-9]{1,2}[/.-][0-9]{1,2}"
    rf"|[0-9]{{1,2}}(?i:st|nd|rd|th)?(?:[ ]+of)?[ ]+{_MONTH},?(?:[ ]+(?:19|20)?[0-9]{{2}})?"
    rf"|{_MONTH}[ ]+[0-9]{{1,2}}(?i:st|nd|rd|th)?,?[ ]+(?:19|20)[0-9]{{2}}"
    r"|(?:19|20)[0-9]{2})(?![\w/]|[.-][0-9])"
)
#: "DOB 12/04/1967", "date of birth: 07/11/1979", "born on 2nd Feb 1990", "my dob is 4.5.80".
_DOB_AT = _pattern(
    r"(?i:d\.?o\.?b|date[ ]+of[ ]+birth|birth[ ]?(?:date|day)|born)\.?"
    r"(?:[ ]*(?:[:=(-]|(?i:is|was|of|on|in|as|given|confirmed))(?![a-z])){0,3}[ ]*"
    rf"(?P<v>{_DATE})"
)
_DOB_CUES = ("dob", "d.o.b", "birth", "born")

#: "National Insurance no.: JH 48 29 10 B", "my SSN, I typed 512-44-3087", "PAN ABCPE1234F":
#: after the cue, a few words, then a code of capitals and digits with at least four digits.
_ID_AT = _pattern(
    r"(?i:national[ ]+insurance|social[ ]+(?:security|insurance)|national[ ]+id(?:entity)?"
    r"|ni|nino|ssn|sin|pps|ppsn|aadhaa?r|pan|dni|nie|nif|pesel|passport|driv(?:ing|er'?s)"
    r"[ ]+licen[cs]e|licen[cs]e|tax[ ]+file|tfn|nhs|bsn|cpf|curp|utr|personnummer)"
    r"(?P<filler>[^\n0-9]{0,32}?)"
    r"(?P<v>(?=[A-Z0-9]*(?:[ -][A-Z0-9]+){0,5}?[0-9])[A-Z0-9]+(?:[ -][A-Z0-9]+){0,5})"
    r"(?![\w-])"
)
_ID_CUES = (
    "insurance", "social", "national", "ni", "nino", "ssn", "sin", "pps", "ppsn", "aadhaar",
    "aadhar", "pan", "dni", "nie", "nif", "pesel", "passport", "licence", "license", "tax",
    "tfn", "nhs", "bsn", "cpf", "curp", "utr", "personnummer",
)  # fmt: skip
#: US social security numbers and UK National Insurance numbers need no cue.
_SSN = _pattern(r"(?<![\w-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![\w-])")
_NINO = _pattern(
    r"(?<![\w-])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-D](?![\w-])"
)

#: Passwords, PINs, card security codes, one-time codes, memorable words, wifi keys and the
#: answers to security questions. The cue, then a few filler words, then the value: one
#: token, or a quoted phrase; for a memorable word or a security answer, up to four words.
_SECRET_FILLER = (
    r"i'm|i[ ]am|i've|is|was|are|were|now|still|using|used|set|to|as|it|on|for|of|the|my|our"
    r"|front|back|card|number|no\.?|they|you|sent|changed|from|just|currently|typed|entered"
    r"|new|old|tried|same"
)
_SECRET_AT = _pattern(
    r"(?i:(?P<word>memorable[ ]+(?:word|answer|info(?:rmation)?|place|name|date)"
    r"|maiden[ ]+name|first[ ]+(?:pet|school|car|teacher)|pet'?s[ ]+name"
    r"|favou?rite[ ]+(?:film|movie|book|teacher|food|colou?r|band|place|team)"
    r"|(?:secret|security)[ ]+(?:answer|word|question[ ]+answer))"
    r"|(?P<code>cvv2?|cvc2?|cv2|csc|otp|(?:security|verification|one[ -]time|sms"
    r"|auth(?:entication)?|2fa|backup|recovery|access|pin)[ ]+code|code[ ]+(?:they|you)[ ]+sent"
    r"|pin(?:[ ]+(?:code|number))?)"
    r"|(?P<pass>pass(?:word|wd|code|phrase)|pwd|(?:wi-?fi|wifi|network|wireless|wpa2?|security)"
    r"[ ]+(?:key|password|passphrase)))(?![\w])"
    rf"(?P<filler>(?i:(?:[ ]+(?:{_SECRET_FILLER})(?![\w]))*?"
    r"[ ]*(?:[:=]|[-–—]|(?:is|was|are)(?![\w]))?[ ]*))"
    rf"(?!(?i:{_SECRET_FILLER})(?![\w]))(?=[*_`]*[0-9A-Za-z\"'“])"
    r"(?P<v>\"[^\"\n]{1,64}\"|“[^”\n]{1,64}”|'[^'\n]{1,64}'"
    r"|[0-9]{2,4}(?:[ ][0-9]{2,4})+(?![\w])|[^\s\"'“”(),;]{1,64})"
)
#: Words that follow a secret's cue without being the secret.
_NOT_SECRETS = frozenset(
    """
    a an and the my is was are be been being for from to of on in it its this that reset
    change changed changing changes works working work expired invalid wrong incorrect
    correct again not no yes please help locked blocked required needed field box screen
    page prompt option setting settings manager managers policy policies requirements rules
    protected protection that's which when where but or if i you we they he she so has have
    had will would should can could does did do doesn't don't isn't wasn't won't forgot
    forgotten remember lost keeps keep still also just now every any some length strength
    long short characters character chars digits letters symbols complexity expiry hint
    at least must should button link page under here there blank empty open
    """.split()
)
_PASSWORD_SYMBOL = _pattern(r"[!#$%^&*~+=?@](?<=[0-9A-Za-z][!#$%^&*~+=?@])[0-9A-Za-z]")
#: "Password123", "password123!": the word itself with digits or symbols added.
_PASSWORD_WORD = _pattern(
    r"(?<![\w])(?i:pass(?:word|wd)?|p@ss(?:w[o0]rd)?)(?=[0-9!@#$%^&*]*[0-9!@#$%^&])[0-9!@#$%^&*]+"
    r"(?![\w])"
)
#: The first words of the cues of `_SECRET_AT`: the pattern is matched where they stand.
_SECRET_CUES = (
    "memorable", "maiden", "first", "pet's", "pets", "favourite", "favorite", "secret",
    "security", "cvv", "cvv2", "cvc", "cvc2", "cv2", "csc", "otp", "verification", "one-time",
    "sms", "auth", "authentication", "2fa", "backup", "recovery", "access", "pin", "code",
    "password", "passwd", "passcode", "passphrase", "pwd", "wifi", "wi-fi", "network",
    "wireless", "wpa", "wpa2",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Spelled-out and disguised contact data, IPv6, Cisco-style MACs
# ---------------------------------------------------------------------------------------------

_BR_AT = r"[ ]*[(\[{<][ ]*(?i:at)[ ]*[)\]}>][ ]*"
_BR_DOT = r"[ ]*[(\[{<][ ]*(?i:dot)[ ]*[)\]}>][ ]*"
_DOT_SEP = rf"(?:{_BR_DOT}|[ ]+(?i:dot)[ ]+|\.)"
_TLD = (
    r"(?i:com|org|net|edu|gov|io|co|uk|ie|de|fr|es|it|nl|be|au|ca|in|info|biz|me|us|eu|ch|se"
    r"|no|dk|fi|pl|pt|jp|cn|nz|za|ng|ke|ae|sg|hk|br|mx|ru|at|cz|gr|hu|ro|tr|il)"
)
#: "jane dot doe at gmail dot com", "jdoe(at)example(dot)org", "j.doe [at] mail.com".
_EMAIL_LOCAL_END = _pattern(
    r"(?<![\w.+-])[A-Za-z0-9_%+-]+(?:" + _DOT_SEP + r"[A-Za-z0-9_%+-]+){0,3}\Z"
)
_EMAIL_SEP_AT = _pattern(rf"{_BR_AT}|[ ]+(?i:at)[ ]+|[ ]+@[ ]*|[ ]*@[ ]+")
_EMAIL_DOMAIN_AT = _pattern(
    r"[A-Za-z0-9-]+(?:" + _DOT_SEP + r"[A-Za-z0-9-]+){0,3}" + _DOT_SEP + _TLD
    + r"(?![\w-]|\.[\w])"
)
_EMAIL_SPELLED_HINT = _pattern(r"[(\[{<](?<=[\w ][(\[{<])[ ]*(?i:at|dot)[ ]*[)\]}>]")

_DIGIT_WORDS = {
    "zero": 1, "oh": 1, "o": 1, "nought": 1, "one": 1, "two": 1, "three": 1, "four": 1,
    "five": 1, "six": 1, "seven": 1, "eight": 1, "nine": 1,
}  # fmt: skip
_DIGIT_WORD = r"(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine)"
#: "oh seven seven double oh, nine double oh...", "plus four four seven seven zero zero...".
_PHONE_SPELLED = _pattern(
    rf"(?<![\w])(?:plus[ ]+)?(?:(?:double|triple)[ ]+)?{_DIGIT_WORD}"
    rf"(?:[ ,-]+(?:(?:double|triple)[ ]+)?{_DIGIT_WORD}){{6,15}}(?![\w])"
)
_PHONE_SPELLED_CUES = ("zero", "oh", "nought", "double", "triple", "seven", "nine", "eight")
#: A UK mobile written without its 0 or with 44 and no plus: "7700900123", "447700900123".
_PHONE_UK_BARE = _pattern(
    r"(?<![\w.+/-])(?:44[ ]?)?7[0-9]{3}[ ]?[0-9]{6}(?![\w]|[.-][0-9])"
)
#: "07700 9OO 642": a capital O typed for a zero.
_PHONE_LETTER_O = _pattern(r"(?<![\w.+/-])0[0-9O]{3,4}[ -]?[0-9O]{3}[ -]?[0-9O]{3,4}(?![\w])")
#: "0033 6 98 76 54 32": the international prefix dialled as 00.
_PHONE_00 = _pattern(
    r"(?<![\w.+/-])00[1-9][0-9]{0,2}(?:[ .-]?\(0\))?(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,6})){1,7}"
    r"(?![\w]|[.-][0-9])"
)

_H16 = r"[0-9A-Fa-f]{1,4}"
#: IPv6, full or with "::", with a zone ("%12", "%en0"); "::1" and "::" are kept.
_IPV6 = _pattern(
    r"(?<![\w:.])(?:"
    rf"(?:{_H16}:){{7}}{_H16}"
    rf"|(?:{_H16}:){{1,7}}:(?:{_H16}(?::{_H16}){{0,5}})?"
    rf"|::(?:{_H16}:){{0,6}}{_H16}"
    r")(?:%[0-9A-Za-z]{1,15})?(?![\w:]|\.[0-9A-Za-z])"
)
#: Cisco-style MAC addresses: "b827.eb12.3456".
_MAC_DOTTED = _pattern(
    r"(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![\w.])"
)


# ---------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum (payment cards, IMEIs).

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN lengths per country (ISO 13616 registry, common ones).
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30,
    "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def _iban_ok(compact: str) -> bool:
    country = compact[:2]
    expected = _IBAN_LENGTHS.get(country)
    if expected is not None and len(compact) != expected:
        return False
    if expected is None and not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _ip_is_public(octets: list[int]) -> bool:
    a, b = octets[0], octets[1]
    if a in (0, 10, 127) or a >= 224:  # this-network, private, loopback, multicast, reserved
        return False
    if a == 100 and 64 <= b <= 127:  # carrier-grade NAT
        return False
    if a == 169 and b == 254:  # link-local
        return False
    if a == 172 and 16 <= b <= 31:
        return False
    if a == 192 and b == 168:
        return False
    if a == 192 and b == 0 and octets[2] in (0, 2):  # IETF protocol assignments, TEST-NET-1
        return False
    if a == 198 and (b in (18, 19) or (b == 51 and octets[2] == 100)):  # benchmarking, TEST-NET-2
        return False
    return not (a == 203 and b == 0 and octets[2] == 113)  # TEST-NET-3


# ---------------------------------------------------------------------------------------------
# Replacement callbacks
# ---------------------------------------------------------------------------------------------


def _sub_at(
    text: str, low: str, needles: tuple[str, ...], pattern: re.Pattern[str], placeholder: str
) -> str:
    """Replace group ``v`` of ``pattern`` matched where a needle starts a word."""
    spans: list[tuple[int, int]] = []
    for needle in needles:
        pos = low.find(needle)
        while pos != -1:
            if pos == 0 or not text[pos - 1].isalnum():
                m = pattern.match(text, pos)
                if m is not None:
                    spans.append(m.span("v"))
            pos = low.find(needle, pos + 1)
    if not spans:
        return text
    spans.sort()
    parts: list[str] = []
    last = 0
    for start, end in spans:
        if start >= last:
            parts += (text[last:start], placeholder)
            last = end
    parts.append(text[last:])
    return "".join(parts)


def _sub_iban(m: re.Match[str]) -> str:
    value = m.group("v")
    compact = value.replace(" ", "").upper()
    if not compact[4:].isalpha() and _iban_ok(compact):
        return "<IBAN>"
    return value


def _sub_card(m: re.Match[str]) -> str:
    value = m.group(0)
    return "<CARD>" if luhn_ok(value.replace(" ", "").replace("-", "")) else value


def _sub_phone(m: re.Match[str]) -> str:
    value = m.group(0)
    n = sum(ch.isdigit() for ch in value.replace("(0)", ""))
    ok = 8 <= n <= 15 if value[0] == "+" else n in (10, 11)
    return "<PHONE>" if ok else value


def _sub_ip(m: re.Match[str]) -> str:
    value = m.group(0)
    octets = [int(p) for p in value.split(".")]
    if value in PUBLIC_RESOLVERS or max(octets) > 255 or not _ip_is_public(octets):
        return value
    # "firmware 1.2.3.4" is a version, not an address
    if _VERSION_CUE.search(m.string, max(0, m.start() - 24), m.start()):
        return value
    return "<IP>"


def _sub_postcode(m: re.Match[str]) -> str:
    whole = m.group(0)
    out = m.group("out").upper()
    area = out[:2] if out[1].isalpha() else out[:1]
    letters = m.group("in")[1:].upper()
    if (
        area in _POSTCODE_AREAS
        and letters[0] in _INWARD_LETTERS
        and letters[1] in _INWARD_LETTERS
        and letters not in _INWARD_UNITS
        # lower-case postcodes only when written with the space, as people do
        and (whole.isupper() or " " in whole)
    ):
        return "<ADDRESS>"
    return whole


def _sub_address_lower(m: re.Match[str]) -> str:
    words = m.group("words").lower().split()
    if any(w in _NOT_STREET_LOWER or w in _NOT_STREET_WORDS for w in words):
        return m.group(0)
    return "<ADDRESS>"


def _sub_address(m: re.Match[str]) -> str:
    if any(w.lower() in _NOT_STREET_WORDS for w in m.group("words").split()):
        return m.group(0)
    return "<ADDRESS>"


# ---------------------------------------------------------------------------------------------
# Cue words: every detector that needs a word nearby asks this one set, filled once per text
# by intersecting it with the text's words (a word may carry one punctuation mark).
# ---------------------------------------------------------------------------------------------


# Kinds of cue, as bits: a text's cue words are looked up once and their bits or-ed.
_K_TITLE, _K_ROLE, _K_SIGNOFF, _K_WEAK, _K_GREET, _K_INTRO, _K_THIS = 1, 2, 4, 8, 16, 32, 64
_K_GIVEN, _K_DASHES, _K_DOB, _K_ID, _K_SECRET, _K_SPELLED, _K_DOT = (
    128, 256, 512, 1024, 2048, 4096, 8192)
_K_IMEI, _K_ACCOUNT, _K_LOGIN, _K_STREET, _K_MAC = 16384, 32768, 65536, 131072, 262144

_CUE_KIND: dict[str, int] = {}
for _kind, _words in (
    (_K_TITLE, _TITLE_CUES), (_K_ROLE, _ROLE_CUES), (_K_SIGNOFF, _SIGNOFF_CUES),
    (_K_WEAK, _WEAK_SIGNOFF_CUES), (_K_GREET, _GREETING_CUES),
    (_K_INTRO, ("i'm", "i’m", "im", "am")), (_K_THIS, ("this", "it's", "it’s")),
    (_K_GIVEN, _GIVEN_NAMES), (_K_DASHES, ("--", "—", "–")),
    (_K_DOB, ("dob", "d.o.b", "birth", "birthday", "birthdate", "born")),
    (_K_ID, _ID_CUES), (_K_SECRET, _SECRET_CUES), (_K_SPELLED, _PHONE_SPELLED_CUES),
    (_K_DOT, ("dot",)), (_K_IMEI, ("imei",)),
    (_K_LOGIN, ("login", "log-in", "logon", "admin", "credentials", "username", "user", "sign-in",
                "signin", "password", "passwords", "pw", "pass", "key")),
    (_K_ACCOUNT, ("account", "acct", "acc", "a/c", "sort", "customer", "cust")),
    (_K_STREET, _STREET_LOWER_CUES), (_K_MAC, ("mac",)),
):
    for _word in _words:
        _CUE_KIND[_word] = _CUE_KIND.get(_word, 0) | _kind
#: Each cue word as it may stand in ``text.lower().split()``, to the word.
_CUE_BASE: dict[str, str] = {}
for _word, _kind in _CUE_KIND.items():
    _given = _kind == _K_GIVEN
    for _variant in (_word,) if _given else (_word, f"({_word}", f"\"{_word}"):
        _CUE_BASE[_variant] = _word
        for _end in (*",.:!?)", "!!", "!!!", "'s") if _given else (
                *",.:;!?)\"", "!!", "!!!", "...", "?!", "),", ").", "'s", "’s"):
            _CUE_BASE[_variant + _end] = _word
_CUE_WORDS = frozenset(_CUE_BASE)
_NAME_BASES = frozenset(_CUE_KIND)
_K_NAMES = _K_TITLE | _K_ROLE | _K_SIGNOFF | _K_WEAK | _K_GREET | _K_DASHES


def _cue_positions(text: str, low: str, word: str) -> Iterator[int]:
    """Where ``word`` stands in ``low`` as a whole word; yields the index just after it."""
    n = len(word)
    pos = low.find(word)
    while pos != -1:
        end = pos + n
        if (pos == 0 or not low[pos - 1].isalnum()) and (end == len(low) or not low[end].isalnum()):
            yield end
        pos = low.find(word, pos + 1)




#: Cue words that begin a cue only with one of these next ("wifi key", "national insurance"):
#: a cheap test before the pattern runs.
_CUE_NEXT: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("wifi", "wi-fi", "network", "wireless", "wpa", "wpa2"),
                    (" key", " password", " passphrase", " pass")),
    "security": (" key", " password", " passphrase", " code", " answer", " word",
                 " question answer"),
    "memorable": (" word", " answer", " info", " place", " name", " date"),
    "maiden": (" name",), "first": (" pet", " school", " car", " teacher"),
    "pet's": (" name",), "pets": (" name",), "secret": (" answer", " word"),
    **dict.fromkeys(("favourite", "favorite"), (" film", " movie", " book", " teacher",
                                                 " food", " colo", " band", " place", " team")),
    **dict.fromkeys(("verification", "one-time", "sms", "auth", "authentication", "2fa",
                     "backup", "recovery", "access"), (" code",)),
    "code": (" they sent", " you sent"),
    "national": (" insurance", " id"), "social": (" security", " insurance"),
    "tax": (" file",),
}


def _sub_cued(text: str, low: str, words: Iterable[str], pattern: re.Pattern[str],
              check: Callable[[re.Match[str]], tuple[int, int] | None], placeholder: str,
              back: int = 0) -> str:
    """Replace what ``check`` returns (a span, or None) of ``pattern`` matched where one of
    ``words`` stands, or up to ``back`` words before it ("date of birth" for "birth")."""
    spans: list[tuple[int, int]] = []
    for word in words:
        following = _CUE_NEXT.get(word)
        for end in _cue_positions(text, low, word):
            if following is not None and not low.startswith(following, end):
                continue
            starts = [end - len(word)]
            for _ in range(back):
                if starts[-1] < 2:
                    break
                starts.append(max(low.rfind(" ", 0, starts[-1] - 1),
                                  low.rfind("\n", 0, starts[-1] - 1)) + 1)
            for start in reversed(starts):
                m = pattern.match(text, start)
                if m is not None and m.end() > end:
                    span = check(m)
                    if span is not None:
                        spans.append(span)
                        break
    return _replace_spans(text, spans, placeholder)


def _replace_spans(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    if not spans:
        return text
    spans.sort()
    parts: list[str] = []
    last = 0
    for start, end in spans:
        if start >= last:
            parts += (text[last:start], placeholder)
            last = end
    parts.append(text[last:])
    return "".join(parts)


def _check_dob(m: re.Match[str]) -> tuple[int, int] | None:
    return m.span("v")


def _check_id(m: re.Match[str]) -> tuple[int, int] | None:
    value = m.group("v")
    if sum(ch.isdigit() for ch in value) < 4 or "\n" in m.group("filler"):
        return None
    return m.span("v")


_TRAILING = ".!?:*_`"


def _check_secret(m: re.Match[str]) -> tuple[int, int] | None:
    start, end = m.span("v")
    value = m.group("v")
    if value[0] in "\"'“":
        return (start + 1, end - 1) if end - start > 2 else None
    lead = len(value) - len(value.lstrip("*_`"))  # markdown around a word
    start += lead
    value = value[lead:]
    stripped = value.rstrip(_TRAILING)
    if len(stripped) < len(value) and stripped and not stripped[-1].isalnum():
        stripped = value  # "password123!" ends in its own symbol
    end = start + len(stripped)
    low = stripped.lower()
    if not stripped or low in _NOT_SECRETS or low.startswith("<"):
        return None
    has_digit = any(ch.isdigit() for ch in stripped)
    if m.string.startswith((" char", " digit", " letter", " symbol", " number"), end):
        return None  # "the password is 14 characters"
    if m.group("code") is not None:
        return (start, end) if sum(ch.isdigit() for ch in stripped) >= 3 else None
    if m.group("pass") is not None:
        # a password with a digit or a symbol; a plain word only after "is", ":" or "=",
        # and not one that says how the password is ("too", "expired", "correctly")
        if has_digit or not stripped.isalpha():
            return start, end
        said = _SAID_IS.search(m.group("filler"))
        if said is None or low in _NOT_PASSWORDS or low.endswith(("ing", "ed", "ly")):
            return None
        return start, end
    # a memorable word or a security answer: the word, and capitalised words after it
    more = _CAPITALISED_RUN.match(m.string, end)
    if more is not None and stripped[:1].isupper():
        end = more.end()
    return start, end


_CAPITALISED_RUN = _pattern(rf"(?:[ ]+[{_UP}][{_LO}'’]+){{1,3}}")
#: The filler before a plain-word password ends in "is", ":" or "=".
_SAID_IS = _pattern(r"(?:[:=]|(?<![\w])(?i:is|was))[ ]*\Z")
#: Plain words that follow "the password is" without being the password.
_NOT_PASSWORDS = frozenset(
    """
    too very really so quite case weak strong simple easy hard complicated complex fine ok
    okay right wrong bad good great rubbish useless broken missing gone unknown different
    same shown hidden visible printed written stored saved valid definitely probably
    actually apparently supposedly meant supposed still definately def literally exactly
    something nothing anything what whatever unchanged default temporary temp there here
    below above attached sticker label underneath printed back bottom side
    stronger weaker longer shorter better worse safer easier harder simpler newer older
    """.split()
)
_PASSWORD_TOKEN = _pattern(r"[^\s\"'(),;<>]{6,40}")


def _password_spans(text: str) -> list[tuple[int, int]]:
    """Tokens with a capital, a small letter, a digit and a symbol ("Tulip!2024")."""
    spans = []
    for m in _PASSWORD_TOKEN.finditer(text):
        token = m.group().rstrip(".,;:!?")
        if token.endswith(("!", "?")):
            token = m.group()
        if (
            len(token) >= 6
            and not any(c in token for c in "/\\:=&_")
            and any(c.isupper() for c in token)
            and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)
            and any(c in "!#$%^*~+?@" for c in token.rstrip("!?"))
        ):
            spans.append((m.start(), m.start() + len(token)))
    return spans


def _sub_ipv6(m: re.Match[str]) -> str:
    value = m.group(0)
    if value in ("::1", "::") or value.lower().startswith("2001:db8:"):
        return value
    groups = [g for g in value.split("%")[0].split(":") if g]
    if len(groups) < 3 and not any(ch.isdigit() for ch in value):
        return value  # "abc::def" is code, not an address
    return "<IP>"


def _sub_mac_dotted(m: re.Match[str]) -> str:
    value = m.group(0)
    return "<MAC>" if any(ch.isalpha() for ch in value) else value


def _sub_mac_after_cue(m: re.Match[str]) -> str:
    """A dotted MAC near the word "mac": all digits ("0011.2233.4455") is one too."""
    if "mac" in m.string[max(0, m.start() - 24) : m.start()].lower():
        return "<MAC>"
    return _sub_mac_dotted(m)


_SPELLED_DOT = _pattern(r"(?i)[ ]dot[ ]|[(\[{<][ ]*dot")


def _redact_spelled_emails(text: str, low: str) -> str:
    """"jane dot doe at gmail dot com", "jdoe(at)example(dot)org", "j.doe [at] mail.com":
    found from their "at" (a plain " at " only with a spelled "dot" in the address)."""
    spans: list[tuple[int, int]] = []
    for needle in ("at", "@"):
        pos = low.find(needle)
        while pos != -1:
            start = pos
            while start > 0 and low[start - 1] in " ([{<":
                start -= 1
            sep = _EMAIL_SEP_AT.match(text, start)
            pos = low.find(needle, pos + 1)
            if sep is None or sep.end() <= start + 1:
                continue
            local = _EMAIL_LOCAL_END.search(text, max(0, start - 64), start)
            domain = _EMAIL_DOMAIN_AT.match(text, sep.end())
            if local is None or domain is None:
                continue
            value = text[local.start() : domain.end()]
            if sep.group().strip().lower() == "at" and not _SPELLED_DOT.search(value):
                continue  # "looked at google.com"
            spans.append((local.start(), domain.end()))
    return _replace_spans(text, spans, "<EMAIL>")


def _sub_phone_spelled(m: re.Match[str]) -> str:
    words = re.findall(r"[a-z]+", m.group(0).lower())
    digits = 0
    repeat = 1
    for word in words:
        if word == "double":
            repeat = 2
        elif word == "triple":
            repeat = 3
        elif word in _DIGIT_WORDS:
            digits += repeat
            repeat = 1
    return "<PHONE>" if 9 <= digits <= 15 else m.group(0)


def _sub_phone_letter_o(m: re.Match[str]) -> str:
    value = m.group(0)
    n = sum(ch.isdigit() or ch == "O" for ch in value)
    return "<PHONE>" if "O" in value and n in (10, 11) and value[1] != "O" else value


def _sub_phone_00(m: re.Match[str]) -> str:
    value = m.group(0)
    n = sum(ch.isdigit() for ch in value.replace("(0)", "")) - 2
    return "<PHONE>" if 8 <= n <= 15 else value


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def _name_length(name: str, *, first_stop: frozenset[str] = _NOT_NAMES, anycase: bool = False
                 ) -> int:
    """Length of the leading part of a captured name that is really a name (0 if none): it
    ends before the first word that is not a name; initials alone are no name."""
    length = 0
    real = False
    for m in re.finditer(r"\S+", name):
        word = m.group()
        if not anycase and len(word.rstrip(".")) == 1 and word[0].isupper():
            continue  # an initial: "Mrs A Fletcher", "L M Grant"
        low = word.lower().strip("'’.")
        if low.endswith(("'s", "’s")):
            low = low[:-2]
        if low in (first_stop if not real else _NOT_NAMES) or (anycase and len(low) < 2):
            break
        length = m.end()
        real = True
    return length if real else 0


def _cued_names(text: str, low: str, cues: dict[str, int]) -> list[tuple[int, int]]:
    """Names after a title, a role, a greeting, a sign-off or a signature's dashes."""
    spans: list[tuple[int, int]] = []

    def take(m: re.Match[str] | None, stop: frozenset[str] = _NOT_NAMES_AFTER_CUE) -> None:
        if m is not None:
            start = m.start("name")
            length = _name_length(m.group("name"), first_stop=stop)
            if length:
                spans.append((start, start + length))

    for cue, kind in cues.items():
        if not kind & _K_NAMES:
            continue
        if kind & _K_DASHES:
            pos = text.find(cue)
            while pos != -1:
                if cue == "--":
                    take(_AFTER_SIG_DASHES.match(text, pos + 2))
                elif pos == 0 or text[pos - 1] in " \n":
                    take(_AFTER_END_DASH.match(text, pos + 1))
                pos = text.find(cue, pos + 1)
            continue
        n = len(cue)
        pos = low.find(cue)
        while pos != -1:
            end = pos + n
            pos = low.find(cue, end)
            if (end - n and low[end - n - 1].isalnum()) or low[end : end + 1].isalnum():
                continue
            seg = text[end : end + 24]
            if seg == seg.lower():  # every pattern here wants a capital soon
                continue
            if kind & _K_TITLE and text[end - n].isupper():
                take(_AFTER_TITLE.match(text, end), _NOT_NAMES)
            if kind & _K_ROLE:
                take(_AFTER_ROLE.match(text, end))
            if kind & _K_SIGNOFF:
                take(_AFTER_SIGNOFF.match(text, end + 4 if cue == "thank"
                                          and low.startswith(" you", end) else end))
            if kind & _K_WEAK:
                take(_AFTER_WEAK_SIGNOFF.match(text, end))
            if kind & _K_GREET:
                take(_AFTER_GREETING.match(text, end))
    return spans


def _given_names(text: str, low: str, names: list[str]) -> list[tuple[int, int]]:
    """Known given names: capitalised anywhere (with the family name after, or before them),
    in lower case where the line is written all in lower case or a cue word comes before."""
    spans: list[tuple[int, int]] = []
    for given in names:
        for end in _cue_positions(text, low, given):
            start = end - len(given)
            if text[start].isupper():
                m = _NAME_AT.match(text, start)
                if m is None or low[start : start + 40].startswith(_NAMED_BRANDS_TUPLE):
                    continue
                stop = m.start() + _name_length(m.group(), first_stop=frozenset())
                before = _NAME_BEFORE.search(text, max(0, start - 32), start)
                if before is not None and before.group(1).lower() not in _NOT_NAMES_AFTER_CUE \
                        and before.group(1).lower() not in _NAME_BASES:
                    start = before.start(1)
                spans.append((start, stop))
                continue
            line_start = low.rfind("\n", 0, start) + 1
            line_end = low.find("\n", end)
            line = text[line_start : line_end if line_end != -1 else len(text)]
            previous = low[max(0, start - 12) : start].split()[-1:]
            cued = bool(previous) and previous[0].strip(",.!") in _NAME_BASES
            if _PLACEHOLDER.sub("", line).islower() or cued:
                stop = end
                m = _LOWER_NAME_AT.match(low, end + 1) if low[end : end + 1] == " " else None
                if m is not None and m.group() in _FAMILY_NAMES:
                    stop = m.end()
                spans.append((start, stop))
    return spans


def _labelled_names(text: str, low: str, kinds: int) -> list[tuple[int, int]]:
    """Names after "I'm", "my name is", "Name:", "first_name=", "this is"."""
    # each match, whether its name may be in any case, and the words that cannot start it
    found: list[tuple[re.Match[str], bool, frozenset[str]]] = []
    # "I'm Sarah", "I am Sarah Jones", "im Dave"
    for needle in _INTRO_NEEDLES if kinds & _K_INTRO else ():
        pos = low.find(needle)
        while pos != -1:
            if pos == 0 or not text[pos - 1].isalnum():
                m = _INTRO_AT.match(text, pos)
                if m is not None:
                    found.append((m, False, _NOT_NAMES))
            pos = low.find(needle, pos + 1)
    # "this is Mark from...", "it's Sarah here"
    for needle in ("this is ", "it's ", "it’s ") if kinds & _K_THIS else ():
        pos = low.find(needle)
        while pos != -1:
            if pos == 0 or not text[pos - 1].isalnum():
                m = _THIS_IS_AT.match(text, pos + len(needle))
                if m is not None:
                    found.append((m, False, _NOT_NAMES))
            pos = low.find(needle, pos + 1)
    # "my name is john smith", "Name: Tom", "name's Tom", "first_name=Tom", "Name on card: L Grant"
    pos = low.find("name")
    while pos != -1:
        if pos == 0 or not text[pos - 1].isalnum() or low.endswith(_NAME_PREFIXES, 0, pos):
            after = low[pos + 4 : pos + 6]
            if after in (" i", " w") and low[max(0, pos - 4) : pos].endswith(("my ", "the ")):
                m = _MY_NAME_AT.match(text, pos)
                if m is not None:
                    found.append((m, True, _NOT_NAMES))
            elif after[:1] in (":", "=", "\t") or after in (" :", "'s", "’s", " a", " o",
                                                                  '":', '"='):
                m = _MY_NAME_AT.match(text, pos)
                if m is not None:
                    found.append((m, False, _NOT_NAMES))
            elif after[:1] == " " and text[pos + 5 : pos + 6].isupper():
                m = _AFTER_TITLE.match(text, pos + 4)
                if m is not None:
                    found.append((m, False, _NOT_NAMES_AFTER_CUE))
        pos = low.find("name", pos + 1)
    spans: list[tuple[int, int]] = []
    for m, anycase, stop in found:
        start = m.start("name")
        length = _name_length(m.group("name"), first_stop=stop, anycase=anycase)
        if length:
            spans.append((start, start + length))
    return spans


#: A message's last words after a sign-off, in lower case: "thanks, bob", "cheers\nkev x".
_LOWER_SIGNOFF_END = _pattern(
    r"(?<![\w'’])(?:(?i:regards|thanks|thank[ ]+you|thx|cheers|ta|sincerely)[ \t]*[,.!:;\-–—]*"
    r"|(?i:best|love|wishes)(?:[ \t]*[,!:;\-–—]+|[ \t]*(?=\r?\n)))"
    r"[ \t]*(?:\r?\n[ \t]*){0,3}(?P<name>[a-zß-öø-ÿ]{2,15}(?:[ ][a-zß-öø-ÿ'’-]{2,20})?)"
    r"[ \t.!]*(?:x{1,3}[ \t.!]*)?\Z"
)
#: Lower-case words that end a message after "thanks" without being a name.
_NOT_LOWER_SIGNOFF = _NOT_NAMES_AFTER_CUE | frozenset(
    """
    bye sorted fixed done appreciated buddy bud lol dude bro man later anyway anyways heaps
    loads tons lots million bunch plenty tho though useless legend mate pal love nope yep
    yeah yup cya ciao bless god xx xxx link links url pic pics photo photos video screenshot
    attached below verizon comcast xfinity att spectrum tmobile sprint cox centurylink
    frontier optimum dish directv hulu fedex ups uber airtel jio telstra optus rogers bell
    telus shaw ee giffgaff tesco lyca lebara smarty voxi idmobile plusnet talktalk shell
    """.split()
)


def _lower_signoff_name(text: str, low: str, cues: dict[str, int]) -> list[tuple[int, int]]:
    """A lower-case name ending the message after a sign-off in its last 80 characters."""
    tail = text[-24:].split()
    if not tail or not tail[-1][:1].islower() or tail[-1].rstrip(".!,") in cues:
        return []  # most messages end in a sentence, or in the sign-off itself
    near = len(text) - 80
    for cue, kind in cues.items():
        if not kind & (_K_SIGNOFF | _K_WEAK) or low.rfind(cue) < near:
            continue
        for end in _cue_positions(text, low, cue):
            m = _LOWER_SIGNOFF_END.match(text, end - len(cue)) if end - len(cue) >= near else None
            if m is not None:
                start = m.start("name")
                length = _name_length(m.group("name"), first_stop=_NOT_LOWER_SIGNOFF,
                                      anycase=True)
                return [(start, start + length)] if length else []
    return []


def _redact_names(text: str, low: str, cues: dict[str, int], kinds: int) -> str:
    spans = _labelled_names(text, low, kinds) if "name" in low or kinds & (
        _K_INTRO | _K_THIS) else []
    if kinds & _K_NAMES:
        spans += _cued_names(text, low, cues)
    if kinds & (_K_SIGNOFF | _K_WEAK):
        spans += _lower_signoff_name(text, low, cues)
    if kinds & _K_GIVEN:
        spans += _given_names(text, low, [c for c, k in cues.items() if k & _K_GIVEN])
    if not spans:
        return text
    # "Sunita and Raj", "Mr and Mrs Patel" (the second name of a pair)
    for _, end in list(spans):
        m = _AND_NAME.match(text, end)
        if m is not None and _name_length(m.group("name"), first_stop=_NOT_NAMES_AFTER_CUE):
            spans.append(m.span("name"))
    spans.sort()
    parts: list[str] = []
    last = 0
    for start, end in spans:
        if end <= last:
            continue
        start = max(start, last)
        parts += (text[last:start], "<NAME>")
        last = end
    parts.append(text[last:])
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _lower(text: str) -> str:
    """``text`` in lower case, character for character (offsets stay aligned)."""
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two
        low = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    return low


def redact(text: str) -> str:
    """Replace personal data in ``text`` with typed placeholders such as ``<EMAIL>``.

    Parameters
    ----------
    text : str
        Any free text: a ticket subject or body, an agent's notes.

    Returns
    -------
    str
        The text with e-mail addresses (spelled-out ones too), phone numbers, Luhn-valid card
        numbers, IBANs, addresses, public IPv4 and all IPv6 addresses, MAC addresses, names
        (introductions, greetings, sign-offs, signatures, titles, roles, labels and known
        given names), account numbers, IMEIs, dates of birth, national ids and secrets
        (passwords, PINs, security codes, memorable words) replaced. Technical signal
        (private IPs, ports, error codes, versions, model numbers, dates and times) is left.

    Examples
    --------
    >>> redact("Card 4111 1111 1111 1111, port 3074 open, error 0x80070005")
    'Card <CARD>, port 3074 open, error 0x80070005'
    >>> redact("DOB 12/04/1967, PIN is 4471. Regards, Helen. PS the hub is in the hall")
    'DOB <DOB>, PIN is <SECRET>. Regards, <NAME>. PS the hub is in the hall'
    """
    if not text:
        return text
    if not text.isascii() and _LOOKALIKE.search(text):
        plain = text.translate(_LOOKALIKES)
        if not plain.strip():
            return text  # invisible characters and spaces only: nothing to find, and a value
        text = plain     # must not turn empty (a cell read back as missing)
    at = "@" in text
    if at:
        text = _EMAIL.sub("<EMAIL>", text)
    low = _lower(text)
    cues: dict[str, int] = {}
    kinds = 0
    words = low.split()
    for word in _CUE_WORDS.intersection(words):
        base = _CUE_BASE[word]
        kinds |= cues.setdefault(base, _CUE_KIND[base])
    original = text
    if "@" in text or kinds & _K_DOT or (
            ("t)" in low or "t]" in low or "t}" in low or "t>" in low)
            and _EMAIL_SPELLED_HINT.search(text)):
        text = _redact_spelled_emails(text, low)
        if text is not original:
            low = _lower(text)
            original = text
    if kinds & _K_IMEI:
        text = _sub_at(text, low, ("imei",), _IMEI_AT, "<IMEI>")
    if kinds & _K_ACCOUNT:
        text = _sub_at(text, low if text is original else _lower(text),
                       ("acc", "a/c", "sort", "cust"), _ACCOUNT_AT, "<ACCOUNT>")
    if kinds & (_K_DOB | _K_ID | _K_SECRET | _K_SPELLED):
        if text is not original:
            low = _lower(text)
            original = text
        if kinds & _K_DOB:
            text = _sub_cued(text, low, [c for c, k in cues.items() if k & _K_DOB], _DOB_AT,
                             _check_dob, "<DOB>", back=2)
        if kinds & _K_ID:
            text = _sub_cued(text, low if text is original else _lower(text),
                             [c for c, k in cues.items() if k & _K_ID], _ID_AT, _check_id,
                             "<ID>")
        if kinds & _K_SECRET:
            text = _sub_cued(text, low if text is original else _lower(text),
                             [c for c, k in cues.items() if k & _K_SECRET], _SECRET_AT,
                             _check_secret, "<SECRET>")
        if kinds & _K_SPELLED and sum(w.strip(",.-") in _DIGIT_WORDS for w in words) >= 6:
            text = _PHONE_SPELLED.sub(_sub_phone_spelled, text)
    if "pass" in low or "p@ss" in low:
        text = _PASSWORD_WORD.sub("<SECRET>", text)
    if kinds & (_K_SECRET | _K_LOGIN) and _PASSWORD_SYMBOL.search(text):
        text = _replace_spans(text, _password_spans(text), "<SECRET>")
    hints = {m.lastgroup for m in _HINT.finditer(text)}
    if hints:
        if "iban" in hints:
            text = _IBAN.sub(_sub_iban, text)
        if "long" in hints:
            if "-" in text:
                text = _SSN.sub("<ID>", text)
            text = _CARD.sub(_sub_card, text)
        if "nino" in hints:
            text = _NINO.sub("<ID>", text)
        if "long" in hints or "dotphone" in hints:
            if "+" in text:
                text = _PHONE_INTL.sub(_sub_phone, text)
            if "00" in text:
                text = _PHONE_00.sub(_sub_phone_00, text)
            text = _PHONE_NAT.sub(_sub_phone, text)
            if "long" in hints:
                text = _PHONE_UK_BARE.sub("<PHONE>", text)
        if "ophone" in hints:
            text = _PHONE_LETTER_O.sub(_sub_phone_letter_o, text)
        if "ip" in hints:
            text = _IPV4.sub(_sub_ip, text)
        if "dotmac" in hints:
            text = _MAC_DOTTED.sub(_sub_mac_dotted, text)
        if "addr" in hints:
            text = _ADDRESS.sub(_sub_address, text)
        if "zip" in hints:
            text = _US_CITY_ZIP.sub("<ADDRESS>", text)
        if "post" in hints:
            text = _POSTCODE.sub(_sub_postcode, text)
    if kinds & _K_STREET:
        text = _ADDRESS_LOWER.sub(_sub_address_lower, text)
    if "o box" in low or "o.box" in low or "obox" in low or "o. box" in low or "e box" in low:
        text = _PO_BOX.sub("<ADDRESS>", text)
    if "<ADDRESS>" in text:
        text = _ADDRESS_AROUND.sub("<ADDRESS>", text)
    colons = text.count(":")
    if "::" in text or colons >= 7:
        text = _IPV6.sub(_sub_ipv6, text)
    if colons >= 5 or text.count("-") >= 5:
        text = _MAC.sub("<MAC>", text)
    if kinds & _K_MAC and "." in text:
        text = _MAC_DOTTED.sub(_sub_mac_after_cue, text)
    if text is not original:
        low = _lower(text)
    return _redact_names(text, low, cues, kinds)


def is_name_word(word: str) -> bool:
    """True if ``word`` (any case; an apostrophe or "'s" is ignored) is a given or family
    name this module knows and that is not also an everyday word.

    >>> is_name_word("Siobhan"), is_name_word("o'connell"), is_name_word("router")
    (True, True, False)
    """
    low = word.lower()
    if low.endswith(("'s", "’s")):
        low = low[:-2]
    low = low.replace("'", "").replace("’", "")
    return low in _GIVEN_NAMES or low in _FAMILY_NAMES
