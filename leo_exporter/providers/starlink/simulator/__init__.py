"""The simulated Starlink Public API V2 (service accounts, telemetry stream, management, pools).

Imported only by the simulator app (through `SIMULATOR.factory`), the command line and tests.
"""
