"""Tests for redial.ami.events: the records, and the decoder's names reachable from them."""

from __future__ import annotations

import dataclasses

import pytest

from redial.ami import event_decoder
from redial.ami import events as ev


class TestRecords:
    """Event records are immutable values."""

    def test_frozen_and_comparable(self) -> None:
        """A record cannot be changed, and equal fields make equal, hashable records."""
        ref = ev.ChannelRef("PJSIP/trunk-01", "1.1", "1.1")
        hangup = ev.ChannelHungUp(ref, 16, "Normal Clearing")
        with pytest.raises(dataclasses.FrozenInstanceError):
            hangup.cause = 44  # type: ignore[misc]
        assert hangup == ev.ChannelHungUp(ev.ChannelRef("PJSIP/trunk-01", "1.1", "1.1"), 16, "Normal Clearing")
        assert len({hangup, ev.ChannelHungUp(ref, 16, "Normal Clearing")}) == 1

    def test_live_channel_dialled_defaults_to_empty(self) -> None:
        """A LiveChannel from the channel list knows no DID until the Status list adds it."""
        channel = ev.LiveChannel(ev.ChannelRef("c", "1.1", "1.1"), "", "400", "Queue", "support", "", 5)
        assert channel.dialled == ""


class TestDecoderNames:
    """The decoder's names stay reachable from the events module (``ev.decode``)."""

    @pytest.mark.parametrize("name", ["decode", "DECODERS", "NEEDED_EVENTS", "Decoder", "live_channel", "UNKNOWN"])
    def test_same_object(self, name: str) -> None:
        """``ev.<name>`` is the decoder's own object, not a copy."""
        assert getattr(ev, name) is getattr(event_decoder, name)
