"""Text before tokens: the one subject+body join, preparation, and the wording lexicons.

This module owns what a ticket's text is made of for scoring: `ticket_text` joins a subject
and a body the same way for training, serving and history; `prepare` collapses whitespace and
truncates; the curated technical terms, commands and evidence patterns live here, read by
`expertise.scoring.tokens` (both tokenizer backends) and by training. Standard library
only, and the redaction of `expertise.privacy`.
"""

from __future__ import annotations

import re
from typing import Any

from expertise.config import MAX_TEXT_CHARS
from expertise.privacy import redact

#: Tokens of lower-cased text: placeholders such as <ip>, and runs of letters, digits and the
#: punctuation inside technical words (versions, addresses, file names). Always ASCII.
TOKEN = re.compile(r"<[a-z]+>|[a-z0-9](?:[a-z0-9_'./:+#*-]*[a-z0-9#*])?")
#: Characters stripped from both ends of a token before it is looked up.
TOKEN_STRIP = "'.:-"

#: Curated technical vocabulary (lower case; multi-word terms are matched as bigrams).
CURATED_TERMS = frozenset("""
dhcp dns ssid wpa2 wpa3 wpa psk mtu mss pppoe ppp vlan nat cgnat upnp ipv4 ipv6 ip subnet gateway
lease mac apn mcc mnc volte vowifi esim imei iccid imsi lte 5g 4g nr band bands dbm rsrp rsrq sinr
snr attenuation sync vdsl adsl fttp fttc ont olt dslam modem router mesh ethernet cat6 cat5e
firmware bootloader bios uefi cmos smart ssd nvme ram cpu psu imap smtp pop3 tls ssl starttls
oauth totp hotp 2fa mfa otp sms dkim spf dmarc dmark headers http https tcp udp icmp port ports
traceroute tracert ping nslookup dig ipconfig ifconfig netstat arp wireshark packet packets
latency jitter throughput mbps gbps kbps ghz mhz 2.4ghz 5ghz channel channels bandwidth qos
dfs beamforming roaming 802.11ax 802.11ac wifi6 hdmi hdcp cec arc earc edid 4k hdr h.264 h.265
hevc codec bitrate multicast igmp iptv dvb dvb-t dvb-s lnb coax rf bluetooth ble a2dp pairing
cache cookies browser vpn ipsec ikev2 wireguard openvpn l2tp pptp proxy resolver resolvers
certificate cert handshake mdns bonjour ipp airprint driver spooler usb-c usb thunderbolt
ios android sdk api adb ssh telnet sip voip ata pstn dial-tone sim puk pac stac porting
backup icloud restore encryption bitlocker filevault sync cloud storage partition
""".split())

#: Commands and tools; naming one is a strong sign of an expert.
COMMANDS = frozenset(
    "ping traceroute tracert mtr nslookup dig ipconfig ifconfig netstat arp iperf iperf3 "
    "wireshark tcpdump nmap curl wget ssh telnet adb powercfg chkdsk sfc dism speedtest".split()
)

