-- Results store, schema 1. Times are wall-clock UTC ISO-8601 strings ("2026-11-21T09:30:00.000000Z",
-- fixed width so they sort as text); JSON columns hold the analysis' own records unchanged.

CREATE TABLE athletes (
    id             INTEGER PRIMARY KEY,
    display_name   TEXT    NOT NULL CHECK (length(trim(display_name)) > 0),
    athlete_number TEXT    UNIQUE,            -- club/bib number; NULL when not given
    team           TEXT    NOT NULL DEFAULT '',
    sex            TEXT    CHECK (sex IN ('female', 'male')),  -- NULL: not given (the wider FPPA limit applies)
    birth_year     INTEGER CHECK (birth_year BETWEEN 1900 AND 2100),
    notes          TEXT    NOT NULL DEFAULT '',
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     TEXT    NOT NULL
);
CREATE INDEX athletes_team ON athletes (team);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    athlete_id   INTEGER NOT NULL REFERENCES athletes (id),
    started_at   TEXT    NOT NULL,
    ended_at     TEXT,
    station_name TEXT    NOT NULL DEFAULT '',
    verdict      TEXT    CHECK (verdict IN ('PASS', 'FLAG', 'RETAKE', 'INCOMPLETE')),
    summary      TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_athlete ON sessions (athlete_id, started_at);
CREATE INDEX sessions_started ON sessions (started_at);

CREATE TABLE trials (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    athlete_id      INTEGER NOT NULL REFERENCES athletes (id),
    trial_no        INTEGER NOT NULL CHECK (trial_no >= 1),
    recorded_at     TEXT    NOT NULL,
    timings         TEXT    NOT NULL DEFAULT '{}',  -- monotonic-clock durations in seconds
    verdict         TEXT    NOT NULL CHECK (verdict IN ('PASS', 'FLAG', 'RETAKE')),
    reasons         TEXT    NOT NULL DEFAULT '[]',
    metrics         TEXT    NOT NULL DEFAULT '{}',  -- TrialResult.to_json()
    quality         TEXT    NOT NULL DEFAULT '{}',
    scoring_version TEXT    NOT NULL DEFAULT '',
    media           TEXT    NOT NULL DEFAULT '{}',  -- {"replay.mp4": "2026/11/21/<uid>-replay.mp4", ...}
    media_pruned_at TEXT,
    UNIQUE (session_id, trial_no)
);
CREATE INDEX trials_recorded ON trials (recorded_at);
CREATE INDEX trials_athlete ON trials (athlete_id, recorded_at);

CREATE TABLE coaches (
    id               INTEGER PRIMARY KEY,
    username         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash    TEXT    NOT NULL,
    token_hash       TEXT    UNIQUE,           -- sha256 of the API token; the token itself is never stored
    token_created_at TEXT,
    created_at       TEXT    NOT NULL
);

CREATE TABLE login_attempts (
    id       INTEGER PRIMARY KEY,
    username TEXT    NOT NULL,                 -- lower-cased as typed, even for unknown names
    ip       TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    ok       INTEGER NOT NULL CHECK (ok IN (0, 1))
);
CREATE INDEX login_attempts_key ON login_attempts (username, ip, at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,               -- "section.key" of the station config
    value      TEXT NOT NULL,                  -- JSON
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
