"""Fixtures for the Telegram layer: the stand-in Bot API server, a fake engine, the Application."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from tg_fakes import ADMIN, FakeEngine
from tg_harness import FakeTelegram, Updates

from bot.config import Settings
from bot.records import Records
from bot.telegram_bot import build_application


@pytest.fixture
def api():
    """The stand-in Bot API server."""
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def updates() -> Updates:
    return Updates()


@pytest.fixture
def settings(api: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(telegram_bot_token="123:TEST", telegram_api_base_url=api.base_url,
                    database_path=tmp_path / "db" / "bot.sqlite3", admin_user_ids=[ADMIN],
                    rate_limit_per_minute=3, user_id_salt="pepper", _env_file=None)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@dataclass
class BotUnderTest:
    app: Any
    service: Any
    records: Records
    engine: FakeEngine

    async def feed(self, update: dict[str, Any]) -> None:
        """Process one update (Bot API JSON) as if polling had fetched it."""
        await self.app.process_update(Update.de_json({"update_id": next(_UPDATE_IDS), **update}, self.app.bot))


_UPDATE_IDS = itertools.count(1)


@pytest.fixture
async def bot(settings: Settings, engine: FakeEngine):
    """The Application with the fake engine, initialized against the stand-in server."""
    records = Records(settings.database_path, settings.user_id_salt.get_secret_value(),
                      retention_days=settings.question_retention_days)  # as run_bot makes them
    app, service = build_application(settings, engine, records)
    await app.initialize()
    yield BotUnderTest(app, service, records, engine)
    await app.shutdown()
    service.close()
    records.close()
