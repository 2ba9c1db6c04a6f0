"""The clinic and duty desk: a small server-rendered web page inside the records service."""

from thermogate.records.desk.routes import router

__all__ = ["router"]
