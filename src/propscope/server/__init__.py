"""The web app and HTTP API (``propscope serve``)."""

from propscope.server.app import Settings, create_app

__all__ = ["Settings", "create_app"]
