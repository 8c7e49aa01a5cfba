"""Text before tokens: preparation and the language check."""

from __future__ import annotations

from expertise.scoring.text import RUN_BLOCK_WORDS, collapse_runs, looks_english, prepare


def test_language_and_length_edge_cases() -> None:
    assert not looks_english("Bonjour, ma connexion internet ne fonctionne plus depuis hier soir")
    assert looks_english("still not working")
    assert not looks_english("Hola, mi internet no funciona desde ayer y el router tiene una luz")
    assert not looks_english("Привет, у меня не работает интернет уже два дня")
    # jargon-heavy English has few common words but is English
    assert looks_english("PPPoE session drops every 40 min since hub fw 4.2.1, LCP echo timeouts,"
                         " MTU 1492, SNR 6dB, VLAN 101 tagged")
    text, cut = prepare(" ".join(f"word{i}" for i in range(2000)))
    assert cut and len(text) <= 5000


def test_runs_of_the_same_words_are_kept_once() -> None:
    assert collapse_runs("it is very very slow".split()) == "it is very very slow".split()
    assert collapse_runs("it is very very very slow".split()) == "it is very slow".split()
    assert collapse_runs("slow slow SLOW slow slow!".split()) == ["slow"]
    assert collapse_runs("no signal no signal no signal since Monday".split()) == \
        "no signal since Monday".split()
    # whitespace separates words, so an address is one word and its dots are no separators
    assert collapse_runs("ping 1.1.1.1 and 1.1.1.1".split()) == "ping 1.1.1.1 and 1.1.1.1".split()
    # a block longer than RUN_BLOCK_WORDS is left as written
    long_block = [f"w{i}" for i in range(RUN_BLOCK_WORDS + 1)]
    assert collapse_runs(long_block * 3) == long_block * 3
    # an ordinary text is not even scanned: the same list comes back
    words = "my router light is orange and the wifi keeps dropping every evening".split()
    assert collapse_runs(words) is words
    assert prepare("DNS " * 40)[0] == "DNS"
