"""Failure messages fit where a user reads them: short on the condition, 1 KiB in the Event."""

from __future__ import annotations

from runner.status.messages import CONDITION_MORE, EVENT_MORE, condition_message, event_message

WORDS = " ".join(f"word{i}" for i in range(400))  # about 3 KB


def test_short_messages_are_kept_whole() -> None:
    assert condition_message("make the ConfigMap: boom\n") == "make the ConfigMap: boom"
    assert event_message("boom") == "boom"


def test_condition_message_is_cut_at_a_word_and_says_where_the_rest_is() -> None:
    short = condition_message(WORDS)
    assert len(short) <= 300
    assert short.endswith(CONDITION_MORE)
    kept = short.removesuffix(CONDITION_MORE)
    assert WORDS.startswith(kept) and WORDS[len(kept)] == " "  # ends with a whole word
    assert len(kept) > 200


def test_condition_message_without_spaces_is_cut_anyway() -> None:
    short = condition_message("x" * 1000)
    assert len(short) == 300 and short.endswith(CONDITION_MORE)


def test_event_message_stays_under_one_kib_of_utf8() -> None:
    assert event_message(WORDS[:1000]) == WORDS[:1000]
    long = event_message(WORDS)
    assert len(long.encode()) <= 1024 and long.endswith(EVENT_MORE)
    wide = event_message("é" * 2000)  # two bytes a character
    assert len(wide.encode()) <= 1024 and wide.startswith("é" * 400)
