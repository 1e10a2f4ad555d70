"""Asterisk Manager Interface: pure decoding (frames, events, actions) and the thin asyncio link."""
