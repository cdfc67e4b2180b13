"""The hub's HTTP API under ``/api/v1``: one router per resource over ``hub.operations``; ``deps`` holds the typed
dependencies (engine, current user, role requirements) that the dashboard's pages use too."""
