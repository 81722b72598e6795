"""The web dashboard: queues, tasks per state, one task, processors; live, with actions.

    from tandemq.dashboard import create_app
    from tandemq.inspector import Inspector

    app = create_app(Inspector.from_env(), read_only=True)   # any ASGI server, or mount it

Needs the ``tandemq[dashboard]`` extra. ``tandemq dashboard`` serves it on its own.
"""

from .app import create_app
from .security import Auth

__all__ = ["Auth", "create_app"]
