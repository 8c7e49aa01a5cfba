"""Wording features in plain Python: tokens, n-grams and the hand-made signals of expertise.

This module imports only the standard library: the one-shot CLI path and batch workers use it
without scikit-learn. `features.py` wraps it in scikit-learn transformers for training.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from expertise.config import MAX_TEXT_CHARS

_TOKEN = re.compile(r"<[a-z]+>|[a-z0-9](?:[a-z0-9_'./:+#*-]*[a-z0-9#*])?")
_DIGITS = re.compile(r"\d+")
_SENT_SPLIT = re.compile(r"[.!?\n]+")

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
ios android sdk api adb ssh telnet sip voip ata pstn dial-tone sim pin puk pac stac porting
backup icloud restore encryption bitlocker filevault sync cloud storage partition
""".split())

#: Commands and tools; naming one is a strong sign of an expert.
COMMANDS = frozenset(
    "ping traceroute tracert mtr nslookup dig ipconfig ifconfig netstat arp iperf iperf3 "
    "wireshark tcpdump nmap curl wget ssh telnet adb powercfg chkdsk sfc dism speedtest".split()
)

_SPECIFIC = re.compile(
    r"(?P<error>\b(?:e|err|error|code)[-_ ]?\d{2,5}\b|\b0x[0-9a-f]{4,8}\b|\berr_[a-z_]+\b)"
    r"|(?P<version>\b(?:v|fw|version |firmware |ios |android )?\d+\.\d+(?:\.\d+)+\b)"
    r"|(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b|<ip>)"
    r"|(?P<port>\bport\s*\d{2,5}\b|:\d{2,5}\b)"
    r"|(?P<unit>\b\d+(?:\.\d+)?\s?(?:mbps|mb/s|gbps|kbps|ghz|mhz|dbm|db|ms|mah|gb|mb|tb|v|w)\b)",
    re.IGNORECASE,
)

