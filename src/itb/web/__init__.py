"""The web layer: the FastAPI app (JSON API) over the clinic service."""
