"""The simulated OneWeb distribution-partner API (the assumed shapes of `../schema.py`).

Imported only by the simulator app (through `SIMULATOR.factory`), the command line and tests.
"""
