from ocr.training.metrics import Scores, cased, standard


def test_the_three_protocols_tell_case_from_punctuation():
    s = Scores()
    s.add("You've", "Youve")      # IIIT5K-style label without the apostrophe: right, right cased, not exact
    s.add("SALUTES", "Salutes")   # a case error: right, not right cased
    s.add("Salutes", "Salutes")   # all three
    s.add("Salute", "Salutes")    # none
    d = s.as_dict()
    assert d["count"] == 4
    assert d["accuracy"] == 3 / 4 and d["case"] == 2 / 4 and d["exact"] == 1 / 4


def test_protocol_forms():
    assert standard("It's 24/7!") == "its247"
    assert cased("It's 24/7!") == "Its247"
    assert cased("") == ""
