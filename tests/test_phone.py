import pytest

from ivr_app.phone import to_e164


@pytest.mark.parametrize(("raw", "region", "want"), [
    ("+74951234567", "", "+74951234567"),
    ("74951234567", "", "+74951234567"),
    ("0074951234567", "", "+74951234567"),
    ("8 (495) 123-45-67", "RU", "+74951234567"),
    ("020 7123 4567", "GB", "+442071234567"),
    ("+44 20 7123 4567", "RU", "+442071234567"),
    ("1001", "RU", None),  # an extension
    ("anonymous", "", None),
    ("+7495\n1234567", "", None),
    ("'; DROP TABLE customers; --", "", None),
    ("", "", None),
])
def test_to_e164(raw, region, want):
    assert to_e164(raw, region) == want
