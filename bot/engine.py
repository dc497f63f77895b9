"""The answer engine: one object that the CLI, the terminal chat, the bot and the evaluation share."""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .anchors import anchors_of
from .config import Settings
from .embedder import Embedder, make_embedder, release
from .query import QueryRewriter, Speller
from .decision import Decision, Evidence, fitted_decision
from .retrieval import Query, Scored
from .index import BuildReport, IndexError_, IndexStore, LoadedIndex
from .passages import Passage, PassageStore, indexed_text
from .text import (LIST_ITEM, asked_about, char_grams, drop_stopwords, has_words, language, normalize_text, thai_year,
                   words, year_variants)
from .types import Answer, Hit

log = logging.getLogger(__name__)

# Sentences that introduce a list ("... ดังนี้", "ได้แก่") answer together with what follows.
_INTRO = re.compile(r"(ดังนี้|ได้แก่|ประกอบด้วย|:)\s*$")
# how many of the best passages a question's anchors (years, provinces) choose among
ANCHOR_POOL = 5
# how many following chunks of its section a list answer may run into
LIST_CHUNKS = 4
# What kind of answer a question asks for, and what a sentence holding one contains: among the
# sentences that share the question's words, the one that has it is preferred.
_THAI_MONTHS = ("ม.ค. ก.พ. มี.ค. เม.ย. พ.ค. มิ.ย. ก.ค. ส.ค. ก.ย. ต.ค. พ.ย. ธ.ค. มกราคม กุมภาพันธ์ มีนาคม เมษายน "
                "พฤษภาคม มิถุนายน กรกฎาคม สิงหาคม กันยายน ตุลาคม พฤศจิกายน ธันวาคม").split()
ANSWER_KINDS = (
    ("date", re.compile(r"ปีไหน|ปีอะไร|ปีใด|เมื่อไร|เมื่อไหร่|เมื่อใด|วันไหน|วันที่เท่า|วันอะไร|\bwhen\b|what year|"
                        r"which year|what date", re.I),
     re.compile(r"(?:19|20|25)\d\d|" + "|".join(re.escape(m) for m in _THAI_MONTHS))),
    ("number", re.compile(r"กี่|เท่าไร|เท่าไหร่|เท่าใด|how many|how much|how long", re.I),
     re.compile(r"\d|หนึ่ง|สอง|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า|สิบ|ร้อย|พัน|หมื่น|แสน|ล้าน")),
    ("person", re.compile(r"ใคร|ผู้ใด|\bwho\b|\bwhom\b", re.I),
     re.compile(r"นาย|นาง|พล\.|พลเอก|พลอากาศ|ดร\.|รัฐมนตรี|ผู้อำนวยการ|ประธาน")),
)
# measured on the answered dev questions whose first passage is right (the bold lead holding the
# answer, 163 -> 169 of 217): the question's character 3-grams in a sentence, and its answer kind
GRAMS_WEIGHT, KIND_WEIGHT = 0.3, 0.4
# a lead sentence shorter than this is followed by the next one on its line (182 of 217, lead median
# 264 characters against 216): the sentence splitter cuts Thai at spaces, often mid-statement
SHORT_LEAD = 200


