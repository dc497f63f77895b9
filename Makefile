# The two commands a new machine needs: `make run` and `make test` (see README).
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/smartcity-bot
STAMP  := $(VENV)/.installed

.PHONY: run test install model index chat bench eval clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

model: install
	$(CLI) build-model

index: model
	$(CLI) index

# The Telegram bot when TELEGRAM_BOT_TOKEN is set (environment or .env), else the terminal chat.
run: index
	@if $(PY) -c "import sys; from bot.config import Settings; s = Settings(); sys.exit(0 if s.telegram_bot_token and s.telegram_bot_token.get_secret_value().strip() else 1)"; \
	then $(CLI) run; else echo "TELEGRAM_BOT_TOKEN is not set: starting the terminal chat"; $(CLI) chat; fi

chat: index
	$(CLI) chat

test: model
	$(PY) -m pytest

bench: index
	$(PY) scripts/bench_engine.py

eval: index
	$(CLI) eval domain ../shared/eval/domain-dev.jsonl
	$(CLI) eval domain eval/kb-dev.jsonl
	$(CLI) eval domain ../shared/eval/users-dev.jsonl
	$(CLI) eval domain eval/users-extra.jsonl
	$(CLI) eval domain eval/users-heldout.jsonl
	$(CLI) eval squad ../shared/data/xquad-th/xquad.th.json
	$(CLI) eval squad ../shared/data/iapp-wiki-qa/iapp-valid.squad.json
	$(CLI) eval squad ../shared/data/iapp-wiki-qa/iapp-test.squad.json

clean:
	rm -rf index .index.new .index.old .cache
