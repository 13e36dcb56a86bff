"""Chinese is the default language: every screen string has a Chinese translation."""
from arrears.translations.build import table, untranslated


def test_every_screen_string_is_translated():
    assert untranslated() == []


def test_translations_keep_their_placeholders():
    import re
    for english, chinese in table().items():
        assert sorted(re.findall(r"%\(\w+\)s", english)) == sorted(re.findall(r"%\(\w+\)s", chinese)), english