SPECIFIC = (
    r"(?P<error>\b(?:e|err|error|code)[-_ ]?\d{2,5}\b|\b0x[0-9a-f]{4,8}\b|\berr_[a-z_]+\b)"
    r"|(?P<version>\b(?:v|fw|version |firmware |ios |android )?\d+\.\d+(?:\.\d+)+\b)"
    r"|(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b|<ip>)"
    r"|(?P<port>\bport\s*\d{2,5}\b|:\d{2,5}\b)"
    r"|(?P<unit>\b\d+(?:\.\d+)?\s?(?:mbps|mb/s|gbps|kbps|ghz|mhz|dbm|db|ms|mah|gb|mb|tb|v|w)\b)"
)
SELF_NOVICE = (
    r"not (?:very |that |too )?(?:good|great|techy|technical|confident) with|"
    r"(?:not|never been) (?:very |that )?(?:techy|technical|tech savvy|good at this)|"
    r"\b(?:hopeless|useless|rubbish|clueless|dinosaur) (?:with|at|when it comes)|"
    r"(?:son|daughter|grandson|granddaughter|nephew|niece|husband|wife|neighbour|neighbor|"
    r"grandkids|kids) (?:usually |normally )?(?:set|sets|does|did|sorted|helps|set it)|"
    r"(?:don'?t|doesn'?t|didn'?t|does not|do not) (?:really )?(?:understand|"
    r"know (?:much )?about|know what (?:that|this|it|an? \w+(?: \w+)?) (?:is|means|was))|"
    r"no idea (?:what|how)|what(?:'s| is) an? \w+\?|i'?m (?:a bit )?confused|"
    r"(?:pensioner|elderly|in my (?:70s|80s|seventies|eighties)|\b8\d years? old)|"
    r"computer illiterate|technophobe|not a tech person|"
    r"whatever (?:that|this|it) (?:means|is)|what does (?:that|this|it) (?:mean|do)|"
    r"(?:walk|talk|take) me through|step[- ]by[- ]step|in (?:plain|simple) (?:english|terms)|"
    r"(?:don'?t|doesn'?t|didn'?t) know (?:how|what (?:else )?to do|where to (?:start|look))|"
    r"(?:son|daughter|grandson|granddaughter|grandkids?|husband|wife|neighbou?r|friend) "
    r"(?:told|said|says|set it up|showed)|"
    r"(?:email|code|wifi|internet|tv|phone|password|app) thing\b|"
    r"(?:is|was) (?:that|this) (?:normal|right)\?|i'?m (?:lost|stuck) with (?:this|it)"
)
SELF_EXPERT = (
    r"i work in (?:it|tech|networking|telecoms?)|\b(?:network|software|systems?|devops|"
    r"telecoms?|site reliability|security) engineer|\bsysadmin\b|\bsys admin\b|"
    r"i'?m (?:a |an )?(?:developer|programmer|it professional|it consultant)|"
    r"i know (?:my way around|what i'?m doing)|homelab|home lab|i run my own|"
    r"(?:ccna|ccnp|comptia)"
)
TRIED = (
    r"restart(?:ed|ing)?|reboot(?:ed|ing)?|power[- ]?cycl\w*|"
    r"turn(?:ed|ing)? it off and (?:on|back on)|"
    r"unplug(?:ged)?|factory reset|reset (?:it|the \w+)|tried (?:another|a different|other)|"
    r"checked (?:the )?(?:cables?|connections?|settings|lights)|re-?seat\w*|swapped|"
    r"ran (?:a )?(?:traceroute|speed ?test|ping|diagnostics?)|speed ?tests?|"
    r"cleared (?:the )?cache|reinstall\w*|updated (?:the )?(?:firmware|app|software)|"
    r"forgot the network|re-?paired|"
    r"(?:already |have |i'?ve |i )(?:tried|checked|changed|reset|updated|uninstalled|"
    r"deleted and re|logged out|signed out|toggled|turned off)|"
    r"(?:on|with|from) (?:another|a different|other) (?:device|phone|browser|computer|"
    r"laptop|network|account)s?|other devices? (?:work|are fine|connect)|works? fine on|"
    r"(?:log|sign)(?:ged)? (?:out|off) and (?:back )?in|safe mode|hard reset|"
    r"(?:cleared|clear) (?:the )?(?:cookies|data|history)|re-?downloaded"
)
APPEARANCE = (
    r"(?:box|thing|thingy|gadget|device|doodah|whatsit) with "
    r"(?:the )?(?:lights?|aerials?|buttons?)|"
    r"\b(?:little|small|black|white|grey|gray|square) (?:box|thing)\b|\bthingy\b|"
    r"\bthe (?:box|thing)\b|(?:light|lights|lamp) (?:is|are|has gone|went|keeps?) "
    r"(?:red|orange|amber|flashing|blinking|green|off|white|blue)|"
    r"(?:red|orange|amber|flashing|blinking) lights?|"
    r"the (?:bit|button) (?:on|at) the|spinning (?:circle|wheel)|little (?:picture|icon|symbol)|"
    r"the (?:internet|wifi) (?:box|thing)"
)
#: Evidence found by pattern, in this order: (kind, regular expression, searched on the
#: lower-cased text). Each matches case-insensitively; they are kept as source here and compiled
#: by `expertise.scoring.tokens`, which needs them in two forms. `specific` quotes the
#: lower-cased span; the others quote the span as the caller wrote it.
PATTERNS: tuple[tuple[str, str, bool], ...] = (
    ("specific", SPECIFIC, True),
    ("self_novice", SELF_NOVICE, False),
    ("self_expert", SELF_EXPERT, False),
    ("tried", TRIED, False),
    ("appearance", APPEARANCE, False),
)
#: Sentence breaks: a sentence is a non-blank piece between runs of these.
SENTENCE_BREAK = re.compile(r"[.!?\n]+")

