"""Errors the service answers with: each carries its HTTP status and a message a caller can act on.

They are ``BentoMLException`` subclasses (the status is ``error_code``); the service turns them
into ``{"error": message, "field": field}`` with that status (``field``: the request field at
fault, dotted, or null). Nothing a caller does produces a 500.
"""

from __future__ import annotations

from http import HTTPStatus

from bentoml.exceptions import BentoMLException


class ServingError(BentoMLException):
    """A request the service cannot answer; ``error_code`` is the HTTP status, ``field`` the
    request field at fault (``context.at``), when one is."""

    error_code = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRequestError(ServingError):
    """The request is malformed: 400."""

    error_code = HTTPStatus.BAD_REQUEST


class CustomerNotFoundError(ServingError):
    """No such customer in the feature store: 404."""

    error_code = HTTPStatus.NOT_FOUND


class UnavailableError(ServingError):
    """The service cannot answer now (not ready, or the online store is unreachable, which
    ``features.online`` raises as ``OnlineStoreError``): 503."""

    error_code = HTTPStatus.SERVICE_UNAVAILABLE


class InactiveCustomerError(ServingError):
    """The customer is known but has no current features (left the bank): 422."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY


class PayloadTooLargeError(ServingError):
    """The request body is larger than the configured limit: 413."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaTypeError(ServingError):
    """A POST body that is not declared as JSON: 415."""

    error_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class DecisionNotFoundError(ServingError):
    """Feedback names a decision (or an action of it) the log does not hold: 404."""

    error_code = HTTPStatus.NOT_FOUND
