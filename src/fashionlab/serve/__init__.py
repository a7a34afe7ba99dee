"""``fashionlab serve``: the HTTP service (FastAPI + uvicorn, versioned under ``/v1``) and the web studio
it serves at ``/``. Thin over :mod:`fashionlab.usecases`; see :mod:`.app` for the endpoints."""
