"""Thai smart-city policy Q&A: answer engine, CLI and Telegram bot."""

__version__ = "0.1.0"
