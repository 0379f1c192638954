"""The app's API routes, whatever way FastAPI keeps included routers."""

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every `APIRoute` the app serves. FastAPI keeps an included router as one entry of
    `app.routes`; its routes are reached through their contexts."""
    return [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
