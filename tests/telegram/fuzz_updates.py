"""A seeded generator of Bot API updates, as odd as clients and Telegram can make them.

Used by tests/telegram/test_tg_fuzz.py (a short run against the Application) and by
scripts/fuzz_bot.py (thousands against the real `smartcity-bot run` process).

Each update is a JSON dict without update_id (the stand-in server adds it). ``kind`` of every
generated update says what it is; ``client`` is False only for the few that no Telegram client can
produce (malformed updates, as a broken or changed Bot API might send): the bot must skip those
quietly, and must answer everything else without an apology.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

THAI_WORDS = ["เมืองอัจฉริยะ", "ตราสัญลักษณ์", "ดีป้า", "สมาร์ทซิตี้", "เขตส่งเสริม", "ยื่นขอ", "ยังไง", "กี่", "ครับ",
              "ค่ะ", "ปี 64", "ปีงบ 68", "ภูเก็ต", "ขอนแก่น", "บีโอไอ", "ทูต", "คอร์ส", "มั้ย", "อะ", "ไหม"]
EMOJI = ["😀", "🙏", "🏙️", "👍🏽", "🇹🇭", "❤️", "👨‍👩‍👧", "🤖", "\u200d", "\ufe0f"]
ODD = ["\u0000", "\u0007", "\u202e", "\u200b", "\ufeff", "\ud83d", "\udc00", "<b>", "</i>", "&amp;", "&#0;", "<a href='x'>",
       "`", "*", "_", "[", "](", "\\", "\r\n", "\t", "%s", "{0}", "{question}", "'; DROP TABLE questions;--"]
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Generated:
    update: dict[str, Any]
    kind: str
    client: bool = True  # False: malformed, no client can send it


class UpdateFuzzer:
    def __init__(self, seed: int, bot_username: str, users: int = 300):
        self.rng = random.Random(seed)
        self.bot_username = bot_username
        self.users = users
        self._message_ids = iter(range(1, 10**9))
        self._callbacks = iter(range(1, 10**9))

    # -- pieces -------------------------------------------------------------------------------------
    def user_id(self) -> int:
        r = self.rng.random()
        if r < 0.02:
            return self.rng.choice([MAX_ID, 2**53 + 1, 7_000_000_000_000])  # ids near the integer limits
        return 5_000_000 + self.rng.randrange(self.users)

    def user(self, user_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": self.text(max_words=3) or "x"}
        lang = self.rng.choice(["th", "en", "en-GB", "", None, "zh-hans", "xx"])
        if lang is not None:
            out["language_code"] = lang
        return out

    def text(self, max_words: int = 12) -> str:
        r = self.rng.random()
        if r < 0.03:
            return ""
        if r < 0.06:
            return " " * self.rng.randrange(1, 5) + "\n"
        if r < 0.09:  # huge
            return self.rng.choice(THAI_WORDS) * self.rng.randrange(500, 3000)
        parts = []
        for _ in range(self.rng.randrange(1, max_words + 1)):
            p = self.rng.random()
            if p < 0.55:
                parts.append(self.rng.choice(THAI_WORDS))
            elif p < 0.7:
                parts.append(self.rng.choice(EMOJI))
            elif p < 0.85:
                parts.append(self.rng.choice(ODD))
            else:
                parts.append("".join(self.rng.choice(string.printable) for _ in range(self.rng.randrange(1, 12))))
        return " ".join(parts)

    def chat(self, user_id: int) -> dict[str, Any]:
        r = self.rng.random()
        if r < 0.6:
            return {"id": user_id, "type": "private", "first_name": "u"}
        if r < 0.9:
            return {"id": -1_000_000_000_000 - self.rng.randrange(50), "type": "supergroup", "title": self.text(3)}
        if r < 0.97:
            return {"id": -self.rng.randrange(1, 10**6), "type": "group", "title": "g"}
        return {"id": -MAX_ID, "type": "supergroup", "title": "far"}

    def entities(self, text: str) -> list[dict[str, Any]]:
        if not text or self.rng.random() < 0.5:
            return []
        n = len(text.encode("utf-16-le", "surrogatepass")) // 2
        offset = self.rng.randrange(0, n + 3)  # sometimes past the end
        return [{"type": self.rng.choice(["mention", "bot_command", "bold", "url", "text_mention"]),
                 "offset": offset, "length": self.rng.randrange(0, 20)}]

    def message(self, user_id: int, chat: dict[str, Any] | None = None, **content: Any) -> dict[str, Any]:
        out = {"message_id": next(self._message_ids), "date": 1_764_000_000 + self.rng.randrange(10**6),
               "chat": chat or self.chat(user_id), "from": self.user(user_id), **content}
        if self.rng.random() < 0.05:
            del out["from"]  # anonymous admin / channel
            out["sender_chat"] = {"id": out["chat"]["id"], "type": out["chat"]["type"], "title": "c"}
        return out

    # -- updates ------------------------------------------------------------------------------------
    def text_message(self) -> Generated:
        uid = self.user_id()
        text = self.text()
        r = self.rng.random()
        if r < 0.15:
            text = f"@{self.bot_username} {text}"
        elif r < 0.3:
            text = self.rng.choice(["/start", "/help", "/sources", "/ask", "/stats", "/reload", "/nosuch", "/ask@"
                                    + self.bot_username, "/start@someotherbot", "/"]) + " " + text
        content: dict[str, Any] = {"text": text}
        ents = self.entities(text)
        if ents:
            content["entities"] = ents
        if self.rng.random() < 0.1:
            content["reply_to_message"] = self.message(self.user_id(), text=self.text(4))
        return Generated({"message": self.message(uid, **content)}, "text")

    def media(self) -> Generated:
        uid = self.user_id()
        kind = self.rng.choice(["sticker", "photo", "voice", "document", "location", "contact", "dice"])
        payload = {
            "sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                        "is_animated": False, "is_video": False},
            "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
            "voice": {"file_id": "v", "file_unique_id": "v", "duration": 1},
            "document": {"file_id": "d", "file_unique_id": "d"},
            "location": {"latitude": 13.7, "longitude": 100.5},
            "contact": {"phone_number": "0812345678", "first_name": "a"},
            "dice": {"emoji": "🎲", "value": 3},
        }[kind]
        content: dict[str, Any] = {kind: payload}
        if kind in ("photo", "document") and self.rng.random() < 0.5:
            content["caption"] = self.text()
        return Generated({"message": self.message(uid, **content)}, kind)

    def other(self) -> Generated:
        uid = self.user_id()
        kind = self.rng.choice(["edited_message", "channel_post", "my_chat_member", "empty_message"])
        if kind == "edited_message":
            return Generated({"edited_message": {**self.message(uid, text=self.text()), "edit_date": 1}}, kind)
        if kind == "channel_post":
            return Generated({"channel_post": {"message_id": next(self._message_ids), "date": 1,
                                               "chat": {"id": -100123, "type": "channel", "title": "c"},
                                               "text": self.text()}}, kind)
        if kind == "my_chat_member":
            return Generated({"my_chat_member": {"chat": self.chat(uid), "from": self.user(uid), "date": 1,
                                                 "old_chat_member": {"status": "left", "user": self.user(1)},
                                                 "new_chat_member": {"status": "member", "user": self.user(1)}}}, kind)
        return Generated({"message": self.message(uid)}, kind)  # a message with no content at all

    def callback(self) -> Generated:
        uid = self.user_id()
        r = self.rng.random()
        if r < 0.4:
            data = f"{self.rng.choice(['more', 'sect', 'up', 'down'])}:{self.rng.randrange(1, 400)}"
        elif r < 0.55:
            data = f"ex:{self.rng.choice(['th', 'en', 'xx'])}:{self.rng.randrange(-2, 12)}"
        elif r < 0.7:
            data = f"{self.rng.choice(['more', 'sect', 'up', 'down'])}:{self.rng.choice([0, -1, MAX_ID, 2**64, 10**30])}"
        else:
            data = self.rng.choice(["", ":", "more:", "more:x", "ex:th", "a" * 64, "ex:th:1:2", "💥", "up:1e3",
                                    "more: 1", "sect:0x10", "up:١٢"])  # garbage a forged client can send
        query: dict[str, Any] = {"id": f"fz{next(self._callbacks)}", "from": self.user(uid), "chat_instance": "1"}
        if self.rng.random() < 0.9:
            query["data"] = data
        if self.rng.random() < 0.85:  # the message the button was on (absent when it is too old)
            query["message"] = self.message(uid, text=self.text(4))
        elif self.rng.random() < 0.5:
            query["inline_message_id"] = "im1"
        return Generated({"callback_query": query}, "callback")

    def malformed(self) -> Generated:
        r = self.rng.random()
        if r < 0.5:  # a field of the wrong type
            update = {"message": {"message_id": "x", "date": "now", "chat": "c"}}
        else:  # a required field missing
            update = {"callback_query": {"id": "m1", "from": {"id": 1}, "data": "more:1"}}
        return Generated(update, "malformed", client=False)

    def __iter__(self) -> Iterator[Generated]:
        while True:
            r = self.rng.random()
            if r < 0.5:
                yield self.text_message()
            elif r < 0.65:
                yield self.media()
            elif r < 0.75:
                yield self.other()
            elif r < 0.99:
                yield self.callback()
            else:
                yield self.malformed()

    def take(self, n: int) -> list[Generated]:
        it = iter(self)
        return [next(it) for _ in range(n)]