_SELF_NOVICE = re.compile(
    r"not (?:very |that |too )?(?:good|great|techy|technical|confident) with|"
    r"(?:not|never been) (?:very |that )?(?:techy|technical|tech savvy|good at this)|"
    r"\b(?:hopeless|useless|rubbish|clueless|dinosaur) (?:with|at|when it comes)|"
    r"(?:son|daughter|grandson|granddaughter|nephew|niece|husband|wife|neighbour|neighbor|"
    r"grandkids|kids) (?:usually |normally )?(?:set|sets|does|did|sorted|helps|set it)|"
    r"don'?t (?:really )?(?:understand|know (?:much )?about|"
    r"know what (?:that|this|it) (?:is|means))|"
    r"no idea (?:what|how)|what(?:'s| is) an? \w+\?|i'?m (?:a bit )?confused|"
    r"(?:pensioner|elderly|in my (?:70s|80s|seventies|eighties)|\b8\d years? old)|"
    r"computer illiterate|technophobe|not a tech person",
    re.IGNORECASE,
)
_SELF_EXPERT = re.compile(
    r"i work in (?:it|tech|networking|telecoms?)|\b(?:network|software|systems?|devops|"
    r"telecoms?|site reliability|security) engineer|\bsysadmin\b|\bsys admin\b|"
    r"i'?m (?:a |an )?(?:developer|programmer|it professional|it consultant)|"
    r"i know (?:my way around|what i'?m doing)|homelab|home lab|i run my own|"
    r"(?:ccna|ccnp|comptia)",
    re.IGNORECASE,
)
_TRIED = re.compile(
    r"restart(?:ed|ing)?|reboot(?:ed|ing)?|power[- ]?cycl\w*|"
    r"turn(?:ed|ing)? it off and (?:on|back on)|"
    r"unplug(?:ged)?|factory reset|reset (?:it|the \w+)|tried (?:another|a different|other)|"
    r"checked (?:the )?(?:cables?|connections?|settings|lights)|re-?seat\w*|swapped|"
    r"ran (?:a )?(?:traceroute|speed ?test|ping|diagnostics?)|speed ?tests?|"
    r"cleared (?:the )?cache|reinstall\w*|updated (?:the )?(?:firmware|app|software)|"
    r"forgot the network|re-?paired",
    re.IGNORECASE,
)
_APPEARANCE = re.compile(
    r"(?:box|thing|thingy|gadget|device|doodah|whatsit) with "
    r"(?:the )?(?:lights?|aerials?|buttons?)|"
    r"\b(?:little|small|black|white|grey|gray|square) (?:box|thing)\b|\bthingy\b|"
    r"\bthe (?:box|thing)\b|(?:light|lights|lamp) (?:is|are|has gone|went|keeps?) "
    r"(?:red|orange|amber|flashing|blinking|green|off|white|blue)|"
    r"(?:red|orange|amber|flashing|blinking) lights?|"
    r"the (?:bit|button) (?:on|at) the|spinning (?:circle|wheel)|little (?:picture|icon|symbol)|"
    r"the (?:internet|wifi) (?:box|thing)",
    re.IGNORECASE,
)
# Case-sensitive twins of the patterns above, run on the lower-cased text. Python's re scans
# a case-insensitive alternation several times slower, and on text whose lower-casing keeps
# every character in place the twins find exactly the same spans (see `_case_safe`).
_SPECIFIC_LOWER = re.compile(_SPECIFIC.pattern)
_SELF_NOVICE_LOWER = re.compile(_SELF_NOVICE.pattern)
_SELF_EXPERT_LOWER = re.compile(_SELF_EXPERT.pattern)
_TRIED_LOWER = re.compile(_TRIED.pattern)
_APPEARANCE_LOWER = re.compile(_APPEARANCE.pattern)
#: Besides the ASCII letters, only these characters match an ASCII letter case-insensitively
#: without lower-casing to it (dotless i, long s); U+0130 and U+212A lower-case to ASCII.
_FOLD_EXTRA = ("\u0131", "\u017f")
_ANY_DIGIT = re.compile(r"\d")
_WORDS = re.compile(r"[^\W\d_]+")
_ASCII_WORDS = re.compile(r"[a-z]+")
_ASCII_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_NOT_LETTER = bytes(b for b in range(128) if b not in _ASCII_LETTERS)
_NOT_UPPER = bytes(b for b in range(128) if not ord("A") <= b <= ord("Z"))

_ENGLISH = frozenset(
    "the a an and or but is are was were be been it its i my me we you your to of in on at for "
    "with this that not no have has had do does did can cant can't will would should could "
    "please help when what how why from up down out again still just get got there"
    .split()
)

#: Names and plain-language labels of the dense wording features, in order.
DENSE_FEATURES: tuple[tuple[str, str], ...] = (
    ("tech_terms", "technical terms named"),
    ("tech_density", "share of technical words"),
    ("specific", "exact details quoted (codes, versions, addresses, units)"),
    ("commands", "diagnostic commands named"),
    ("self_novice", "said they are not confident with technology"),
    ("self_expert", "said they work with technology"),
    ("tried", "troubleshooting already tried"),
    ("appearance", "described equipment by how it looks"),
    ("n_tokens", "length of the ticket"),
    ("sentence_len", "length of sentences"),
    ("digit_share", "share of words with digits"),
    ("caps_share", "share of capital letters"),
    ("exclaim", "exclamation marks"),
    ("question", "question marks"),
)


@dataclass
class Evidence:
    """What the wording features found, kept for plain-language reasons."""

    tech_terms: list[str]
    specific: list[str]
    commands: list[str]
    self_novice: list[str]
    self_expert: list[str]
    tried: list[str]
    appearance: list[str]


def prepare(text: str) -> tuple[str, bool]:
    """Collapse whitespace and truncate very long text; return (text, truncated)."""
    text = " ".join(text.split())
    if len(text) > MAX_TEXT_CHARS:
        return text[:MAX_TEXT_CHARS], True
    return text, False


def is_stopword(token: str) -> bool:
    return token in _ENGLISH


