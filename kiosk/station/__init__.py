"""The station: camera sources, capture ring buffer, contact mat and start button, the trial
state machine, the runtime that ties them together, and ``jumpkiosk doctor``.

Hardware libraries (picamera2, gpiozero's pin factories, lgpio) are imported inside the classes
that need them, so importing this package works on any machine.
"""
