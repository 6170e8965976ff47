-- Schema 3: every trial and session keeps what its verdict was decided with, so a stored verdict
-- can be reproduced after a coach has changed a threshold or the trial count:
-- {"version": scoring version, "thresholds": every [scoring] value in force, "trials_needed": the
-- session's trial count, "limit": the peak-FPPA limit that applied and why}. '{}' for rows stored
-- before schema 3 (their result JSON still names the scoring version).
ALTER TABLE trials ADD COLUMN scoring TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sessions ADD COLUMN scoring TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sessions ADD COLUMN scoring_version TEXT NOT NULL DEFAULT '';
