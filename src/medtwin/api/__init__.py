"""HTTP API (FastAPI): twins, observations, ingest, FHIR R4, WebSocket live feed."""
