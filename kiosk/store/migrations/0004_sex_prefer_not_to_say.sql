-- Schema 4: "prefer not to say" is an answer the station asks for, so athletes.sex keeps it
-- (NULL stays "not given"). SQLite cannot change a CHECK in place: the table is rebuilt the way
-- SQLite's ALTER TABLE documentation lays out (new table, copy, drop, rename, then the indexes
-- and the trigger again). Store.migrate runs this with foreign keys off (so dropping the old table
-- deletes nothing through ON DELETE CASCADE), checks them before it commits, and the whole
-- script is one transaction: a migration killed mid-way leaves schema 3 as it was.
CREATE TABLE athletes_v4 (
    id             INTEGER PRIMARY KEY,
    display_name   TEXT    NOT NULL CHECK (length(trim(display_name)) > 0),
    athlete_number TEXT    UNIQUE,            -- club/bib number; NULL when not given
    team           TEXT    NOT NULL DEFAULT '',
    sex            TEXT    CHECK (sex IN ('female', 'male', 'prefer_not_to_say')),  -- NULL: not given
    birth_year     INTEGER CHECK (birth_year BETWEEN 1900 AND 2100),
    notes          TEXT    NOT NULL DEFAULT '',
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     TEXT    NOT NULL,
    uid            TEXT
);
INSERT INTO athletes_v4 (id, display_name, athlete_number, team, sex, birth_year, notes, active, created_at, uid)
    SELECT id, display_name, athlete_number, team, sex, birth_year, notes, active, created_at, uid FROM athletes;
DROP TABLE athletes;
ALTER TABLE athletes_v4 RENAME TO athletes;
CREATE INDEX athletes_team ON athletes (team);
CREATE UNIQUE INDEX athletes_uid ON athletes (uid);
CREATE TRIGGER athletes_uid_default AFTER INSERT ON athletes WHEN NEW.uid IS NULL
BEGIN
    UPDATE athletes SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;
