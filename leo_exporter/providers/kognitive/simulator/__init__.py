"""The simulated Kognitive OrbitPlans API (partners, service lines, pause/resume/create).

Imported only by the simulator app (through `SIMULATOR.factory`), the command line and tests.
"""
