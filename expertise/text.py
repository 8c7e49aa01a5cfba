"""Wording features in plain Python: tokens, n-grams and the hand-made signals of expertise.

This module imports only the standard library: the one-shot CLI path and batch workers use it
without scikit-learn. `features.py` wraps it in scikit-learn transformers for training.
"""

from __future__ import annotations

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
    r"don'?t (?:really )?(?:understand|know (?:much )?about|know what (?:that|this|it) (?:is|means))|"
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
    r"restart(?:ed|ing)?|reboot(?:ed|ing)?|power[- ]?cycl\w*|turn(?:ed|ing)? it off and (?:on|back on)|"
    r"unplug(?:ged)?|factory reset|reset (?:it|the \w+)|tried (?:another|a different|other)|"
    r"checked (?:the )?(?:cables?|connections?|settings|lights)|re-?seat\w*|swapped|"
    r"ran (?:a )?(?:traceroute|speed ?test|ping|diagnostics?)|speed ?tests?|"
    r"cleared (?:the )?cache|reinstall\w*|updated (?:the )?(?:firmware|app|software)|"
    r"forgot the network|re-?paired",
    re.IGNORECASE,
)
_APPEARANCE = re.compile(
    r"(?:box|thing|thingy|gadget|device|doodah|whatsit) with (?:the )?(?:lights?|aerials?|buttons?)|"
    r"\b(?:little|small|black|white|grey|gray|square) (?:box|thing)\b|\bthingy\b|"
    r"\bthe (?:box|thing)\b|(?:light|lights|lamp) (?:is|are|has gone|went|keeps?) "
    r"(?:red|orange|amber|flashing|blinking|green|off|white|blue)|"
    r"(?:red|orange|amber|flashing|blinking) lights?|"
    r"the (?:bit|button) (?:on|at) the|spinning (?:circle|wheel)|little (?:picture|icon|symbol)|"
    r"the (?:internet|wifi) (?:box|thing)",
    re.IGNORECASE,
)
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
    return _DIGITS.sub("0", token) if any(c.isdigit() for c in token) else token


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; digits folded to their shape (`4.2.1` -> `0.0.0`)."""
    return [_shape(t.strip("'.:-")) or t for t in _TOKEN.findall(text.lower())]


def analyze(text: str) -> list[str]:
    """Unigrams and bigrams: the vocabulary of the n-gram model (used by scikit-learn too)."""
    toks = tokenize(text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


def looks_english(text: str) -> bool:
    """False only for text with enough words of which almost none are common English words."""
    words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) > 1 or w in "ai"]
    if len(words) < 6:
        return True
    common = sum(w in _ENGLISH for w in words)
    ascii_share = sum(w.isascii() for w in words) / len(words)
    return common / len(words) >= 0.08 and ascii_share >= 0.5


def _uniq(items: list[str], limit: int = 6) -> list[str]:
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item.lower() not in (o.lower() for o in out):
            out.append(item)
        if len(out) >= limit:
            break
    return out


def wording_features(text: str, lexicon: frozenset[str] = CURATED_TERMS) -> tuple[list[float], Evidence]:
    """The dense wording features of DENSE_FEATURES for one text, and what they found."""
    lower = text.lower()
    raw = [t.strip("'.:-") for t in _TOKEN.findall(lower)]
    toks = [_shape(t) or t for t in raw]
    n = len(toks)
    # A term counts in its own spelling ("5g", "wpa2") or its digit shape ("0.0.0.0").
    tech = [r for r, t in zip(raw, toks, strict=True) if r in lexicon or t in lexicon]
    bigram_tech = [f"{a} {b}" for a, b in zip(raw, raw[1:], strict=False) if f"{a} {b}" in lexicon]
    tech_all = tech + bigram_tech
    specific = [m.group(0) for m in _SPECIFIC.finditer(lower)]
    commands = [t for t in raw if t in COMMANDS]
    self_nov = [m.group(0) for m in _SELF_NOVICE.finditer(text)]
    self_exp = [m.group(0) for m in _SELF_EXPERT.finditer(text)]
    tried = [m.group(0) for m in _TRIED.finditer(text)]
    looks = [m.group(0) for m in _APPEARANCE.finditer(text)]
    sentences = [s for s in _SENT_SPLIT.split(text) if s.strip()]
    letters = [c for c in text if c.isalpha()]
    values = [
        math.log1p(len(tech_all)),
        len(tech_all) / n if n else 0.0,
        math.log1p(len(specific)),
        math.log1p(len(commands)),
        float(min(len(self_nov), 3)),
        float(min(len(self_exp), 3)),
        math.log1p(len(tried)),
        math.log1p(len(looks)),
        math.log1p(n),
        math.log1p(n / max(1, len(sentences))),
        sum(any(c.isdigit() for c in t) for t in toks) / n if n else 0.0,
        sum(c.isupper() for c in letters) / len(letters) if letters else 0.0,
        math.log1p(text.count("!")),
        math.log1p(text.count("?")),
    ]
    same_len = len(lower) == len(text)
    shown = [text[m.start():m.end()].strip("'.:-") if same_len else m.group(0)
             for m in _TOKEN.finditer(lower)
             if (w := m.group(0).strip("'.:-")) in lexicon or _shape(w) in lexicon]
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
