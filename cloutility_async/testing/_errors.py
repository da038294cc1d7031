"""The error answer every part of the simulator raises: the portal's error body."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error answer with the portal's error body (status, code, message, developerMessage)."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, developer: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "Error")
        self.developer = developer or message


_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
}
