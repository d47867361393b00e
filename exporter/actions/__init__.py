"""Management actions (command line only): Starlink top-up, Kognitive pause, resume and new service line.

Each is refused unless the account's config says `management_actions: true`, asks before it sends
(or takes `--yes`), can print its request instead (`--dry-run`) and writes one audit line.
"""
