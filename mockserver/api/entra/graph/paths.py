"""Graph request paths with doubled slashes: Graph serves ``/v1.0//users`` as ``/v1.0/users`` (the Microsoft Graph
SDK for Python, through msgraph-core before 1.5.2, sends that form, and it works against the real service)."""

from __future__ import annotations

import re

_VERSIONED = ("/v1.0/", "/beta/")
_RUN = re.compile(r"/{2,}")


class GraphSlashes:
    """WSGI layer in front of routing: a Graph path's runs of ``/`` become one slash, as Graph reads them; any other
    path is routed as sent (Werkzeug would otherwise answer every doubled slash with an HTML 308 redirect)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path and path.startswith(_VERSIONED):
            environ["PATH_INFO"] = _RUN.sub("/", path)
        return self.wsgi_app(environ, start_response)
