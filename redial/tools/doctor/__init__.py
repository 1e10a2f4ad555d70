"""``redial doctor``: one-shot checks of the Asterisk side, each with a plain-language fix.

The checks are pure functions from what Asterisk answered to a :class:`Finding`
(:mod:`.ami_user`, :mod:`.pbx`, :mod:`.dialplan`, :mod:`.queues`, :mod:`.trunks`);
:class:`PbxProbe` (:mod:`.probe`) is the only part that talks to Asterisk, through
pyst2's blocking client (a short synchronous tool needs no event loop).
:func:`diagnose` (:mod:`.run`) runs them in order and hands each finding over as soon
as it is known, so a slow PBX shows progress instead of a silent terminal;
:func:`render` and :func:`verdict` (:mod:`.findings`) show them.
"""

from redial.tools.doctor.findings import Finding, Status, render, verdict
from redial.tools.doctor.probe import PbxProbe, ProbeError
from redial.tools.doctor.run import Admin, diagnose

__all__ = ["Admin", "Finding", "PbxProbe", "ProbeError", "Status", "diagnose", "render", "verdict"]
