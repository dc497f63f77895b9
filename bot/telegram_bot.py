"""The Telegram bot behind `smartcity-bot run`; the implementation is in the bot.tg package."""

from .tg.app import build_application, run_bot

__all__ = ["build_application", "run_bot"]
