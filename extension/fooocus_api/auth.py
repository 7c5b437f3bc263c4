"""`--api-key`: every API route wants the key in the X-API-KEY header."""
from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from . import service

HEADER = "X-API-KEY"


FILE_PREFIXES = ("/outputs/", "/inputs/")


async def require_key(request: Request) -> None:
    options = service.current().options
    key = options.key
    if key is None:
        return
    if options.public_files and request.url.path.startswith(FILE_PREFIXES):
        return

    given = request.headers.get(HEADER, "")
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise HTTPException(status_code=401, detail=f"missing or wrong {HEADER} header")