def _shape(token: str) -> str:
    # Letters are never digits (\d is a subset of str.isdigit), and substituting nothing
    # leaves the token as it was, so this equals "sub only if some character is a digit".
    return token if token.isalpha() else _DIGITS.sub("0", token)


def _tokens(lower: str) -> tuple[list[str], list[str], list[str]]:
    """(found, raw, toks) of lower-cased text: matches, stripped, and digit-shaped."""
    found = _TOKEN.findall(lower)
    raw = [t.strip("'.:-") for t in found]
    if _ANY_DIGIT.search(lower) is None:
        return found, raw, raw
    return found, raw, [_shape(t) for t in raw]


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; digits folded to their shape (`4.2.1` -> `0.0.0`)."""
    found, raw, toks = _tokens(text.lower())
    return [t or f for f, t in zip(found, toks, strict=True)]


def analyze(text: str) -> list[str]:
    """Unigrams and bigrams: the vocabulary of the n-gram model (used by scikit-learn too)."""
    toks = tokenize(text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


#: Frequent words of other languages callers write in (none is also a common English word).
_FOREIGN = frozenset(
    "le la les des et est une pas je ne pour que qui dans avec mon ma mes sur vous nous ça "
    "el los las y es por una muy mi pero está tengo funciona del al "
    "der das und ist nicht ich mit ein eine mein meine auf geht bitte funktioniert "
    "il che di non della sono ho mio mia funziona "
    "não com um uma meu minha está "
    "een het niet ik mijn werkt".split()
)


def looks_english(text: str) -> bool:
    """False only when the text shows another language: its words are mostly in another
    script, or frequent words of another language outnumber common English ones. Jargon-heavy
    English ("PPPoE LCP echo timeouts, MTU 1492") has few common words but no foreign ones."""
    lower = text.lower()
    # In ASCII text the words are runs of a-z, and every word is ASCII.
    ascii_text = lower.isascii()
    found = (_ASCII_WORDS if ascii_text else _WORDS).findall(lower)
    words = [w for w in found if len(w) > 1 or w in "ai"]
    if len(words) < 6:
        return True
    ascii_share = 1.0 if ascii_text else sum(w.isascii() for w in words) / len(words)
    if ascii_share < 0.5:
        return False
    common = sum(map(_ENGLISH.__contains__, words))
    foreign = sum(map(_FOREIGN.__contains__, words))
    return not (foreign >= 2 and foreign > common)


def _uniq(items: list[str], limit: int = 6) -> list[str]:
    """The first `limit` distinct items (ignoring case and surrounding spaces), stripped."""
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = item.strip()
        key = item.lower()
        if item and key not in seen:
            out.append(item)
            seen.add(key)
            if len(out) >= limit:
                break
    return out


def _case_safe(text: str, lower: str) -> bool:
    """True when a case-insensitive match on `text` equals a plain match on `lower`.

    Holds when lower-casing keeps every character in place (same length) and the text has
    none of the characters that fold to an ASCII letter without lower-casing to it.
    """
    if text.isascii():
        return True
    return len(lower) == len(text) and not any(c in lower for c in _FOLD_EXTRA)


def wording_features(
    text: str, lexicon: frozenset[str] = CURATED_TERMS
) -> tuple[list[float], Evidence]:
    """The dense wording features of DENSE_FEATURES for one text, and what they found."""
    lower = text.lower()
    found, raw, toks = _tokens(lower)
    return _wording(text, lexicon, lower, found, raw, toks)


def text_features(text: str, lexicon: frozenset[str] = CURATED_TERMS
                  ) -> tuple[list[str], list[float], Evidence]:
    """`tokenize(text)` and `wording_features(text, lexicon)` in one pass over the text."""
    lower = text.lower()
    found, raw, toks = _tokens(lower)
    values, evidence = _wording(text, lexicon, lower, found, raw, toks)
    if "" in toks:  # a token that strips to nothing keeps its matched text
        return [t or f for f, t in zip(found, toks, strict=True)], values, evidence
    return toks, values, evidence


def _spans(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [m.group(0) for m in pattern.finditer(text)]


def _spans_lower(text: str, lower: str, pattern: re.Pattern[str]) -> list[str]:
    return [text[m.start():m.end()] for m in pattern.finditer(lower)]


def _wording(text: str, lexicon: frozenset[str], lower: str, found: list[str], raw: list[str],
             toks: list[str]) -> tuple[list[float], Evidence]:
    n = len(toks)
    # A term counts in its own spelling ("5g", "wpa2") or its digit shape ("0.0.0.0").
    tech_at = [k for k, (r, t) in enumerate(zip(raw, toks, strict=True))
               if r in lexicon or t in lexicon]
    heads = _bigram_heads(lexicon)
    bigram_tech = [g for a, b in zip(raw, raw[1:], strict=False)
                   if a in heads and (g := f"{a} {b}") in lexicon]
    n_tech = len(tech_at) + len(bigram_tech)
    commands = [t for t in raw if t in COMMANDS]
    if _case_safe(text, lower):
        specific = _spans(lower, _SPECIFIC_LOWER)
        self_nov = _spans_lower(text, lower, _SELF_NOVICE_LOWER)
        self_exp = _spans_lower(text, lower, _SELF_EXPERT_LOWER)
        tried = _spans_lower(text, lower, _TRIED_LOWER)
        looks = _spans_lower(text, lower, _APPEARANCE_LOWER)
    else:
        specific = _spans(lower, _SPECIFIC)
        self_nov = _spans(text, _SELF_NOVICE)
        self_exp = _spans(text, _SELF_EXPERT)
        tried = _spans(text, _TRIED)
        looks = _spans(text, _APPEARANCE)
    sentences = [s for s in _SENT_SPLIT.split(text) if s.strip()]
    if text.isascii():
        data = text.encode("ascii")
        n_letters = len(data.translate(None, _NOT_LETTER))
        n_upper = len(data.translate(None, _NOT_UPPER))
    else:
        letters = [c for c in text if c.isalpha()]
        n_letters = len(letters)
        n_upper = sum(c.isupper() for c in letters)
    # Tokens are ASCII and shaped, so a token holds a digit exactly when it holds "0".
    with_digits = sum("0" in t for t in toks) if toks is not raw else 0
    values = [
        math.log1p(n_tech),
        n_tech / n if n else 0.0,
        math.log1p(len(specific)),
        math.log1p(len(commands)),
        float(min(len(self_nov), 3)),
        float(min(len(self_exp), 3)),
        math.log1p(len(tried)),
        math.log1p(len(looks)),
        math.log1p(n),
        math.log1p(n / max(1, len(sentences))),
        with_digits / n if n else 0.0,
        n_upper / n_letters if n_letters else 0.0,
        math.log1p(text.count("!")),
        math.log1p(text.count("?")),
    ]
    shown: list[str] = []
    if tech_at:
        if len(lower) == len(text):
            starts = _token_starts(lower, found, tech_at[-1] + 1)
            shown = [text[starts[k]:starts[k] + len(found[k])].strip("'.:-") for k in tech_at]
        else:
            shown = [found[k] for k in tech_at]
    evidence = Evidence(
        tech_terms=_uniq(shown + bigram_tech),
        specific=_uniq(specific),
        commands=_uniq(commands),
        self_novice=_uniq(self_nov, 2),
        self_expert=_uniq(self_exp, 2),
        tried=_uniq(tried, 4),
        appearance=_uniq(looks, 2),
    )
    return values, evidence


def _token_starts(lower: str, found: list[str], count: int) -> list[int]:
    """Where the first `count` tokens start. A token's text cannot occur between the previous
    token and its own match (the scan would have matched it there), so `find` locates it."""
    starts = []
    pos = 0
    for tok in found[:count]:
        pos = lower.find(tok, pos)
        starts.append(pos)
        pos += len(tok)
    return starts


@functools.lru_cache(maxsize=8)
def _bigram_heads(lexicon: frozenset[str]) -> frozenset[str]:
    """First words of the lexicon's two-word terms: other bigrams cannot be in it."""
    return frozenset(term.split(" ", 1)[0] for term in lexicon if " " in term)
