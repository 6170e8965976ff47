-- Schema 2: revocable coach sessions, coach ids that are never reused, a settings change log,
-- an audit log of athlete record changes, and a stable athlete identifier for roster files.

-- Coach ids were reused after a delete (INTEGER PRIMARY KEY takes max(id)+1), so a deleted
-- coach's cookie could log in as the next coach made. AUTOINCREMENT never hands an id out twice.
CREATE TABLE coaches_v2 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash    TEXT    NOT NULL,
    token_hash       TEXT    UNIQUE,           -- sha256 of the API token; the token itself is never stored
    token_created_at TEXT,
    created_at       TEXT    NOT NULL,
    password_changed_at TEXT
);
INSERT INTO coaches_v2 (id, username, password_hash, token_hash, token_created_at, created_at)
    SELECT id, username, password_hash, token_hash, token_created_at, created_at FROM coaches;
DROP TABLE coaches;
ALTER TABLE coaches_v2 RENAME TO coaches;

-- Server-side login sessions: the cookie carries a random id whose sha256 is the key here, so
-- logout, a password change or deleting the coach ends the session (the row is gone).
CREATE TABLE coach_sessions (
    id_hash      TEXT    PRIMARY KEY,
    coach_id     INTEGER NOT NULL REFERENCES coaches (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,             -- absolute end; activity does not extend it
    address      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX coach_sessions_coach ON coach_sessions (coach_id);

-- Who changed which setting, from where, and what it was before.
CREATE TABLE settings_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    by        TEXT    NOT NULL,                -- coach name, or "cli:<user>"
    key       TEXT    NOT NULL,
    old_value TEXT,                            -- JSON; NULL: the config file's value
    new_value TEXT                             -- JSON; NULL: back to the config file's value
);

-- Athlete record changes (edit, merge, delete, roster import): who, when, what.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL,
    by         TEXT    NOT NULL,
    action     TEXT    NOT NULL,               -- athlete.add / athlete.edit / athlete.merge / athlete.delete / roster.import
    athlete_id INTEGER,                        -- no foreign key: the row outlives a deleted athlete
    detail     TEXT    NOT NULL DEFAULT '{}'   -- JSON
);
CREATE INDEX audit_log_athlete ON audit_log (athlete_id, at);

-- A stable identifier that travels with roster files between stations (row ids do not).
ALTER TABLE athletes ADD COLUMN uid TEXT;
UPDATE athletes SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
CREATE UNIQUE INDEX athletes_uid ON athletes (uid);
CREATE TRIGGER athletes_uid_default AFTER INSERT ON athletes WHEN NEW.uid IS NULL
BEGIN
    UPDATE athletes SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;
-- The identifiers of athletes merged into another, so a later import of an old roster finds the survivor.
CREATE TABLE athlete_aliases (
    uid        TEXT    PRIMARY KEY,
    athlete_id INTEGER NOT NULL REFERENCES athletes (id) ON DELETE CASCADE
);
