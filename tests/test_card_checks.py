"""Every shipped card's checks run again: the `zoo evaluate` commands its Checks section names print what
the card says they printed (the quick ones, `--first N`, in every run; the whole-data ones with --full),
and the card's headline figure is the one they print."""

import pytest

from recipes.card_checks import agree, card_checks, checks_section, is_quick, run_check
from recipes.command_line import default_data_dir
from zoo.checkpoints import checkpoint_folder
from zoo.presets import PRESETS

DATA_DIR = default_data_dir()
CARDS = {name: (checkpoint_folder(name) / "README.md").read_text(encoding="utf-8") for name in sorted(PRESETS)}
CHECKS = [(name, check) for name, card in CARDS.items() for check in card_checks(card)]
# the cards packaged with a Checks section (the others predate it)
WITH_CHECKS = ["charlm-shakespeare-gru", "charlm-shakespeare-lstm", "charlm-shakespeare-rnn", "pixelrnn-mnist", "wordlm-ptb-lstm", "wordlm-ptb-small"]


def assert_prints_what_the_card_says(check, tmp_path):
    printed = run_check(check["commands"], DATA_DIR, tmp_path)
    assert len(printed) == len(check["prints"]), (printed, check["prints"])
    for got, expected in zip(printed, check["prints"]):
        assert agree(got, expected), (got, expected)


def test_the_cards_with_checks_have_a_quick_and_a_whole_data_one():
    assert sorted({name for name, _ in CHECKS}) == WITH_CHECKS
    for name in WITH_CHECKS:
        kinds = [is_quick(check) for check in card_checks(CARDS[name])]
        assert True in kinds and False in kinds, name


@pytest.mark.parametrize("name, check", [c for c in CHECKS if is_quick(c[1])], ids=lambda value: str(value)[:40])
def test_a_quick_check_prints_what_the_card_says(name, check, tmp_path):
    assert_prints_what_the_card_says(check, tmp_path)


@pytest.mark.full
@pytest.mark.parametrize("name, check", [c for c in CHECKS if not is_quick(c[1])], ids=lambda value: str(value)[:40])
def test_a_whole_data_check_prints_what_the_card_says_and_its_headline(name, check, tmp_path):
    assert_prints_what_the_card_says(check, tmp_path)
    headline = next(word for line in check["prints"] for word in line.split() if word[:1].isdigit())
    assert headline.rstrip("%") in CARDS[name].split("## Checks")[0], headline  # the figure the card reports


def test_checks_round_trip_through_the_card_text():
    checks = [{"commands": ['tail -c 10 "$ZOO_DATA_DIR/a.txt" > v.txt', "zoo evaluate m --text-file v.txt"],
               "prints": ["nats/char  1.2345", "perplexity 3.437"]},
              {"commands": ['zoo evaluate m --text-file "$ZOO_DATA_DIR/a.txt" --first 3'], "prints": ["x 1"]}]
    card = "# m\n\ntext\n\n" + checks_section(checks) + "\n## Later\n\n```bash\nnot a check\n```\n"
    assert card_checks(card) == checks and [is_quick(c) for c in checks] == [False, True]
    assert card_checks("# m\n\nno checks\n") == []


@pytest.mark.parametrize("printed, expected, same", [
    ("nats/image 83.51", "nats/image 83.51", True),
    ("nats/image 83.52", "nats/image 83.51", True),  # the last digit rounded the other way
    ("nats/image 83.53", "nats/image 83.51", False),
    ("accuracy 84.75% (739 of 872)", "accuracy 84.75% (739 of 872)", True),
    ("accuracy 84.75% (738 of 872)", "accuracy 84.75% (739 of 872)", False),
    ("bits/dim 0.1537", "nats/dim 0.1537", False),
    ("perplexity 1,234.5", "perplexity 1,234.5", True),
])
def test_agree_allows_one_unit_of_the_last_digit(printed, expected, same):
    assert agree(printed, expected) is same
