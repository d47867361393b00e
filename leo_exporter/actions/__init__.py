"""Management actions: what every provider's actions share, and the sub-commands (the status page
runs the same ones, `leo_exporter/status/actions.py`).

Each provider declares its own in `Provider.actions` (the built-in ones: Starlink top-up and reboots in
`providers/starlink/`; Kognitive pause, resume and new service line in
`providers/kognitive/actions.py`). Each is refused unless the account's config says
`management_actions: true`, asks before it sends (or takes `--yes`), can print its request
instead (`--dry-run`) and writes one audit line.
"""
