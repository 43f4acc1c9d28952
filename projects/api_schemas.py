"""What every API router shares: the error body and the `Idempotency-Key` header (activityhub/api.py writes
the errors; projects/idempotency.py honours the key)."""

from typing import Annotated

from ninja import Header, Schema
from pydantic import Field


class FieldErrorOut(Schema):
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "events", 3, "title"].')
    field: str = Field(description="The field as a client writes it, e.g. events[3].title.")
    message: str
    type: str | None
    index: int | None = Field(default=None, description="The item of a batch, when the problem is in one.")


class ErrorOut(Schema):
    detail: str
    errors: list[FieldErrorOut] | None = Field(default=None, description="Each invalid field (422 only).")
    retry_after: int | None = Field(default=None, description="Seconds to wait (429 only).")


# What any endpoint may answer besides its own results (activityhub/api.py's handlers): declared so the OpenAPI
# document lists every status a client can get. Endpoints add 404 / 409 where they can happen.
READ_ERRORS = {code: ErrorOut for code in (400, 401, 422, 429, 503)}
WRITE_ERRORS = {code: ErrorOut for code in (400, 401, 403, 413, 422, 429, 503)}


IDEMPOTENCY_HELP = (
    "Any unique string (a UUID is best). Retrying with the same key and body returns the original response "
    "(header Idempotent-Replayed: true) and stores nothing new."
)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=IDEMPOTENCY_HELP)]