ENGLISH = frozenset(
    "the a an and or but is are was were be been it its i my me we you your to of in on at for "
    "with this that not no have has had do does did can cant can't will would should could "
    "please help when what how why from up down out again still just get got there"
    .split()
)
#: Frequent words of other languages callers write in (none is also a common English word).
FOREIGN = frozenset(
    "le la les des et est une pas je ne pour que qui dans avec mon ma mes sur vous nous ça "
    "el los las y es por una muy mi pero está tengo funciona del al "
    "der das und ist nicht ich mit ein eine mein meine auf geht bitte funktioniert "
    "il che di non della sono ho mio mia funziona "
    "não com um uma meu minha está "
    "een het niet ik mijn werkt "
    "hola gracias ayuda desde ayer hoy puedo tiene servicio señal estoy necesito quiero nada "
    "todo porque cuando donde hay sin esta este bonjour merci aide depuis suis fonctionne "
    "marche obrigado você hallo danke kein keine seit "
    "hai nahi nhi kya mera meri mere mujhe raha rahi hua gaya bhi aur kyu kyun kab abhi "
    "bahut karo kijiye hoga tha thi yeh woh kaise kuch".split()
)
_WORDS = re.compile(r"[^\W\d_]+")
_ASCII_WORDS = re.compile(r"[a-z]+")


def ticket_text(subject: Any, body: Any) -> str:
    """The text a ticket is scored on: "subject. body", or the body alone.

    The one join for training, serving, batch scoring and history, so a ticket counts the
    same wherever it is read.
    """
    subject = "" if subject is None else str(subject).strip()
    body = "" if body is None else str(body)
    return f"{subject}. {body}" if subject else body


#: Links, @mentions, hashtags' marks, emoji and pictographs: what social and chat messages
#: carry that says nothing about a problem or its writer's level.
_LINK = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w.])@\w+")
_HASHTAG = re.compile(r"(?<![\w&])#(?=[^\W\d_])")
_PICTOGRAPH = re.compile("[\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2b00-\u2bff"
                         "\ufe0f\u200d\U0001f000-\U0001faff]+")
