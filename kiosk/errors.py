"""The one error hierarchy of the kiosk.

Every error the kiosk raises on purpose derives from :class:`KioskError`, so callers (the CLI,
the web app, the state machine) can catch one class and show its message. Where a builtin
exception fits, the specific error also derives from it (as gpiozero does), so generic code that
expects ``ValueError`` or ``OSError`` keeps working.
"""

from __future__ import annotations


class KioskError(Exception):
    """Root of all kiosk errors. ``str(err)`` is a plain, one-line message for a person."""


class ConfigError(KioskError, ValueError):
    """The station config file is missing a value, has an unknown key, or a bad value."""


class ModelError(KioskError, RuntimeError):
    """A pose model is missing, corrupt, or cannot be run."""


class RuntimeMissingError(ModelError, ImportError):
    """Neither ai-edge-litert nor tflite-runtime can be imported."""


class MediaError(KioskError, OSError):
    """A video or image cannot be read or written."""


class HardwareError(KioskError, OSError):
    """A camera, mat or other device is missing or stopped working."""


class CameraError(HardwareError):
    """The camera cannot be opened or stopped delivering frames."""


class MatError(HardwareError):
    """The contact mat or start button is missing, stuck or unplugged."""


class StationBusyError(KioskError, TimeoutError):
    """The station fell too far behind to analyse a trial (the frames it needed were overwritten
    in the ring, or the analysis overran its watchdog): the athlete jumps again."""


class AnalysisError(KioskError, ValueError):
    """Input to the landing analysis is unusable (not a RETAKE: a programming or data error)."""


class StoreError(KioskError, OSError):
    """The results store cannot be read or written (locked, full disk, corrupt)."""


class DiskFullError(StoreError):
    """Too little free space to store another trial safely."""


class InputError(KioskError, ValueError):
    """Something a person typed or uploaded (form, roster CSV, command argument) is not valid."""
