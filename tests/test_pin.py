from ivr_app.pin import hash_pin, valid_pin, verify_pin


def test_hash_roundtrip_and_salt():
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a != b  # salted
    assert verify_pin("1234", a)
    assert verify_pin("1234", b)
    assert not verify_pin("1235", a)


def test_bad_input_never_verifies():
    stored = hash_pin("123456")
    assert not verify_pin("", stored)
    assert not verify_pin("12345a", stored)
    assert not verify_pin("123456", None)
    assert not verify_pin("123456", "plain$garbage")
    assert not valid_pin("123")
    assert valid_pin("0000")
