"""The store's schema: ordered migrations, each from version N to N+1. Never edit a released one.

The ``redials`` table holds every callback job (its ``kind`` says which); the name stays
from the first schema, so that stores upgrade in place.
"""

from __future__ import annotations

from collections.abc import Sequence

# Each entry moves the schema from version N to N+1; never edit a released one.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        linkedid TEXT NOT NULL UNIQUE,
        customer_uniqueid TEXT NOT NULL,
        customer_channel TEXT NOT NULL,
        customer_number TEXT NOT NULL,
        dialled TEXT NOT NULL,
        queue TEXT,
        trunk TEXT NOT NULL,
        agent_interface TEXT,
        agent_member TEXT,
        joined_at REAL,
        answered_at REAL,
        ended_at REAL NOT NULL,
        ended_by TEXT NOT NULL,
        cause INTEGER,
        soft_cause INTEGER,
        transferred INTEGER NOT NULL,
        agent_complete_reason TEXT,
        talk_time INTEGER,
        classification TEXT NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    CREATE INDEX calls_ended_at ON calls (ended_at);
    CREATE TABLE redials (
        id INTEGER PRIMARY KEY,
        call_id INTEGER NOT NULL UNIQUE REFERENCES calls (id),
        state TEXT NOT NULL,
        due_at REAL NOT NULL,
        channel_id TEXT NOT NULL,
        originated_at REAL,
        outcome TEXT,
        detail TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX redials_open ON redials (state) WHERE state != 'done';
    CREATE TABLE redial_log (
        id INTEGER PRIMARY KEY,
        redial_id INTEGER NOT NULL REFERENCES redials (id),
        at REAL NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX redial_log_redial ON redial_log (redial_id);
    """,
    # 2: retries, agent reservation, number rules.
    """
    ALTER TABLE redials ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE redials ADD COLUMN dial_number TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN ring_interface TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN agent_deadline REAL;
    ALTER TABLE redials ADD COLUMN paused_interface TEXT;
    ALTER TABLE redials ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
    UPDATE redials SET created_at = updated_at;
    ALTER TABLE calls ADD COLUMN number_e164 TEXT NOT NULL DEFAULT '';
    CREATE INDEX calls_number ON calls (number_e164);
    CREATE INDEX redials_created ON redials (created_at);
    """,
    # 3: members passed over (agent-side failures), one ChannelId per Originate.
    """
    ALTER TABLE redials ADD COLUMN passed_over TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN rings INTEGER NOT NULL DEFAULT 0;
    UPDATE redials SET rings = CASE WHEN originated_at IS NULL AND state != 'done' THEN attempt - 1 ELSE attempt END;
    """,
    # 4: callback jobs of several kinds; every change of a job bumps its revision (conditional updates).
    """
    ALTER TABLE redials ADD COLUMN kind TEXT NOT NULL DEFAULT 'drop_redial';
    ALTER TABLE redials ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: queue callbacks. A callback keeps the place its caller had: the time they joined the
    # queue. Every offer and request is kept for the stats funnel (no number in it).
    """
    ALTER TABLE redials ADD COLUMN joined_at REAL;
    CREATE TABLE callback_offers (
        id INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        redial_id INTEGER
    );
    CREATE INDEX callback_offers_at ON callback_offers (at);
    """,
    # 6: promised callbacks: the note, the time promised (due_at moves with retries), who
    # made it, when agent and customer were bridged, and whether it was kept late.
    """
    ALTER TABLE redials ADD COLUMN note TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN promised_at REAL;
    ALTER TABLE redials ADD COLUMN made_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN connected_at REAL;
    ALTER TABLE redials ADD COLUMN late INTEGER NOT NULL DEFAULT 0
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def statements_of(script: str) -> list[str]:
    """A migration's statements (they hold no ";" of their own: no triggers, no literals with one)."""
    return [s.strip() for s in script.split(";") if s.strip()]
