"""Tests for expertise.privacy: typed redaction, kept technical signal, the labelled corpus."""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertise.privacy import KINDS, PUBLIC_RESOLVERS, is_name_word, luhn_ok, redact
from tests.privacy_corpus import corpus_report, parse_corpus, redact_counts

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "pii_corpus.tsv"

# Text around the PII: any characters but digits, '@' and surrogates, so that what survives
# can be checked digit by digit.
NOISE = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Nd"), exclude_characters="@\x00\r"),
    max_size=40,
)
WORDS = st.lists(
    st.sampled_from(
        "the router hub box light is red again after update my and on with TV Wi-Fi "
        "since restart still slow said error code shows in app firmware".split()
    ),
    max_size=8,
).map(" ".join)


def digits_of(text: str) -> str:
    """The text's digits, in ASCII whatever script they were written in."""
    return "".join(str(int(d)) for d in re.findall(r"\d", text))


# ---------------------------------------------------------------------------------------------
# Examples, one or two per kind
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe@example.com", "mail me at <EMAIL>"),
        ("call 07700 900123 or +44 7700 900123", "call <PHONE> or <PHONE>"),
        ("(020) 7946 0018 and 020 7946 0018", "<PHONE> and <PHONE>"),
        ("US (415) 555-0132, 415-555-0132, +1 415 555 0132", "US <PHONE>, <PHONE>, <PHONE>"),
        ("Paris +33 1 23 45 67 89, Berlin +49 30 123456", "Paris <PHONE>, Berlin <PHONE>"),
        ("card 4111 1111 1111 1111", "card <CARD>"),
        ("card 4111-1111-1111-1112 fails Luhn", "card 4111-1111-1111-1112 fails Luhn"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN <IBAN>"),
        ("at SW1A 1AA and M1 1AE", "at <ADDRESS> and <ADDRESS>"),
        ("1600 Pennsylvania Ave", "<ADDRESS>"),
        ("221 Main Street, Springfield, IL 62704 today", "<ADDRESS> today"),
        ("WAN 81.2.69.142 LAN 192.168.1.1", "WAN <IP> LAN 192.168.1.1"),
        ("MAC aa:bb:cc:dd:ee:ff", "MAC <MAC>"),
        ("Hi, I'm Sarah Jones", "Hi, I'm <NAME>"),
        ("my name is priya patel and", "my name is <NAME> and"),
        ("Regards,\nTom", "Regards,\n<NAME>"),
        ("Thanks, Priya", "Thanks, <NAME>"),
        ("Cheers - Dave", "Cheers - <NAME>"),
        ("account number 12345678", "account number <ACCOUNT>"),
        ("acct no 987654", "acct no <ACCOUNT>"),
        ("IMEI 356938035643809", "IMEI <IMEI>"),
    ],
)
def test_redacts_each_kind(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "router 192.168.1.1, NAS 10.0.0.12:5000, docker 172.17.0.2, loopback 127.0.0.1",
        "link-local 169.254.1.1, CGNAT 100.64.0.1, any 0.0.0.0, mask 255.255.255.0",
        "ports :8080 and port 3074, error E-1043, 0x80070005, ERR_NAME_NOT_RESOLVED",
        "firmware 4.2.1, v12.0.3, iOS 17.4.1, build 22H2, kernel 6.5.0-27-generic",
        "models SM-G991B, HG8245H, TL-WR841N; 67 Mbps, -67 dBm, MTU 1492",
        "on 2024-03-15 at 10:30, 15/03/2024, order 123456, PAC ABC123456",
        "invalid card 1234 5678 9012 3456 stays",
        "PS5 2TB and Galaxy S23 1TB are not postcodes",
        "I'm having trouble. Thanks for your help",
    ],
)
def test_keeps_technical_signal(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # look-alike characters: no-break and thin spaces, full-width and Arabic-Indic digits,
        # a full-width @, a zero-width space inside an address
        ("card 4111\u00a01111\u00a01111\u00a01111 please", "card <CARD> please"),
        ("card 4111\u202f1111\u202f1111\u202f1111", "card <CARD>"),
        ("call 07700\u00a0900123 now", "call <PHONE> now"),
        ("call \uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13",
         "call <PHONE>"),
        ("call \u0660\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0661\u0662\u0663",
         "call <PHONE>"),
        ("mail john.smith\uff20gmail.com ok", "mail <EMAIL> ok"),
        ("mail jo\u200bhn.smith@gmail.com ok", "mail <EMAIL> ok"),
        # addresses: a US town and state without commas, a PO box, a street in lower case
        ("at 742 Evergreen Terrace Springfield IL 62704", "at <ADDRESS>"),
        ("I'm in Springfield, IL 62704 now", "I'm in <ADDRESS> now"),
        ("send it to PO Box 1234, Leeds", "send it to <ADDRESS>, Leeds"),
        ("post to P.O. Box 77", "post to <ADDRESS>"),
        ("I live at 12 acacia avenue, leeds ls1 4ap", "I live at <ADDRESS>, leeds <ADDRESS>"),
        ("router at 221b baker street", "router at <ADDRESS>"),
        # a plain-word password after "is" or ":"
        ("my password is sunshine", "my password is <SECRET>"),
        ("password: bluebirdhouse", "password: <SECRET>"),
        ("the wifi password is admin", "the wifi password is <SECRET>"),
        # a name in lower case ending the message after a sign-off
        ("thanks, bob", "thanks, <NAME>"),
        ("sorted now cheers\nkev x", "sorted now cheers\n<NAME> x"),
        ("regards\n\njane doe", "regards\n\n<NAME>"),
        # a UK mobile without its 0, or with 44 and no plus
        ("call me on 7700900123", "call me on <PHONE>"),
        ("my number 447700900123", "my number <PHONE>"),
        # a Cisco-style MAC in lower case, or all digits after the word "MAC"
        ("mac aabb.ccdd.eeff on the hub", "mac <MAC> on the hub"),
        ("MAC 0011.2233.4455", "MAC <MAC>"),
    ],
)
def test_redacts_disguised_and_lower_case_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I drove 2 miles down the road",
        "we have 3 kids on our street and 10 mins up the lane",
        "the 5g mast on main road",
        "my password is case sensitive",
        "my wifi password is printed on the router",
        "the password is on the Hub card, and a longer passphrase is stronger",
        "my password is not accepted and password: reset",
        "many thanks, everyone",
        "thanks, kind regards",
        "thanks verizon",
        "thanks in advance",
        "thanks for the help guys",
        "ok thanks. link",
        "version 1234.5678.9012 on my mac",
        "emoji keep their joiners \U0001f926\u200d\u2642\ufe0f and brackets \uff08\uff09",
    ],
)
def test_lower_case_and_plain_word_rules_leave_everyday_text(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", ["\xad", "\u200b", "\xa0", " \u200b\xad "])
def test_a_text_of_invisible_characters_is_never_made_empty(text: str) -> None:
    assert redact(text) == text


def test_public_resolvers_are_signal_not_pii() -> None:
    text = "DNS " + ", ".join(sorted(PUBLIC_RESOLVERS))
    assert redact(text) == text


def test_imei_label_wins_over_card() -> None:
    # the same 15 digits pass Luhn: labelled they are an IMEI, bare they are treated as a card
    assert redact("IMEI 356938035643809 and 356938035643809") == "IMEI <IMEI> and <CARD>"


def test_redact_counts_counts_by_kind() -> None:
    text, counts = redact_counts("a@b.example, 07700 900123, 07700 900456, Thanks, Tom")
    assert text == "<EMAIL>, <PHONE>, <PHONE>, Thanks, <NAME>"
    assert counts == {"EMAIL": 1, "PHONE": 2, "NAME": 1}
    assert redact_counts("nothing here") == ("nothing here", {})


def test_placeholders_already_present_are_not_counted() -> None:
    assert redact_counts("<EMAIL> and x@y.example") == ("<EMAIL> and <EMAIL>", {"EMAIL": 1})


def test_empty_and_blank_text() -> None:
    assert redact("") == ""
    assert redact("   \n ") == "   \n "


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")


def test_privacy_imports_only_the_standard_library() -> None:
    code = (
        "import sys, expertise.privacy\n"
        "heavy = {'pandas', 'numpy', 'pyarrow', 'sklearn', 'typer', 'rich'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert out.stdout.strip() == "[]"


def test_compile_patterns_compiles_every_lazy_pattern_and_redacts_alike() -> None:
    # in a fresh interpreter, where no pattern has been used yet; the redactions made after
    # compiling everything up front must equal those this process made lazily
    code = (
        "import json, re, expertise.privacy as p\n"
        "from tests.privacy_corpus import parse_corpus\n"
        f"texts = [t for _, t, _ in parse_corpus(open({str(CORPUS)!r}, encoding='utf-8'))]\n"
        "lazy = [k for k, v in vars(p).items() if isinstance(v, p._LazyPattern)]\n"
        "n = p.compile_patterns()\n"
        "print(json.dumps({'lazy': len(lazy), 'compiled': n, 'again': p.compile_patterns(),"
        " 'all_compiled': all(isinstance(getattr(p, k), re.Pattern) for k in lazy),"
        " 'redacted': [p.redact(t) for t in texts]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    got = json.loads(out.stdout)
    texts = [t for _, t, _ in parse_corpus(CORPUS.open(encoding="utf-8"))]
    assert got["lazy"] > 20 and got["compiled"] == got["lazy"]
    assert got["again"] == 0 and got["all_compiled"]
    assert got["redacted"] == [redact(t) for t in texts]


# ---------------------------------------------------------------------------------------------
# The hand-labelled corpus
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> dict:
    with open(CORPUS, encoding="utf-8") as handle:
        return corpus_report(handle)


def test_corpus_is_large_and_covers_every_kind(report: dict) -> None:
    assert report["lines"] >= 220
    for kind in KINDS:
        assert report["kinds"][kind]["expected"] > 0, kind


@pytest.mark.parametrize("kind", ["EMAIL", "PHONE", "CARD"])
def test_corpus_recall_of_contact_and_payment_data(report: dict, kind: str) -> None:
    assert report["kinds"][kind]["recall"] >= 0.99, report["failures"]
    assert report["kinds"][kind]["false_positives"] == 0, report["failures"]


def test_corpus_recall_of_other_kinds(report: dict) -> None:
    for kind in KINDS:
        assert report["kinds"][kind]["recall"] >= 0.9, (kind, report["failures"])


@pytest.mark.parametrize(
    "section",
    ["version", "error-code", "model", "card-negative", "ip-keep", "units", "date-time", "price",
     "port", "code", "name-negative"],
)  # fmt: skip
def test_corpus_negatives_are_left_alone(report: dict, section: str) -> None:
    stats = report["sections"][section]
    assert stats["lines"] > 0
    assert stats["changed_negatives"] == 0, [
        f for f in report["failures"] if f["section"] == section
    ]


def test_corpus_exact_match_rate(report: dict) -> None:
    assert report["exact"] / report["lines"] >= 0.97, report["failures"]


def test_parse_corpus_escapes_and_sections() -> None:
    lines = [
        "# a comment",
        "# section: demo",
        "",
        "Regards,\\nTom\tRegards,\\n<NAME>",
        "a\\\\b\ta\\\\b",
    ]
    assert list(parse_corpus(lines)) == [
        ("demo", "Regards,\nTom", "Regards,\n<NAME>"),
        ("demo", "a\\b", "a\\b"),
    ]
    with pytest.raises(ValueError, match="without a tab"):
        list(parse_corpus(["no tab here"]))


def test_corpus_report_accepts_pairs_and_reports_failures() -> None:
    report = corpus_report([("mail x@y.example", "mail <EMAIL>"), ("v4.2.1", "v<IP>")])
    assert report["lines"] == 2
    assert report["exact"] == 1
    assert report["kinds"]["EMAIL"]["recall"] == 1.0
    assert report["kinds"]["IP"]["recall"] == 0.0
    assert report["failures"][0]["got"] == "v4.2.1"


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=20)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
TLD = st.from_regex(r"[a-z]{2,6}", fullmatch=True)


@st.composite
def plain_emails(draw: st.DrawFn) -> str:
    local = draw(LOCAL.filter(lambda s: not s.startswith(".") and not s.endswith(".")))
    labels = draw(st.lists(LABEL, min_size=1, max_size=3))
    return f"{local}@{'.'.join(labels)}.{draw(TLD)}"


@given(prefix=NOISE, email=st.one_of(plain_emails(), st.emails()), suffix=NOISE)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_emails_never_survive(prefix: str, email: str, suffix: str) -> None:
    out = redact(f"{prefix} {email} {suffix}")
    assert email not in out
    assert "<EMAIL>" in out


def _d(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=n, max_size=n)


@st.composite
def phones(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from(["", " ", "-"]))
    area = draw(st.integers(2, 9)).__str__() + draw(_d(2))
    exchange = draw(st.integers(2, 9)).__str__() + draw(_d(2))
    line = draw(_d(4))
    formats = [
        f"07{draw(_d(3))}{sep}{draw(_d(6))}",  # UK mobile
        f"+44 7{draw(_d(3))} {draw(_d(6))}",
        f"+447{draw(_d(9))}",
        f"020{sep}{draw(_d(4))}{sep}{draw(_d(4))}",  # London
        f"(020) {draw(_d(4))} {draw(_d(4))}",
        f"01{draw(_d(2))}{sep}{draw(_d(3))}{sep}{draw(_d(4))}",  # other UK geographic
        f"01{draw(_d(3))} {draw(_d(6))}",
        f"({area}) {exchange}-{line}",  # North American
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"+1 {area} {exchange} {line}",
        f"1-{area}-{exchange}-{line}",
        f"+33 {draw(st.integers(1, 9))} {draw(_d(2))} {draw(_d(2))} {draw(_d(2))} {draw(_d(2))}",
        f"+49 {draw(_d(2))} {draw(_d(6))}",
        f"+353 {draw(_d(2))} {draw(_d(3))} {draw(_d(4))}",
    ]
    return draw(st.sampled_from(formats))


@given(prefix=NOISE, phone=phones(), suffix=NOISE)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_phones_never_survive(prefix: str, phone: str, suffix: str) -> None:
    out = redact(f"{prefix} {phone} {suffix}")
    assert phone not in out
    # not even the subscriber number survives in pieces
    assert digits_of(phone)[-7:] not in digits_of(out)


#: Look-alike separators and digits people paste from other apps.
_SPACES = ["\u00a0", "\u202f", "\u2009", "\u2007", "\u3000"]
_DIGIT_ZEROS = [0xFF10, 0x0660, 0x06F0, 0x0966]


@st.composite
def disguised(draw: st.DrawFn, value: str) -> str:
    """``value`` with its spaces made look-alike spaces, perhaps its digits another script's,
    and perhaps a zero-width space after its first character."""
    space = draw(st.sampled_from(_SPACES))
    out = value.replace(" ", space)
    if draw(st.booleans()):
        zero = draw(st.sampled_from(_DIGIT_ZEROS))
        out = "".join(chr(zero + int(c)) if c.isdigit() else c for c in out)
    if draw(st.booleans()):
        out = out[:1] + "\u200b" + out[1:]
    return out


@given(prefix=NOISE, data=st.data(), suffix=NOISE)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_disguised_phones_never_survive(prefix: str, data: st.DataObject, suffix: str) -> None:
    phone = data.draw(phones())
    out = redact(f"{prefix} {data.draw(disguised(phone))} {suffix}")
    assert digits_of(phone)[-7:] not in digits_of(out)


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    number = _luhn_complete(draw(st.sampled_from("3456")) + draw(_d(length - 2)))
    style = draw(st.sampled_from(["plain", "space", "dash"]))
    if style == "plain":
        return number
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return (" " if style == "space" else "-").join(groups)


@given(prefix=NOISE, card=cards(), suffix=NOISE)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_valid_cards_never_survive(prefix: str, card: str, suffix: str) -> None:
    out = redact(f"{prefix} {card} {suffix}")
    assert card not in out
    assert digits_of(card)[-8:] not in digits_of(out)


@given(prefix=NOISE, data=st.data(), suffix=NOISE)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_disguised_cards_never_survive(prefix: str, data: st.DataObject, suffix: str) -> None:
    card = data.draw(cards())
    out = redact(f"{prefix} {data.draw(disguised(card))} {suffix}")
    assert digits_of(card)[-8:] not in digits_of(out)


NUM = st.integers(0, 99).map(str)
versions = st.one_of(
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", NUM, NUM, st.integers(0, 999).map(str)),
    st.builds(lambda a, b, c: f"v{a}.{b}.{c}", NUM, NUM, NUM),
    st.builds(lambda a, b: f"iOS {a}.{b}", NUM, NUM),
    st.builds(lambda a, b, c, d: f"version {a}.{b}.{c}.{d}", NUM, NUM, NUM, NUM),
    st.builds(lambda a: f"build {a}H2", st.integers(19, 25)),
)
OCTET = st.integers(0, 255).map(str)
private_ips = st.one_of(
    st.builds(lambda b, c, d: f"10.{b}.{c}.{d}", OCTET, OCTET, OCTET),
    st.builds(lambda b, c, d: f"172.{b}.{c}.{d}", st.integers(16, 31), OCTET, OCTET),
    st.builds(lambda c, d: f"192.168.{c}.{d}", OCTET, OCTET),
    st.builds(lambda b, c, d: f"127.{b}.{c}.{d}", OCTET, OCTET, OCTET),
    st.builds(lambda c, d: f"169.254.{c}.{d}", OCTET, OCTET),
).flatmap(lambda ip: st.sampled_from([ip, f"{ip}:8080", f"{ip}:{len(ip) * 97}"]))
error_codes = st.one_of(
    st.integers(100, 9999).map(lambda n: f"E-{n}"),
    st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8).map(lambda h: f"0x{h}"),
    st.lists(st.sampled_from(["NAME", "NOT", "RESOLVED", "CONNECTION", "RESET", "TIMED", "OUT"]),
             min_size=1, max_size=4).map(lambda ws: "ERR_" + "_".join(ws)),
    st.integers(100, 999).map(lambda n: f"error {n}"),
)  # fmt: skip
ports = st.integers(1, 65535).flatmap(lambda p: st.sampled_from([f":{p}", f"port {p}"]))


@given(before=WORDS, token=st.one_of(versions, private_ips, error_codes, ports), after=WORDS)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_technical_tokens_survive(before: str, token: str, after: str) -> None:
    out = redact(f"{before} {token} {after}")
    assert token in out


@given(st.text(max_size=300))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_redact_is_total_and_idempotent(text: str) -> None:
    once = redact(text)
    assert isinstance(once, str)
    assert redact(once) == once


@given(st.lists(st.one_of(NOISE, phones(), cards(), plain_emails()), max_size=6))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_counts_match_placeholders(parts: list[str]) -> None:
    text = " ".join(parts)
    out, counts = redact_counts(text)
    assert out == redact(text)
    for kind in KINDS:
        assert counts.get(kind, 0) == out.count(f"<{kind}>") - text.count(f"<{kind}>")


# ---------------------------------------------------------------------------------------------
# What the patterns' author did not write: the outside corpus (development half)
# ---------------------------------------------------------------------------------------------

OUTSIDE_DEV = DATA / "pii_outside_dev.tsv"
#: Per-kind recall floors on the development half (recall = planted values none of whose words
#: or digit groups is left in the output). Measured: every kind 1.00 but NAME 0.99 and ADDRESS
#: 0.67 (foreign address layouts); before this round NAME was 0.19, DOB, ID 0.00, SECRET 0.06.
OUTSIDE_FLOORS = {"ACCOUNT": 1.0, "CARD": 1.0, "DOB": 1.0, "EMAIL": 1.0, "IBAN": 1.0,
                  "ID": 1.0, "IMEI": 1.0, "IP": 1.0, "MAC": 1.0, "NAME": 0.95, "PHONE": 0.95,
                  "SECRET": 0.95, "ADDRESS": 0.6}


@pytest.fixture(scope="module")
def outside() -> dict:
    return corpus_report(OUTSIDE_DEV)


@pytest.mark.parametrize("kind", sorted(OUTSIDE_FLOORS))
def test_outside_corpus_recall_per_kind(outside: dict, kind: str) -> None:
    stats = outside["kinds"][kind]
    assert stats["values"] > 0
    assert stats["recall"] >= OUTSIDE_FLOORS[kind], (kind, stats["leaks"])


def test_outside_corpus_is_read_whole_and_negatives_stay(outside: dict) -> None:
    assert outside["lines"] >= 190 and outside["unaligned"] == []
    assert set(outside["kinds"]) >= set(OUTSIDE_FLOORS)
    assert outside["sections"]["negatives"]["changed_negatives"] == 0
    assert outside["sections"]["network"]["exact"] == outside["sections"]["network"]["lines"]
    assert outside["kept"] >= 0.99  # the words around the personal data survive


def test_corpus_report_reads_a_path_and_any_kind(tmp_path: Path) -> None:
    corpus = tmp_path / "c.tsv"
    corpus.write_text(
        "# section: s\n"
        "call Tom on 07700 900123\tcall <NAME> on <PHONE>\n"
        "my badge is ZX-99\tmy badge is <BADGE>\n"  # a kind redact does not know
        "mail a@b.example\tmail <EMAIL> extra\n",  # expected text that does not fit its input
        encoding="utf-8")
    report = corpus_report(corpus)
    assert report["lines"] == 3
    assert report["kinds"]["PHONE"]["recall"] == 1.0
    assert report["kinds"]["BADGE"] == {**report["kinds"]["BADGE"], "values": 1, "removed": 0,
                                        "recall": 0.0, "leaks": ["ZX-99"]}
    assert report["unaligned"] == ["mail a@b.example"]
    # a value left in part counts as left: "<PHONE> 123" leaks the last group
    partial = corpus_report([("ring 07700 900 123", "ring <PHONE>")],
                            redactor=lambda t: t.replace("07700 900", "<PHONE>"))
    assert partial["kinds"]["PHONE"]["leaks"] == ["07700 900 123"]


# ---------------------------------------------------------------------------------------------
# The kinds added in this round, and what must stay
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # IPv6, global and link-local (with its zone); loopback and unspecified stay
        ("WAN 2a02:c7f:8e2d:1400::1f up", "WAN <IP> up"),
        ("gw fe80::1c2b:3aff:fe4d:5e6f%12 and ::1", "gw <IP> and ::1"),
        ("full 2a02:c7f:51a0:7d00:8c1e:2bff:fe90:11aa.", "full <IP>."),
        ("Cisco MAC b827.eb12.3456 seen", "Cisco MAC <MAC> seen"),
        # names: sign-off with more text, Signed, signature block, roles, titles, lower case
        ("Regards, Helen. PS the hub is in the hall", "Regards, <NAME>. PS the hub is in the hall"),
        ("Signed, D. Okafor", "Signed, <NAME>"),
        ("Please cancel.\n\n-- \nFiona McLeish\nOffice Manager",
         "Please cancel.\n\n-- \n<NAME>\nOffice Manager"),
        ("Caller Janet Price rang about the bill", "Caller <NAME> rang about the bill"),
        ("Customer Mr Adeyemi reports no signal", "Customer Mr <NAME> reports no signal"),
        ("Mr and Mrs Patel called", "Mr and Mrs <NAME> called"),
        ("hi im dave lol can u ring me", "hi im <NAME> lol can u ring me"),
        ("Subject: Contact form - Aaron Fitzgerald", "Subject: Contact form - <NAME>"),
        ("Best wishes, Sunita and Raj", "Best wishes, <NAME> and <NAME>"),
        # national ids, dates of birth, secrets
        ("National Insurance no.: JH 48 29 10 B", "National Insurance no.: <ID>"),
        ("SSN 512-44-3087 typed in", "SSN <ID> typed in"),
        ("DOB 12/04/1967, postcode", "DOB <DOB>, postcode"),
        ("Security check done, DOB (2nd Feb 1990).", "Security check done, DOB (<DOB>)."),
        ("my password is Tulip!2024 and it fails", "my password is <SECRET> and it fails"),
        ("Card ok, cvv 123, take it", "Card ok, cvv <SECRET>, take it"),
        ("the code they sent was 884213", "the code they sent was <SECRET>"),
        ('wpa2 passphrase = "correct horse battery staple"', 'wpa2 passphrase = "<SECRET>"'),
        # phones with 00 and in pairs; spelled and disguised e-mail addresses
        ("call 0033 6 98 76 54 32 today", "call <PHONE> today"),
        ("le 06 12 34 56 78 merci", "le <PHONE> merci"),
        ("mail jane dot doe at gmail dot com now", "mail <EMAIL> now"),
        ("Contact: jdoe(at)example(dot)org", "Contact: <EMAIL>"),
        ("reply to j.doe [at] mail.com please", "reply to <EMAIL> please"),
        ("call oh seven seven double oh, nine double oh, two eight one", "call <PHONE>"),
        ("acct no 40-12-76 31926819 refund", "acct no <ACCOUNT> refund"),
        ("Customer no. CUS-7730148, refund", "Customer no. <ACCOUNT>, refund"),
    ],
)  # fmt: skip
def test_redacts_the_kinds_added(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Outage started 12/03 at 14:05, fault since 12/04, visit 18/06 at 10:30",
        "Box firmware 4.2.17, Windows 10.0.19045.3693, build AP1A.240305.019",
        "error 0x80070005, E-1043, DNS_PROBE_FINISHED_NXDOMAIN, NW-2-5",
        "Gateway 192.168.1.1, CGNAT 100.88.14.2, ping ::1 and [::]:443 listening",
        "I bought the TV from John Lewis; Mark the email as read; Grace period on the bill",
        "Will it work? reset my password and it still says invalid",
        "the security code on the sticker is smudged, error code 651",
        "I looked at google.com and bbc.co.uk, both fine",
        "born and raised here, dob field is empty on the form",
        "Ref 7731904, case 00123456, order 4419027, MTU 1492, VLAN 101",
    ],
)
def test_the_added_kinds_leave_technical_signal(text: str) -> None:
    assert redact(text) == text


