"""The Telegram layer (python-telegram-bot): the only package that imports ``telegram``.

``app`` builds and runs the Application, ``handlers`` answers updates, ``keyboards`` holds the
inline buttons and their callback data, ``ratelimit`` the per-user question limit and ``retry``
the outgoing-request retries (flood control, network errors, 5xx).
"""
