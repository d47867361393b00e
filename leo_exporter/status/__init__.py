"""Operator tools over HTTP: the status page, its JSON API, job control and the ticketing CSV
(`leo_exporter.status.routes`). Nothing is imported here: the front process imports only the style
sheet (`leo_exporter.status.style`), not the state and views behind the page."""
