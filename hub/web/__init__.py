"""The operators' dashboard: server-rendered pages for a control room's big screen and an operator's laptop.

- ``router``: ``dashboard_router()``, every route under ``/web`` (the app factory includes it).
- ``pages``: site view, devices, device page and its actions, statistics and CSV, versions and lists.
- ``media``: incidents, snapshots and their images. ``auth``: login and logout. ``live``: server-sent events.
- ``svg``: the schematic site map and the hourly chart, drawn on the server. ``csvexport``: the CSV.
- ``statscache``: settled hours' counts kept in memory. ``session``: who is looking, page responses.
- ``templating``: Jinja2 templates (``templates/``) and the vendored static files (``static/``).

Reads come from ``hub.storage.stats``; every change goes through ``hub.operations`` like the API's and CLI's.
"""
