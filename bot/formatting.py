"""What the bot says: interface strings and Telegram-HTML rendering of answers, pure (no telegram).

Every piece of document or user text goes through :func:`esc`; templates in ``TEXTS`` are trusted
HTML and their ``{fields}`` are escaped by :func:`t`. No message returned here is longer than
``LIMIT`` (counted in UTF-16 units of the HTML, which is never shorter than what Telegram counts);
long text is split or trimmed at Thai sentence boundaries (``bot.text.sentences``).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Literal

from .text import language, normalize_text, sentences
from .citations import CITATION, CitedSource
from .types import Answer, Chunk, Mark, Source

if TYPE_CHECKING:
    from .records import Stats

LIMIT = 4096  # Telegram's longest message
Lang = Literal["th", "en"]

TEXTS: dict[str, dict[str, str]] = {
    "th": {
        "greeting": (
            "สวัสดี 👋 บอทนี้ตอบคำถามเรื่อง<b>นโยบายเมืองอัจฉริยะ (Smart City) ของประเทศไทย</b> "
            "เช่น ตราสัญลักษณ์เมืองอัจฉริยะ เขตส่งเสริมเมืองอัจฉริยะ แผนและเป้าหมาย และโครงการที่เกี่ยวข้อง\n\n"
            "บอทตอบจากเอกสาร {n} ฉบับในคลังความรู้เท่านั้น และบอกแหล่งที่มาทุกครั้ง "
            "ถ้าเอกสารไม่ได้กล่าวถึงเรื่องใด บอทจะบอกตรง ๆ ว่าตอบไม่ได้\n\n"
            "พิมพ์คำถามได้เลย หรือกดตัวอย่างด้านล่าง 👇"
        ),
        "help": (
            "<b>วิธีใช้</b>\n"
            "• พิมพ์คำถามเรื่องนโยบายเมืองอัจฉริยะของไทยเป็นข้อความ (ภาษาไทยหรืออังกฤษ)\n"
            "• ในกลุ่ม: แท็ก @{username} ตอบกลับข้อความของบอท หรือพิมพ์ /ask ตามด้วยคำถาม\n"
            "• ใต้คำตอบมีปุ่มดูผลอื่น ดูทั้งหัวข้อ และ 👍/👎 บอกว่าคำตอบมีประโยชน์หรือไม่\n\n"
            "<b>คำสั่ง</b>\n"
            "/start – เริ่มต้นและตัวอย่างคำถาม\n"
            "/help – วิธีใช้\n"
            "/sources – เอกสารที่บอทใช้ตอบ\n"
            "/ask – ถามคำถาม (ใช้ในกลุ่ม)\n\n"
            "บอทตอบจากเอกสารในคลังความรู้เท่านั้น ข้อมูลอาจไม่เป็นปัจจุบัน ควรตรวจสอบกับแหล่งที่มา"
        ),
        "privacy": (
            "<b>ข้อมูลที่บอทเก็บ</b>\n"
            "บอทเก็บข้อความคำถาม ผลการตอบ และ 👍/👎 เพื่อปรับปรุงคำตอบ โดยปิดบังเลขบัตรประชาชน "
            "เบอร์โทรศัพท์ และอีเมลก่อนบันทึก ผู้ใช้ถูกเก็บเป็นรหัสที่ย้อนกลับเป็นบัญชี Telegram ไม่ได้ "
            "ข้อความคำถามถูกลบเมื่อครบ {days} วัน เหลือเพียงจำนวนสำหรับสถิติ"
        ),
        "privacy_unlimited": (
            "<b>ข้อมูลที่บอทเก็บ</b>\n"
            "บอทเก็บข้อความคำถาม ผลการตอบ และ 👍/👎 เพื่อปรับปรุงคำตอบ โดยปิดบังเลขบัตรประชาชน "
            "เบอร์โทรศัพท์ และอีเมลก่อนบันทึก ผู้ใช้ถูกเก็บเป็นรหัสที่ย้อนกลับเป็นบัญชี Telegram ไม่ได้ "
            "ผู้ดูแลระบบนี้ไม่ได้กำหนดระยะเวลาลบข้อความคำถาม"
        ),
        "sources_header": "📚 <b>เอกสารที่บอทใช้ตอบ ({n} ฉบับ)</b>",
        "no_sources": "ยังไม่มีเอกสารในคลังความรู้",
        "source": "📄 <b>ที่มา:</b> ",
        "section": "หัวข้อ: {section}",
        "cited": "📎 <b>ที่มา:</b>",
        "compiled_in": "เรียบเรียงใน: ",
        "as_of": "ข้อมูล ณ {date}",
        "not_found": "ขออภัย ไม่พบคำตอบที่มั่นใจได้ในเอกสารที่มีอยู่สำหรับเรื่อง “{question}”",
        "topics": "<b>เรื่องที่บอทตอบได้</b>",
        "not_found_tail": "ลองถามให้ตรงกับเรื่องเหล่านี้ หรือดูรายละเอียดเอกสารด้วย /sources",
        "more_header": "🔎 <b>ผลอื่นที่เกี่ยวข้อง</b>",
        "no_more": "ไม่มีผลอื่นที่เกี่ยวข้องกับคำถามนี้",
        "expired": "ข้อมูลของคำตอบนี้ไม่มีแล้ว กรุณาถามใหม่อีกครั้ง",
        "non_text": ("ขออภัย บอทอ่านได้เฉพาะข้อความตัวอักษร กรุณาพิมพ์คำถามเป็นข้อความ "
                     "เช่น “เขตส่งเสริมเมืองอัจฉริยะคืออะไร”"),
        "rate_limited": ("คุณส่งคำถามถี่เกินไป (ไม่เกิน {n} คำถามต่อนาที) "
                         "กรุณารอสักครู่แล้วถามใหม่ คำถามระหว่างนี้จะยังไม่ได้รับคำตอบ"),
        "busy": "ตอนนี้มีคำถามเข้ามาพร้อมกันจำนวนมาก บอทจึงยังตอบคำถามนี้ไม่ได้ กรุณารอสักครู่แล้วส่งคำถามอีกครั้ง 🙏",
        "error": "ขออภัย เกิดข้อผิดพลาดชั่วคราว กรุณาลองใหม่อีกครั้งในอีกสักครู่",
        "unknown_command": "ไม่รู้จักคำสั่งนี้ ดูคำสั่งที่ใช้ได้ด้วย /help",
        "ask_usage": "พิมพ์คำถามต่อท้ายคำสั่ง เช่น /ask เขตส่งเสริมเมืองอัจฉริยะคืออะไร",
        "thanks": "ขอบคุณสำหรับความคิดเห็น 🙏",
        # what the engine says instead of an answer (its reason codes), and the trimmed-question notice
        "empty_question": "กรุณาพิมพ์คำถามเป็นข้อความ เช่น “ตราสัญลักษณ์เมืองอัจฉริยะมีกี่ประเภท”",
        "no_words": "ยังไม่เข้าใจข้อความนี้ กรุณาพิมพ์คำถามเป็นตัวอักษร เช่น “เขตส่งเสริมเมืองอัจฉริยะคืออะไร”",
        "declined": "ขออภัย ไม่พบคำตอบที่มั่นใจได้ในเอกสารนโยบายเมืองอัจฉริยะที่มีอยู่",
        "no_index": "ยังไม่มีเอกสารในคลังความรู้",
        "trimmed": "คำถามยาวเกินไป จึงใช้เฉพาะ {n} ตัวอักษรแรก",
        # the terminal (smartcity-bot ask / chat): plain text
        "cli_nearest": "เอกสารที่ใกล้เคียงที่สุด (ไม่ใช่คำตอบ):",
        "cli_sources": "ที่มา:",
        "cli_note": "หมายเหตุ: ",
        "cli_more": "ผลอื่นที่เกี่ยวข้อง:",
        "cli_loading": "กำลังโหลดโมเดลและดัชนี ...",
        "cli_welcome": "ถามเรื่องนโยบายเมืองอัจฉริยะได้เลย (พิมพ์ /quit หรือกด Ctrl-D เพื่อออก)",
        "cli_prompt": "คุณ> ",
        "btn_more": "🔎 ผลอื่น ๆ",
        "btn_section": "📖 ดูทั้งหัวข้อ",
        "stats_header": "📊 <b>สถิติการใช้งาน</b>",
        "stats_body": ("วันนี้: {today} คำถาม (ตอบได้ {today_answered})\n"
                       "ทั้งหมด: {total} คำถาม (ตอบได้ {rate})\n"
                       "ความเห็น: 👍 {up} · 👎 {down}"),
        "stats_unanswered": "<b>คำถามที่ตอบไม่ได้บ่อยที่สุด</b>",
        "stats_none": "ยังไม่มีคำถามที่ตอบไม่ได้",
        "times": "{n} ครั้ง",
        "reload_start": "⏳ กำลังสร้างดัชนีใหม่ ระหว่างนี้บอทยังตอบจากดัชนีเดิม",
        "reload_done": ("✅ โหลดเอกสารและดัชนีใหม่แล้ว: {documents} เอกสาร {chunks} ช่วงข้อความ "
                        "(ฝังเวกเตอร์ใหม่ {embedded} ใช้ของเดิม {reused}) ใช้เวลา {seconds} วินาที{problems}"),
        "reload_problems": " · ข้ามไฟล์ที่อ่านไม่ได้ {skipped} ไฟล์ เอกสารที่ถูกลบ {removed} ฉบับ",
        "reload_failed": "❌ สร้างดัชนีใหม่ไม่สำเร็จ ({error}) บอทยังใช้ดัชนีเดิม",
        "reload_busy": "กำลังสร้างดัชนีใหม่อยู่แล้ว กรุณารอให้เสร็จก่อน",
        "cmd_start": "เริ่มต้นและตัวอย่างคำถาม",
        "cmd_help": "วิธีใช้",
        "cmd_sources": "เอกสารที่บอทใช้ตอบ",
        "cmd_ask": "ถามคำถาม (ใช้ในกลุ่ม)",
        "cmd_stats": "สถิติการใช้งาน (ผู้ดูแล)",
        "cmd_reload": "โหลดเอกสารและดัชนีใหม่ (ผู้ดูแล)",
    },
    "en": {
        "greeting": (
            "Hello 👋 This bot answers questions about <b>Thailand's smart-city policy</b>, "
            "such as the Smart City Thailand certification, smart city promotion zones, plans and targets, "
            "and related programmes.\n\n"
            "It answers only from the {n} documents in its knowledge base and always shows the source. "
            "If the documents do not cover something, it says so.\n\n"
            "Type a question, or tap an example below 👇"
        ),
        "help": (
            "<b>How to use</b>\n"
            "• Type a question about Thailand's smart-city policy (Thai or English).\n"
            "• In groups: mention @{username}, reply to one of the bot's messages, or use /ask followed by "
            "the question.\n"
            "• Under each answer: more results, the full section, and 👍/👎 to say whether it helped.\n\n"
            "<b>Commands</b>\n"
            "/start – start and example questions\n"
            "/help – how to use\n"
            "/sources – the documents the bot answers from\n"
            "/ask – ask a question (for groups)\n\n"
            "Answers come only from the documents in the knowledge base and may be out of date; "
            "check the source."
        ),
        "privacy": (
            "<b>What the bot stores</b>\n"
            "The bot keeps the text of questions, how they were answered and 👍/👎, to improve its answers. "
            "National ID numbers, phone numbers and e-mail addresses are masked before anything is stored. "
            "Users are kept as a code that cannot be turned back into a Telegram account. "
            "Question texts are erased after {days} days; only counts remain for statistics."
        ),
        "privacy_unlimited": (
            "<b>What the bot stores</b>\n"
            "The bot keeps the text of questions, how they were answered and 👍/👎, to improve its answers. "
            "National ID numbers, phone numbers and e-mail addresses are masked before anything is stored. "
            "Users are kept as a code that cannot be turned back into a Telegram account. "
            "This deployment has set no period after which question texts are erased."
        ),
        "sources_header": "📚 <b>Documents the bot answers from ({n})</b>",
        "no_sources": "The knowledge base has no documents yet.",
        "source": "📄 <b>Source:</b> ",
        "section": "Section: {section}",
        "cited": "📎 <b>Sources:</b>",
        "compiled_in": "Compiled in: ",
        "as_of": "as of {date}",
        "not_found": "Sorry, I found nothing in the documents I have that answers “{question}” with confidence.",
        "topics": "<b>What I can answer about</b>",
        "not_found_tail": "Try a question on one of these topics, or see the documents with /sources.",
        "more_header": "🔎 <b>Other related results</b>",
        "no_more": "There are no other results for this question.",
        "expired": "This answer is no longer available; please ask again.",
        "non_text": ("Sorry, I can only read text. Please type your question, "
                     "e.g. “What is a smart city promotion zone?”"),
        "rate_limited": ("You are sending questions too fast (at most {n} a minute). "
                         "Please wait a moment; questions sent meanwhile are not answered."),
        "busy": "Many questions are arriving at once, so the bot cannot take this one now. Please wait a moment and send it again 🙏",
        "error": "Sorry, something went wrong on my side. Please try again in a moment.",
        "unknown_command": "Unknown command. See /help for the commands.",
        "ask_usage": "Put the question after the command, e.g. /ask What is a smart city promotion zone?",
        "thanks": "Thank you for the feedback 🙏",
        "empty_question": "Please type a question as text, e.g. “What is a smart city promotion zone?”",
        "no_words": "I could not read a question in that message. Please type it as text.",
        "declined": "Sorry, I found nothing in the smart-city policy documents I have that answers this with confidence.",
        "no_index": "The knowledge base has no documents yet.",
        "trimmed": "The question was too long; only its first {n} characters were used.",
        "cli_nearest": "Closest documents (not an answer):",
        "cli_sources": "Sources:",
        "cli_note": "Note: ",
        "cli_more": "Other related results:",
        "cli_loading": "Loading the model and the index ...",
        "cli_welcome": "Ask about Thailand's smart-city policy (type /quit or press Ctrl-D to leave)",
        "cli_prompt": "you> ",
        "btn_more": "🔎 More results",
        "btn_section": "📖 Full section",
        "stats_header": "📊 <b>Usage statistics</b>",
        "stats_body": ("Today: {today} questions ({today_answered} answered)\n"
                       "All time: {total} questions ({rate} answered)\n"
                       "Feedback: 👍 {up} · 👎 {down}"),
        "stats_unanswered": "<b>Most frequent unanswered questions</b>",
        "stats_none": "No unanswered questions yet.",
        "times": "{n}×",
        "reload_start": "⏳ Rebuilding the index; answers keep coming from the current one meanwhile.",
        "reload_done": ("✅ Documents and index reloaded: {documents} documents, {chunks} passages "
                        "({embedded} embedded, {reused} reused) in {seconds} s{problems}"),
        "reload_problems": " · {skipped} unreadable files skipped, {removed} documents removed",
        "reload_failed": "❌ Rebuilding the index failed ({error}); the current index stays in use.",
        "reload_busy": "A reload is already running; please wait for it to finish.",
        "cmd_start": "Start and example questions",
        "cmd_help": "How to use",
        "cmd_sources": "The documents the bot answers from",
        "cmd_ask": "Ask a question (for groups)",
        "cmd_stats": "Usage statistics (admins)",
        "cmd_reload": "Reload documents and index (admins)",
    },
}

EXAMPLES: dict[str, tuple[str, ...]] = {
    "th": (
        "ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท",
        "เขตส่งเสริมเมืองอัจฉริยะคืออะไร",
        "เมืองอัจฉริยะมีกี่ด้าน",
        "โครงการ Smart City Ambassadors ใครเป็นคนดูแล",
    ),
    "en": (
        "What is a smart city promotion zone?",
        "Who runs the Smart City Ambassadors programme?",
        "What is Thailand Smart City Week?",
        "How do I apply for the Smart City Thailand logo?",
    ),
}

_TH_MONTHS = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ELLIPSIS = "…"
_BOLD = ("<b>", "</b>")


# -- basics ---------------------------------------------------------------------------------------
def esc(text: str) -> str:
    """Text made safe for Telegram's HTML parse mode (also inside attribute values)."""
    return html.escape(text, quote=True)


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def t(lang: str, key: str, **fields: object) -> str:
    """An interface string in the language (Thai when unknown), its fields escaped."""
    template = TEXTS.get(lang, TEXTS["th"])[key]
    return template.format(**{k: esc(str(v)) for k, v in fields.items()}) if fields else template