_ENTITY = re.compile(r"&(?:[a-z]+|#\d+|#x[0-9a-f]+);", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")
#: The longest block of words whose run is collapsed (`collapse_runs`), and the run length
#: from which it is (a word said twice is emphasis; three times and more adds nothing).
RUN_BLOCK_WORDS = 8
RUN_MIN_REPEATS = 3
#: Punctuation that does not make two words of a run different ("router, router, router").
_RUN_PUNCT = ".,;:!?-'\"()"


def collapse_runs(words: list[str]) -> list[str]:
    """`words` with any block of up to `RUN_BLOCK_WORDS` words that follows itself
    `RUN_MIN_REPEATS` or more times in a row kept once (case and surrounding punctuation
    ignored): "DNS DNS DNS DNS" and "my router is broken my router is broken my router is
    broken" say no more than once. Words are whitespace-separated, so "1.1.1.1" is one word.
    Only a list of which at most two thirds are distinct as written is scanned (a cheap
    test that every run long enough to matter passes), so a short run in a longer text, or
    one spelled differently each time, may stay.

    >>> collapse_runs("router, router, router, Router!".split())
    ['router,']
    >>> collapse_runs("it is very very slow".split())
    ['it', 'is', 'very', 'very', 'slow']
    """
    n = len(words)
    # only a text that is mostly repetition (at most two thirds of its words distinct) is
    # scanned: a run long enough to buy certainty makes it so, and most texts skip the scan
    if n < RUN_MIN_REPEATS or len(set(words)) * RUN_MIN_REPEATS > n * 2:
        return words
    keys = [w.strip(_RUN_PUNCT).lower() for w in words]
    out: list[str] = []
    i = 0
    while i < n:
        for size in range(1, min(RUN_BLOCK_WORDS, (n - i) // RUN_MIN_REPEATS) + 1):
            block = keys[i:i + size]
            if any(block) and all(keys[i + k * size:i + (k + 1) * size] == block
                                  for k in range(1, RUN_MIN_REPEATS)):
                end = i + RUN_MIN_REPEATS * size
                while keys[end:end + size] == block:
                    end += size
                out.extend(words[i:i + size])
                i = end
                break
        else:
            out.append(words[i])
            i += 1
    return out


def normalise(text: str) -> str:
    """Text as the model reads it: HTML entities decoded (``&amp;`` -> ``&``), links as
    ``<link>``, @mentions dropped, hashtags' ``#`` dropped (the word stays), emoji and other
    pictographs dropped, and a sentence repeated word for word kept once (repetition says
    nothing new). The text shown and written out is never changed."""
    if "&" in text and _ENTITY.search(text):
        import html

        text = html.unescape(text)
    if "http" in text or "www." in text:
        text = _LINK.sub(" <link> ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub("", text)
    if not text.isascii():
        text = _PICTOGRAPH.sub(" ", text)
    sentences = _SENTENCE_END.split(text)
    if len(sentences) > 2:  # two sentences alike are kept: a greeting twice is no signal
        keys = [sentence.strip().lower() for sentence in sentences]
        if len(set(keys)) < len(keys):
            seen: set[str] = set()
            kept = []
            for sentence, key in zip(sentences, keys, strict=True):
                if key and key in seen:
                    continue
                seen.add(key)
                kept.append(sentence)
            text = " ".join(kept)
    return text


def prepare(text: str) -> tuple[str, bool]:
    """`normalise`, collapse whitespace and runs of repeated words (`collapse_runs`) and
    truncate very long text; return (text, truncated)."""
    # only the start can be read: what lies beyond four times that is not even scanned
    text = " ".join(collapse_runs(normalise(text)[:4 * MAX_TEXT_CHARS].split()))
    if len(text) > MAX_TEXT_CHARS:
        return text[:MAX_TEXT_CHARS], True
    return text, False


def redacted_ticket(subject: Any, body: Any) -> str:
    """A ticket's subject and body, each redacted (`expertise.privacy.redact`), then joined
    (`ticket_text`): the text a ticket is scored and trained on before `prepare`. Redacting
    the fields apart lets batch output reuse them; a text typed alone is its own body."""
    subject = "" if subject is None else str(subject)
    body = "" if body is None else str(body)
    return ticket_text(redact(subject) if subject.strip() else "", redact(body))


def scoring_ticket(subject: Any, body: Any) -> str:
    """What the model reads of a ticket: `redacted_ticket`, `prepare`d."""
    return prepare(redacted_ticket(subject, body))[0]


def scoring_text(text: str) -> tuple[str, bool]:
    """What the model reads of a ticket's text, in training and serving alike: personal data
    redacted (`expertise.privacy.redact`), then `prepare`d; returns (text, truncated)."""
    return prepare(redact(text))


def is_stopword(token: str) -> bool:
    return token in ENGLISH


def plain_term(ngram: str, lexicon: frozenset[str]) -> bool:
    """An n-gram worth quoting as wording: not a technical term, not only stopwords, and no
    digit shapes (a folded "by 0" means nothing to an agent; exact details have their own
    reason)."""
    return (ngram not in lexicon and len(ngram) > 3
            and not any(c.isdigit() for c in ngram)
            and not all(is_stopword(w) for w in ngram.split()))


def looks_english(text: str) -> bool:
    """False when the text shows another language, or has no words at all: most of its
    letters are in another script (CJK, Devanagari, Arabic, Cyrillic, ...), or frequent words
    of another language outnumber common English ones (code-mixed text included), or a short
    message has a word of another language and none of English. Jargon-heavy English
    ("PPPoE LCP echo timeouts, MTU 1492") has few common words but no foreign ones."""
    lower = text.lower()
    ascii_text = lower.isascii()
    if not ascii_text:
        letters = [c for c in lower if c.isalpha()]
        other = sum(c >= "\u0250" for c in letters)
        # mostly another script, or a real part of it (code-mixed: "Netflixがbufferingしてる")
        if other >= max(3, 0.2 * len(letters)):
            return False
    found = (_ASCII_WORDS if ascii_text else _WORDS).findall(lower)
    words = [w for w in found if len(w) > 1 or w in "ai"]
    if not words:
        return False  # nothing but digits, punctuation or symbols: nothing to read
    common = sum(map(ENGLISH.__contains__, words))
    foreign = sum(map(FOREIGN.__contains__, words))
    if foreign >= 2 and foreign > common:
        return False
    return not (foreign and not common and len(words) <= 5 and foreign * 3 >= len(words))
