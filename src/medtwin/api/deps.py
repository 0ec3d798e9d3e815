"""Shared FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request

from medtwin.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt
