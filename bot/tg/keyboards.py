"""Inline keyboards and their callback data (at most 64 bytes, as Telegram allows)."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from ..formatting import EXAMPLES, t

MAX_CALLBACK_BYTES = 64
ANSWER_ACTIONS = ("more", "sect", "up", "down")  # act on a recorded answer (its row id)
EXAMPLE = "ex"  # ask one of the example questions


@dataclass(frozen=True)
class ButtonData:
    action: str
    number: int  # the answer's row id, or the example's position
    lang: str = "th"  # examples only: which list

    def encode(self) -> str:
        data = f"{EXAMPLE}:{self.lang}:{self.number}" if self.action == EXAMPLE else f"{self.action}:{self.number}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
        return data

    @property
    def example(self) -> str:
        return EXAMPLES[self.lang][self.number]


def parse_button(data: object) -> ButtonData | None:
    """The button behind callback data, or None for anything this bot did not make."""
    if not isinstance(data, str):
        return None
    parts = data.split(":")
    try:
        if parts[0] in ANSWER_ACTIONS and len(parts) == 2:
            button = ButtonData(parts[0], int(parts[1]))
            return button if 0 < button.number < 2 ** 63 else None  # a row id SQLite can hold
        if parts[0] == EXAMPLE and len(parts) == 3 and parts[1] in EXAMPLES:
            button = ButtonData(EXAMPLE, int(parts[2]), parts[1])
            return button if 0 <= button.number < len(EXAMPLES[button.lang]) else None
    except ValueError:
        return None
    return None


def _button(label: str, data: ButtonData) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data.encode())


def answer_keyboard(answer_id: int, lang: str, more: bool = True) -> InlineKeyboardMarkup:
    """Under an answer: more results (when there are), the full section, 👍 and 👎."""
    first = ([_button(t(lang, "btn_more"), ButtonData("more", answer_id))] if more else []) + [
        _button(t(lang, "btn_section"), ButtonData("sect", answer_id))]
    votes = [_button("👍", ButtonData("up", answer_id)), _button("👎", ButtonData("down", answer_id))]
    return InlineKeyboardMarkup([first, votes])


def examples_keyboard(lang: str) -> InlineKeyboardMarkup:
    """One button per example question; pressing it asks the question."""
    return InlineKeyboardMarkup([[_button(q, ButtonData(EXAMPLE, i, lang))] for i, q in enumerate(EXAMPLES[lang])])
