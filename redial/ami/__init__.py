"""Asterisk Manager Interface: pure decoding (frames, events, actions) and the thin asyncio link."""

# The event records load first: their module re-exports the decoder (ev.decode), which
# builds those records, so either module may then be imported first.
from redial.ami import events as events
