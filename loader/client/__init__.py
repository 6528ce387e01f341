"""The one way to the catalogue: a small package around ckanapi.

    hosts      where a catalogue is and what its host implies (production, the upload
               limit, whether a token may go there): pure functions, no HTTP
    errors     the error classes callers handle by type, and how an HTTP answer of any
               shape is classified into them
    transport  one request: a session per thread, uploads streamed from disk, the
               answer classified where it is seen, retries, the token kept out of errors
    api        `Catalogue`, the actions the loader calls, and `CatalogueAPI`, the
               contract the tests' fake meets too

It adds what the loader needs and ckanapi leaves to its callers: timeouts,
retries of reads (never of writes the catalogue may have acted on: a repeated
create makes a duplicate), uploads streamed instead of read into memory, and
every failure as one of this package's exception classes, so that no other
module imports ckanapi or requests.
"""

from loader.client.api import SEARCH_PAGE, Catalogue, CatalogueAPI, Permissions, bytes_heard_by
from loader.client.errors import (
    Busy,
    CatalogueError,
    Invalid,
    NotAuthorized,
    NotFound,
    UnknownAction,
    Unreachable,
    UploadFailed,
)
from loader.client.hosts import (
    HOSTS,
    PRODUCTION_HOST,
    UPLOAD_LIMITS,
    catalogue_url,
    host_of,
    is_loopback,
    is_production,
    secure_for_token,
    upload_limit,
)
from loader.client.transport import BytesListener

__all__ = [
    "HOSTS",
    "PRODUCTION_HOST",
    "SEARCH_PAGE",
    "UPLOAD_LIMITS",
    "Busy",
    "BytesListener",
    "Catalogue",
    "CatalogueAPI",
    "CatalogueError",
    "Invalid",
    "NotAuthorized",
    "NotFound",
    "Permissions",
    "Unreachable",
    "UnknownAction",
    "UploadFailed",
    "bytes_heard_by",
    "catalogue_url",
    "host_of",
    "is_loopback",
    "is_production",
    "secure_for_token",
    "upload_limit",
]