def answer_kind(question: str) -> re.Pattern[str] | None:
    """What a sentence answering the question contains (a date, a number, a person's title), if the
    question asks for one."""
    for _, asks, holds in ANSWER_KINDS:
        if asks.search(question):
            return holds
    return None


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder, index: LoadedIndex, decision: Decision | None = None):
        self.settings = settings
        self.embedder = embedder
        self.index = index
        decision = decision or fitted_decision()
        self.decision = decision if settings.answer_threshold is None else decision.with_threshold(
            settings.answer_threshold)
        self.weights = settings.weights()
        self.english_weights = settings.weights(english=True)
        self._lock = threading.Lock()
        self.rewriter = self._rewriter(index)

    @staticmethod
    def _rewriter(index: LoadedIndex) -> QueryRewriter:
        return QueryRewriter(index.glossary, Speller(index.retriever.df))

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None, build: bool = True,
             progress: bool = False, decision: Decision | None = None) -> "Engine":
        """Load the model and the index; an index that doesn't match is rebuilt (or refused)."""
        if embedder is None:
            # the model loads in C++ (onnxruntime, SentencePiece) while PyThaiNLP builds its word
            # dictionary in Python: 0.6 s less of the ~2.5 s to a first answer, measured
            with ThreadPoolExecutor(1, thread_name_prefix="load-model") as pool:
                loading = pool.submit(make_embedder, settings)
                words("ตราสัญลักษณ์เมืองอัจฉริยะ")
                embedder = loading.result()
        store = IndexStore(settings)
        loaded, unloadable = None, False
        for attempt in range(3):  # a document edited while indexing means another (incremental) pass
            reason = store.check(embedder.dimension)
            if not reason:
                try:
                    loaded = store.load(embedder.dimension, checked=True)
                    break
                except IndexError_ as exc:  # files that pass their checksums but don't load
                    reason, unloadable = str(exc), True
            if not build:
                raise IndexError_(reason)
            log.warning("index needs building (%s); building it now", reason)
            try:
                store.build(embedder, progress=progress, force=unloadable)  # nothing reused from what didn't load
            finally:
                release(embedder)
        if loaded is None:
            loaded = store.load(embedder.dimension)
        engine = cls(settings, embedder, loaded, decision)
        engine.ask("ตราสัญลักษณ์เมืองอัจฉริยะ")  # warm the tokenizer and the model
        return engine

    def reload(self, progress: bool = False) -> BuildReport:
        """Re-index the knowledge folder; the current index keeps serving until the new one is ready."""
        store = IndexStore(self.settings)
        try:
            report = store.build(self.embedder, progress=progress)
        finally:
            release(self.embedder)
        fresh = store.load(self.embedder.dimension)
        rewriter = self._rewriter(fresh)
        with self._lock:
            self.index, self.rewriter = fresh, rewriter
        return report

    @property
    def passages(self) -> PassageStore:
        return self.index.passages

    # -- answering --------------------------------------------------------------------------------
    def ask(self, question: object) -> Answer:
        text = question if isinstance(question, str) else ""
        q = normalize_text(text)
        if not q:
            return Answer(text, False, "", (), reason="empty")
        if not has_words(q):
            return Answer(text, False, "", (), reason="no_words", read_as=q)
        read_as, trimmed = q, 0
        limit = self.settings.max_question_chars
        if len(q) > limit:
            cut = q.rfind(" ", 0, limit)
            q = q[: cut if cut > limit // 2 else limit]
            trimmed = limit
        with self._lock:  # one consistent snapshot, even during a reload
            index, rewriter = self.index, self.rewriter
        if not index.passages:
            return Answer(text, False, "", (), reason="no_index", trimmed_to=trimmed, read_as=read_as)
        rewritten = rewriter.rewrite(q)
        query, about = rewritten.text, rewritten.about
        years = year_variants(query)  # "2023" also finds "2566" (Thai documents count in B.E.)
        query_words = words(query)
        tokens = query_words + list(years.values())
        k = max(self.settings.top_k, 3)
        if rewritten.second:  # an English question is also searched with the Thai terms found
            vec, vec2 = self.embedder.queries([query, rewritten.second])
            also = Query.of(vec2, words(rewritten.second) + list(years.values()), rewritten.second)
        else:
            vec, also = self.embedder.queries([query])[0], None
        english = language(read_as) == "en"
        weights = self.english_weights if english else self.weights
        scored = index.retriever.search(Query.of(vec, tokens, query), max(k, ANCHOR_POOL), weights, also=also)
        # a question that names a year or a province is answered by a passage that names it too:
        # of the best ANCHOR_POOL, those that do come first (in fused order within a rank)
        anchors = anchors_of(query, about)
        named: list[bool] = []
        if anchors:
            pool = [index.passages[s.index] for s in scored[:ANCHOR_POOL]]
            ranks = [anchors.rank(indexed_text(p.chunk), index.provinces(p)) for p in pool]
            named = [r > 0 for r in ranks]
            order = sorted(range(len(pool)), key=lambda j: -ranks[j])
            scored = [scored[j] for j in order] + scored[ANCHOR_POOL:]
        scored = scored[:k]
        hits = tuple(Hit(index.passages[s.index].chunk, s.score, s.dense, s.lexical,
                         index.cited(index.passages[s.index])) for s in scored)
        top = index.passages[scored[0].index]
        # the words whose presence in a passage shows it is about the question
        about_words = query_words if about == query else words(about)
        # a variant's own words ("สมาร์ท", "ซิตี้") are not missing from a passage: its document terms
        # ("เมืองอัจฉริยะ") stand for them (counting them only where the passage lacks them measured the same)
        content = [thai_year(w, years) for w in drop_stopwords(about_words) if w not in rewritten.replaced] or tokens
        evidence = self.evidence(index, scored, vec, content, english,
                                 anchor_missing=bool(anchors) and not any(named), asked=asked_about(query_words))
        confidence = self.decision.confidence(evidence)
        if confidence < self.decision.threshold:
            return Answer(text, False, "", hits, reason="not_found", trimmed_to=trimmed, read_as=read_as,
                          confidence=confidence, evidence=evidence)
        kind = answer_kind(read_as)
        spans = self.highlight(top, content, index, kind)
        for _ in range(LIST_CHUNKS):  # the list goes on in the next chunk of the section
            more = index.continued(top) if self._runs_on(top, spans) else None
            longer = self.highlight(more, content, index, kind) if more is not None else []
            if not (len(longer) > len(spans) and longer[:len(spans)] == spans):
                break
            top, spans = more, longer
            first = hits[0]
            hits = (Hit(more.chunk, first.score, first.dense, first.lexical, index.cited(more)), *hits[1:])
        spans = self._with_next(top, spans)
        answer = " ".join(top.chunk.text[a:b] for a, b in spans)
        return Answer(text, True, answer, hits, highlights=tuple(spans), trimmed_to=trimmed, read_as=read_as,
                      confidence=confidence,
                      evidence=evidence, citations=index.cited(top, spans))

    @staticmethod
    def evidence(index: LoadedIndex, scored: list[Scored], vec, content: list[str], english: bool,
                 anchor_missing: bool = False, asked: list[str] | None = None) -> Evidence:
        r = index.retriever
        i = scored[0].index
        unit, heading = r.units.of_passage(vec, i) if r.units is not None else (scored[0].dense, scored[0].dense)
        words_ = set(content)
        weight = {w: r.idf(w) for w in words_}
        total = sum(weight.values()) or 1.0
        in_corpus = sum(v for w, v in weight.items() if r.df.get(w))
        # rare words the corpus has but this passage lacks (words no document has count in unknown_share)
        missing = [v for w, v in weight.items() if r.df.get(w) and w not in r.token_set(i)]
        grams = {g for w in words_ for g in char_grams(w, 3)}
        passage_grams = index.char_grams(index.passages[i])
        asked_weight = {w: r.idf(w) for w in asked or ()}
        asked_total = sum(asked_weight.values())
        asked_unknown = sum(v for w, v in asked_weight.items() if not r.df.get(w)) / asked_total if asked_total else 0.0
        return Evidence(
            dense=scored[0].dense, unit_dense=float(unit), heading_dense=float(heading),
            coverage=r.coverage(content, i), chars_coverage=len(grams & passage_grams) / max(len(grams), 1),
            corpus_coverage=in_corpus / total,
            unknown_share=sum(1 for w in words_ if not r.df.get(w)) / max(len(words_), 1),
            missing_idf=(max(missing) if missing else 0.0) / r.idf(""),
            gap=scored[0].score - scored[1].score if len(scored) > 1 else 1.0,
            fused=scored[0].score, english=float(english), anchor_missing=float(anchor_missing),
            asked_unknown=asked_unknown)

    @staticmethod
    def _runs_on(passage: Passage, spans: list[tuple[int, int]]) -> bool:
        """The answer is a list (or a sentence introducing one) that reaches the passage's end."""
        last = (passage.sentences or [(0, len(passage.chunk.text))])[-1]
        text = passage.chunk.text
        return bool(spans) and spans[-1] == last and (
            len(spans) > 1 or _INTRO.search(text[last[0]:last[1]]) is not None)

    @staticmethod
    def _with_next(passage: Passage, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A single short lead sentence with the sentence after it on the same line (not a list item)."""
        sentences = passage.sentences or []
        if len(spans) != 1 or spans[0] not in sentences:
            return spans
        j = sentences.index(spans[0])
        if j + 1 >= len(sentences):
            return spans
        (a, b), (a2, b2) = spans[0], sentences[j + 1]
        text = passage.chunk.text
        if b - a >= SHORT_LEAD or "\n" in text[b:a2] or LIST_ITEM.match(text[a2:b2]):
            return spans
        return [spans[0], (a2, b2)]

    @staticmethod
    def highlight(passage: Passage, query_words: list[str], index: LoadedIndex,
                  kind: re.Pattern[str] | None = None) -> list[tuple[int, int]]:
        """The sentence(s) of the passage that answer: the one with most of the question's weighted
        words (its share of their character 3-grams, and holding the kind of answer asked for, count
        too), and when it introduces a list ("... ดังนี้"), the list's items after it."""
        text = passage.chunk.text
        spans = passage.sentences or [(0, len(text))]
        qset = set(query_words)
        sentence_words = index.sentence_words(passage)
        sentence_grams = index.sentence_grams(passage)

        def weight(i: int) -> float:
            return sum(index.retriever.idf(w) for w in qset & sentence_words[i])

        def starts_line(a: int) -> bool:
            return text[text.rfind("\n", 0, a) + 1:a].strip() == ""

        weights = [weight(i) for i in range(len(spans))]
        top = max(weights) or 1.0
        grams = {g for w in qset for g in char_grams(w, 3)}

        def score(i: int) -> float:
            s = weights[i] / top
            if grams:
                s += GRAMS_WEIGHT * len(grams & sentence_grams[i]) / len(grams)
            if kind is not None and weights[i] > 0 and kind.search(text, *spans[i]):
                s += KIND_WEIGHT
            return s

        best = max(range(len(spans)), key=lambda i: (score(i), -i))
        chosen = [spans[best]]
        # a sentence cut in parts on one line ("… ที่ได้รับ" "… มีดังนี้"): its part that introduces
        # a list, on the same line, belongs to it
        for j in range(best + 1, min(best + 4, len(spans))):
            if starts_line(spans[j][0]):
                break
            if _INTRO.search(text[spans[j][0]:spans[j][1]]):
                chosen += spans[best + 1:j + 1]
                best = j
                break
        a0, b0 = spans[best]
        rest = spans[best + 1:]
        intro = _INTRO.search(text[a0:b0]) or (
            rest and starts_line(rest[0][0]) and LIST_ITEM.match(text[rest[0][0]:rest[0][1]]))
        if intro and not (starts_line(a0) and LIST_ITEM.match(text[a0:b0])):
            for a, b in rest:  # the list it introduces: items, and their continuations on the same line
                if starts_line(a) and not LIST_ITEM.match(text[a:b]):
                    break
                chosen.append((a, b))
        return chosen


def knowledge_summary(index: LoadedIndex) -> list[dict[str, str]]:
    """The indexed documents with their metadata, for `sources` and the bot's /sources."""
    out = []
    for doc_id, info in sorted(index.documents.items()):
        out.append({"document": doc_id, "title": info.get("title", Path(doc_id).stem),
                    "issuer": info.get("issuer", ""), "date": info.get("date", ""),
                    "url": info.get("url", ""), "as_of": info.get("as_of", "")})
    return out
