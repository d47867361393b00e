"""Operator tools over HTTP: the status page, its JSON API, job control and the ticketing CSV
(`exporter.status.routes`). Nothing is imported here: the front process imports only the style
sheet (`exporter.status.style`), not the state and views behind the page."""
