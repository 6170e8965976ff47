"""Jump-landing screening kiosk: drop-vertical-jump knee valgus screening with MoveNet.

Importing this package imports no hardware library (picamera2, gpiozero pins, lgpio) and no
model runtime; those load lazily where they are used.
"""

__version__ = "0.1.0"
