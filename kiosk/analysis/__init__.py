"""Landing analysis: phases, metrics, quality gates and verdicts. Pure: no I/O, no clock reads."""