def test_is_name_word() -> None:
    assert is_name_word("Siobhan") and is_name_word("O'Connell") and is_name_word("patel's")
    assert not is_name_word("router") and not is_name_word("grace") and not is_name_word("mark")


# ---------------------------------------------------------------------------------------------
# The second line: a name never becomes a feature
# ---------------------------------------------------------------------------------------------


def test_ngram_vocabulary_leaves_out_names() -> None:
    from expertise.modeling.estimators import NgramFeatures

    texts = [
        "Thanks, Zephyrine. The router keeps dropping",  # a name redaction did not know
        "Regards, Zephyrine. router dropping again",
        "router dropping since Siobhan moved the hub",  # a known given name, lower case too
        "siobhan says the router dropping again",
        "the Netflix app fails",  # a product, written both ways: stays
        "netflix app fails again",
        "Openreach came, Openreach left",  # capitalised, but in more texts than a name is
    ] + ["Openreach fault on the line"] * 6
    ngrams = NgramFeatures(min_df=2).fit(texts)
    words = {w for term in ngrams.vocabulary_ for w in term.split()}
    assert "zephyrine" not in words and "siobhan" not in words
    assert {"netflix", "router", "dropping", "openreach"} <= words
    assert ngrams.names_dropped_ >= 2
    assert len(ngrams.idf_) == len(ngrams.vocabulary_)
    # the same texts without the filter would keep both names
    plain = NgramFeatures(min_df=2, name_max_df=0).fit(texts)
    assert "zephyrine" in {w for term in plain.vocabulary_ for w in term.split()}
