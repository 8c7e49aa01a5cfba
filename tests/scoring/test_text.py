"""Text before tokens: preparation and the language check."""

from __future__ import annotations

from expertise.scoring.text import looks_english, prepare


def test_language_and_length_edge_cases() -> None:
    assert not looks_english("Bonjour, ma connexion internet ne fonctionne plus depuis hier soir")
    assert looks_english("still not working")
    assert not looks_english("Hola, mi internet no funciona desde ayer y el router tiene una luz")
    assert not looks_english("Привет, у меня не работает интернет уже два дня")
    # jargon-heavy English has few common words but is English
    assert looks_english("PPPoE session drops every 40 min since hub fw 4.2.1, LCP echo timeouts,"
                         " MTU 1492, SNR 6dB, VLAN 101 tagged")
    text, cut = prepare("word " * 5000)
    assert cut and len(text) <= 5000