def plain(lang: str, key: str, **fields: object) -> str:
    """An interface string as plain text (the terminal, JSON): no HTML, fields as they are."""
    template = TEXTS.get(lang, TEXTS["th"])[key]
    return html.unescape(re.sub(r"<[^>]+>", "", template.format(**fields) if fields else template))


# the catalog key of what the engine says instead of an answer, by its reason code
_REASON_KEYS = {"empty": "empty_question", "no_words": "no_words", "not_found": "declined", "no_index": "no_index"}


def message_text(answer: Answer, lang: str) -> str:
    """What an answer says as plain text: its answering sentences, or why there is no answer."""
    if answer.answered:
        return answer.answer
    return plain(lang, _REASON_KEYS.get(answer.reason, "declined"))


def notice_text(answer: Answer, lang: str) -> str:
    """The notice that goes with an answer (a question that was cut to fit), or ""."""
    return plain(lang, "trimmed", n=answer.trimmed_to) if answer.trimmed_to else ""


def ui_language(language_code: str | None, question: str = "") -> Lang:
    """English when the user's Telegram language is English or the question is; Thai otherwise."""
    if (language_code or "").lower().startswith("en"):
        return "en"
    return "en" if question.strip() and language(question) == "en" else "th"


def shorten(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, cut at a space when there is one."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", limit // 2, limit)
    return line[: cut if cut > 0 else limit - 1].rstrip() + _ELLIPSIS


def display_date(iso: str, lang: str) -> str:
    """'2025-08-27' as '27 ส.ค. 2568' (Thai, Buddhist era) or '27 Aug 2025'; other text unchanged."""
    try:
        d = date.fromisoformat(iso.strip())
    except ValueError:
        return iso.strip()
    if lang == "en":
        return f"{d.day} {_EN_MONTHS[d.month - 1]} {d.year}"
    return f"{d.day} {_TH_MONTHS[d.month - 1]} {d.year + 543}"


def link(url: str, label: str) -> str:
    """An <a> element for http(s) links; the bare (escaped) label for anything else."""
    if url.startswith(("https://", "http://")):
        return f'<a href="{esc(url)}">{esc(label)}</a>'
    return esc(label)


# -- splitting ------------------------------------------------------------------------------------
def _escaped_len(text: str) -> int:
    return tg_len(esc(text))


def _cut(text: str, a: int, b: int, limit: int) -> list[tuple[int, int]]:
    """text[a:b] in spans whose escaped length fits ``limit``, cut at white space when possible."""
    out: list[tuple[int, int]] = []
    while _escaped_len(text[a:b]) > limit:
        lo, hi = a + 1, b  # the longest prefix that fits: escaping only grows, so bisect
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _escaped_len(text[a:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        space = max(text.rfind(" ", a, lo), text.rfind("\n", a, lo))
        end = space + 1 if space > a + (lo - a) // 2 else lo
        out.append((a, end))
        a = end
    if a < b:
        out.append((a, b))
    return out


def units(text: str, limit: int) -> list[tuple[int, int]]:
    """Consecutive spans covering ``text``: whole sentences, cut further only when one is too long."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for sent in sentences(text) or ([text] if text else []):
        spans.extend(_cut(text, pos, pos + len(sent), limit))
        pos += len(sent)
    if pos < len(text):  # sentences() stopped early: keep the rest
        spans.extend(_cut(text, pos, len(text), limit))
    return spans


def split_plain(text: str, limit: int = LIMIT) -> list[str]:
    """Plain text as escaped HTML pieces of at most ``limit``, split between sentences."""
    pieces: list[str] = []
    current, size = "", 0
    for a, b in units(text, limit):
        piece = esc(text[a:b])
        n = tg_len(piece)
        if current and size + n > limit:
            pieces.append(current)
            current, size = "", 0
        current += piece
        size += n
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def pack(fragments: Iterable[str], limit: int = LIMIT, sep: str = "\n\n") -> list[str]:
    """HTML fragments (each complete and within ``limit``) joined into as few messages as fit."""
    messages: list[str] = []
    current = ""
    for frag in fragments:
        if not frag:
            continue
        if tg_len(frag) > limit:
            raise ValueError(f"fragment of {tg_len(frag)} characters is over the {limit} limit")
        joined = f"{current}{sep}{frag}" if current else frag
        if tg_len(joined) <= limit:
            current = joined
        else:
            messages.append(current)
            current = frag
    if current:
        messages.append(current)
    return messages


_BULLET = re.compile(r"^( *)[-*+] ", re.M)  # sub-items come from the index as "◦ "
# tags of inline markup, outermost first: a link may hold bold and italic; code holds nothing, and
# Telegram lets no link, bold or italic hold code, so code inside them is shown as their text
_ORDER = ("a", "b", "i", "code")


@lru_cache(maxsize=256)
def bullets(text: str) -> str:
    """Markdown list markers at the start of a line as bullets ("- " -> "• ", nested "◦ "), the
    length unchanged so that offsets into the text stay valid."""
    return _BULLET.sub(lambda m: m.group(1) + ("◦ " if m.group(1) else "• "), text)


def plain_text(text: str, marks: Sequence[Mark] = ()) -> str:
    """The text for a plain-text channel (the terminal): list markers as bullets, each link's
    address after its words."""
    shown = bullets(text)
    for a, b, kind, href in sorted(marks, reverse=True):
        if kind == "a" and href.startswith(("https://", "http://")):
            shown = shown[:b] + f" ({href})" + shown[b:]
    return shown


def render_bold(text: str, spans: Sequence[tuple[int, int]], start: int = 0, end: int | None = None,
                marks: Sequence[Mark] = ()) -> str:
    """text[start:end] escaped, list markers as bullets, the parts inside ``spans`` (offsets in
    ``text``) in bold, and the document's inline markup (``marks``: bold, italic, code, links) kept."""
    end = len(text) if end is None else end
    shown = bullets(text)
    cuts = {start, end}
    for a, b in spans:
        cuts.update(x for x in (a, b) if start < x < end)
    for a, b, _, _ in marks:
        cuts.update(x for x in (a, b) if start < x < end)
    edges = sorted(cuts)
    out: list[str] = []
    stack: list[tuple[str, str]] = []  # the tags open, outermost first (kind, href)
    for a, b in zip(edges, edges[1:]):
        active: dict[str, str] = {}
        if any(s <= a and b <= e for s, e in spans):
            active["b"] = ""
        for s, e, kind, href in marks:
            if s <= a and b <= e and not (kind == "a" and not href.startswith(("https://", "http://"))):
                active.setdefault(kind, href)
        if "code" in active and ("b" in active or "i" in active or "a" in active):
            del active["code"]
        tags = [(k, active[k]) for k in _ORDER if k in active]
        same = 0  # the tags already open that this segment keeps: close the rest, open the new ones
        while same < min(len(stack), len(tags)) and stack[same] == tags[same]:
            same += 1
        out += [f"</{k}>" for k, _ in reversed(stack[same:])]
        out += [f'<a href="{esc(h)}">' if k == "a" else f"<{k}>" for k, h in tags[same:]]
        out.append(esc(shown[a:b]))
        stack = tags
    out += [f"</{k}>" for k, _ in reversed(stack)]
    return "".join(out)


def fit_passage(text: str, spans: Sequence[tuple[int, int]], budget: int, mark: bool = True,
                marks: Sequence[Mark] = ()) -> str:
    """The passage trimmed around its answering spans to ``budget`` at sentences; the spans in bold
    unless ``mark`` is off (when they stand in bold above it already); the document's inline markup
    (``marks``) kept."""
    shown = spans if mark else ()
    full = render_bold(text, shown, marks=marks).strip()
    if tg_len(full) <= budget:
        return full
    extra = 2 * len(_ELLIPSIS) + sum(len(tag) for tag in _BOLD) * max(1, len(spans))
    parts = units(text, max(1, budget - extra))
    hit = [i for i, (a, b) in enumerate(parts) if any(a < e and s < b for s, e in spans)] or [0]

    def render(i: int, j: int) -> str:
        body = render_bold(text, shown, parts[i][0], parts[j][1], marks).strip()
        return (_ELLIPSIS if i > 0 else "") + body + (_ELLIPSIS if j < len(parts) - 1 else "")

    i = j = hit[0]
    while True:  # grow through the highlighted sentences first, then the context after and before
        options = [(i, j + 1)] if j < hit[-1] else [(i, j + 1), (i - 1, j)]
        grown = next(((a, b) for a, b in options if 0 <= a and b < len(parts) and tg_len(render(a, b)) <= budget),
                     None)
        if grown is None:
            return render(i, j)
        i, j = grown


# -- building blocks ------------------------------------------------------------------------------
def source_block(source: Source, section: str, lang: str, with_link: bool = True) -> str:
    """'📄 Source: <title link>', the section, and issuer · date."""
    title = link(source.url, source.title) if with_link else esc(source.title)
    lines = [t(lang, "source") + title]
    if section and section != source.title:
        lines.append(t(lang, "section", section=section))
    details = [esc(x) for x in (source.issuer,) if x] + ([esc(display_date(source.date, lang))] if source.date else [])
    if details:
        lines.append(" · ".join(details))
    return "\n".join(lines)


def _notice(notice: str) -> str:
    return f"ℹ️ <i>{esc(notice)}</i>" if notice else ""


def _first_sentence(text: str, limit: int = 220, at_least: int = 60) -> str:
    """The opening sentence, with the next ones while it is a mere fragment (an abbreviation's "ค.")."""
    opening = ""
    for sent in sentences(text):
        opening += sent
        if len(opening.strip()) >= at_least:
            break
    return shorten(opening or text, limit)


def section_text(chunks: Sequence[Chunk]) -> str:
    """The text of a section from its chunks (same document and section), overlaps removed."""
    out, end = "", None
    for c in sorted(chunks, key=lambda c: c.start):
        if end is None:
            out = c.text
        elif c.start >= end:
            out += "\n" + c.text
        elif c.end > end:
            out += c.text[end - c.start:]
        end = c.end if end is None else max(end, c.end)
    return out


# -- messages -------------------------------------------------------------------------------------
def _cited_line(c: CitedSource, lang: str) -> str:
    """'• publisher, date — title' with the link on the publisher and date."""
    label = ", ".join(x for x in (c.publisher, display_date(c.date, lang)) if x) or c.title
    title = f" — {esc(shorten(c.title, 160))}" if c.title and c.title != label else ""
    return "• " + link(c.url, shorten(label, 120)) + title


def sources_footer(answer: Answer, lang: str) -> str:
    """The sources of the answering sentences, one link each, then where the bot compiled them:
    document › section, its as-of date and caveat. With no inline citation, the document's link."""
    top = answer.hits[0].chunk
    src = top.source
    if not answer.citations:
        foot = source_block(src, top.section, lang)
        if tg_len(foot) > LIMIT // 2:  # an absurdly long link or title: keep the passage readable
            foot = source_block(src, top.section, lang, with_link=False)
        return foot if tg_len(foot) <= LIMIT // 2 else esc(shorten(src.title, LIMIT // 4))
    where = " › ".join(esc(shorten(x, 200)) for x in (src.title, top.section) if x)
    when = f" ({t(lang, 'as_of', date=display_date(src.as_of, lang))})" if src.as_of else ""
    lines = [t(lang, "cited"), *(_cited_line(c, lang) for c in answer.citations[:6]),
             t(lang, "compiled_in") + where + when]
    if src.caveat:
        lines.append(f"<i>⚠️ {esc(shorten(src.caveat, 400))}</i>")
    foot = "\n".join(lines)
    return foot if tg_len(foot) <= LIMIT // 2 else "\n".join(lines[:3] + lines[-2:-1])


def lead_text(answer: Answer) -> str:
    """The answering sentences alone, a list's items on lines of their own, without their inline
    "(ที่มา: …)" (the footer links them)."""
    text = answer.hits[0].chunk.text
    out = ""
    for a, b in sorted(answer.highlights):
        piece = " ".join(CITATION.sub("", text[a:b]).split())
        if not piece:
            continue
        new_line = out and text[text.rfind("\n", 0, a) + 1:a].strip() == ""
        piece = re.sub(r"^[-*]\s+", "• ", piece) if new_line else piece
        out += ("\n" if new_line else " " if out else "") + piece
    return out


def _clip(text: str, limit: int) -> str:
    """Escaped text of at most ``limit`` characters, its lines kept, cut at a space when needed."""
    if len(text) <= limit:
        return esc(text)
    cut = text.rfind(" ", limit // 2, limit)
    return esc(text[: cut if cut > 0 else limit - 1].rstrip()) + _ELLIPSIS


def answer_message(answer: Answer, lang: str) -> str:
    """An answer: the notice, the answering sentences in bold, the passage around them in an
    expandable quote, then the sources of those sentences."""
    top = answer.hits[0].chunk
    head = _notice(notice_text(answer, lang))
    foot = sources_footer(answer, lang)
    room = LIMIT - tg_len(head) - tg_len(foot) - 8
    text = lead_text(answer)
    # a list answer is its items: it may take two thirds of the message, the context quote the rest
    share = 2 / 3 if "\n" in text else 1 / 3
    lead = f"<b>{_clip(text, max(60, int(room * share)))}</b>" if answer.highlights else ""
    quote_open, quote_close = "<blockquote expandable>", "</blockquote>"
    budget = room - tg_len(lead) - tg_len(quote_open + quote_close) - 4
    body = fit_passage(top.text, answer.highlights, budget, mark=not lead, marks=top.marks)
    quote = f"{quote_open}{body}{quote_close}" if lead else body
    return "\n\n".join(p for p in (head, lead, quote, foot) if p)


def reply_message(answer: Answer, lang: str) -> str:
    """What the engine says instead of an answer (an empty or unreadable question), with the notice."""
    return "\n\n".join(p for p in (_notice(notice_text(answer, lang)), esc(message_text(answer, lang))) if p)


def not_found_messages(question: str, titles: Sequence[str], lang: str, notice: str = "") -> list[str]:
    """No passage answers the question with confidence (the documents may not cover it, or the
    question may be put in words too far from theirs): say so and list what they do cover."""
    topics = pack([t(lang, "topics"), *(f"• {esc(shorten(x, 300))}" for x in titles)], sep="\n") if titles else []
    return pack([_notice(notice), t(lang, "not_found", question=shorten(normalize_text(question), 150)), *topics,
                 t(lang, "not_found_tail")])


def more_results_messages(chunks: Sequence[Chunk], lang: str,
                          citations: Sequence[Sequence[CitedSource]] = ()) -> list[str]:
    """The passages of hits 2..5 briefly: title › section, the first sentence, and its sources
    (the passage's first two inline citations, or the document's link)."""
    if not chunks:
        return [t(lang, "no_more")]
    items = []
    for n, c in enumerate(chunks, start=2):
        where = " › ".join(esc(shorten(x, 200)) for x in (c.source.title, c.section) if x)
        cited = list(citations[n - 2])[:2] if n - 2 < len(citations) else []
        links = [link(x.url, shorten(", ".join(y for y in (x.publisher, display_date(x.date, lang)) if y), 100))
                 for x in cited] or [link(c.source.url, shorten(c.source.title, 100))]
        items.append(f"{n}. <b>{where}</b>\n{esc(_first_sentence(c.text))}\n{t(lang, 'source')}{' · '.join(links)}")
    return pack([t(lang, "more_header"), *items])


def section_messages(chunks: Sequence[Chunk], lang: str, citations: Sequence[CitedSource] = ()) -> list[str]:
    """A whole section, split into messages as needed, with the sources it cites (or the
    document's link) at the end."""
    first = min(chunks, key=lambda c: c.start)
    head = "📖 <b>" + " › ".join(esc(shorten(x, 300)) for x in (first.source.title, first.section) if x) + "</b>"
    foot = source_block(first.source, "", lang)
    if citations:
        cited = "\n".join([t(lang, "cited"), *(_cited_line(c, lang) for c in citations[:8])])
        foot = cited + "\n" + t(lang, "compiled_in") + link(first.source.url, shorten(first.source.title, 300))
    if tg_len(foot) > LIMIT // 2:
        foot = source_block(first.source, "", lang, with_link=False)
    room = LIMIT - max(tg_len(head), tg_len(foot)) - 2
    return pack([head, *split_plain(bullets(section_text(chunks)), room), foot])


def sources_messages(documents: Sequence[dict[str, str]], lang: str) -> list[str]:
    """/sources: every document with its issuer, date and link."""
    if not documents:
        return [t(lang, "no_sources")]
    items = []
    for d in documents:
        details = " · ".join(esc(x) for x in (d.get("issuer", ""), display_date(d.get("date", ""), lang)) if x)
        items.append(f"• {link(d.get('url', ''), shorten(d.get('title') or d.get('document', ''), 300))}"
                     + (f"\n   {details}" if details else ""))
    return pack([t(lang, "sources_header", n=len(documents)), *items])


def stats_messages(stats: "Stats", lang: str) -> list[str]:
    """/stats for admins."""
    rate = f"{stats.answered / stats.total:.0%}" if stats.total else "–"
    body = t(lang, "stats_body", today=stats.today, today_answered=stats.today_answered, total=stats.total,
             rate=rate, up=stats.thumbs_up, down=stats.thumbs_down)
    if stats.top_unanswered:
        lines = [f"{n}. {esc(shorten(q, 120))} ({t(lang, 'times', n=count)})"
                 for n, (q, count) in enumerate(stats.top_unanswered, start=1)]
        unanswered = t(lang, "stats_unanswered") + "\n" + "\n".join(lines)
    else:
        unanswered = t(lang, "stats_none")
    return pack([t(lang, "stats_header") + "\n" + body, unanswered])
