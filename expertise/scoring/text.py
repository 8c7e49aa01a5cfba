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
ios android sdk api adb ssh telnet sip voip ata pstn dial-tone sim pin puk pac stac porting
backup icloud restore encryption bitlocker filevault sync cloud storage partition
""".split())

#: Commands and tools; naming one is a strong sign of an expert.
COMMANDS = frozenset(
    "ping traceroute tracert mtr nslookup dig ipconfig ifconfig netstat arp iperf iperf3 "
    "wireshark tcpdump nmap curl wget ssh telnet adb powercfg chkdsk sfc dism speedtest".split()
)

SPECIFIC = re.compile(
    r"(?P<error>\b(?:e|err|error|code)[-_ ]?\d{2,5}\b|\b0x[0-9a-f]{4,8}\b|\berr_[a-z_]+\b)"
    r"|(?P<version>\b(?:v|fw|version |firmware |ios |android )?\d+\.\d+(?:\.\d+)+\b)"
    r"|(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b|<ip>)"
    r"|(?P<port>\bport\s*\d{2,5}\b|:\d{2,5}\b)"
    r"|(?P<unit>\b\d+(?:\.\d+)?\s?(?:mbps|mb/s|gbps|kbps|ghz|mhz|dbm|db|ms|mah|gb|mb|tb|v|w)\b)",
    re.IGNORECASE,
)
SELF_NOVICE = re.compile(
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
SELF_EXPERT = re.compile(
    r"i work in (?:it|tech|networking|telecoms?)|\b(?:network|software|systems?|devops|"
    r"telecoms?|site reliability|security) engineer|\bsysadmin\b|\bsys admin\b|"
    r"i'?m (?:a |an )?(?:developer|programmer|it professional|it consultant)|"
    r"i know (?:my way around|what i'?m doing)|homelab|home lab|i run my own|"
    r"(?:ccna|ccnp|comptia)",
    re.IGNORECASE,
)
TRIED = re.compile(
    r"restart(?:ed|ing)?|reboot(?:ed|ing)?|power[- ]?cycl\w*|"
    r"turn(?:ed|ing)? it off and (?:on|back on)|"
    r"unplug(?:ged)?|factory reset|reset (?:it|the \w+)|tried (?:another|a different|other)|"
    r"checked (?:the )?(?:cables?|connections?|settings|lights)|re-?seat\w*|swapped|"
    r"ran (?:a )?(?:traceroute|speed ?test|ping|diagnostics?)|speed ?tests?|"
    r"cleared (?:the )?cache|reinstall\w*|updated (?:the )?(?:firmware|app|software)|"
    r"forgot the network|re-?paired",
    re.IGNORECASE,
)
APPEARANCE = re.compile(
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
#: Evidence found by pattern, in this order: (kind, pattern, searched on the lower-cased text).
#: `specific` quotes the lower-cased span; the others quote the span as the caller wrote it.
PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
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
    "een het niet ik mijn werkt".split()
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


def prepare(text: str) -> tuple[str, bool]:
    """Collapse whitespace and truncate very long text; return (text, truncated)."""
    text = " ".join(text.split())
    if len(text) > MAX_TEXT_CHARS:
        return text[:MAX_TEXT_CHARS], True
    return text, False


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
    """False only when the text shows another language: its words are mostly in another
    script, or frequent words of another language outnumber common English ones. Jargon-heavy
    English ("PPPoE LCP echo timeouts, MTU 1492") has few common words but no foreign ones."""
    lower = text.lower()
    ascii_text = lower.isascii()
    found = (_ASCII_WORDS if ascii_text else _WORDS).findall(lower)
    words = [w for w in found if len(w) > 1 or w in "ai"]
    if len(words) < 6:
        return True
    ascii_share = 1.0 if ascii_text else sum(w.isascii() for w in words) / len(words)
    if ascii_share < 0.5:
        return False
    common = sum(map(ENGLISH.__contains__, words))
    foreign = sum(map(FOREIGN.__contains__, words))
    return not (foreign >= 2 and foreign > common)
