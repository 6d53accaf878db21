"""The review API: FastAPI routes, schemas, evidence serving."""
