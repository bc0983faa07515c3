"""The HTTP routes, one module per resource; ``ROUTERS`` in the order the app includes them."""

from api.http.routes import admin, board, health, info, jobs, library, metrics, session, similar

ROUTERS = [r.router for r in (jobs, similar, health, metrics, admin, info, session, board, library)]
