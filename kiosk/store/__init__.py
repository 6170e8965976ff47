"""Results store: SQLite (WAL, synchronous=FULL) with numbered migrations, media files, exports.

``Store`` is the one entry point; ``state_dir(config)`` says where it lives.
"""

from kiosk.store.db import Store, iso_utc, parse_iso, state_dir

__all__ = ["Store", "iso_utc", "parse_iso", "state_dir"]
