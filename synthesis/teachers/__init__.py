"""Teacher client: drive OpenAI-compatible endpoints fast and safely, cache every call, count the cost.

    from synthesis.teachers import Request, TeacherClient, get_endpoint
    client = TeacherClient(get_endpoint("vllm-local"), cache="work/teacher-cache.sqlite")
    replies = client.run([Request([{"role": "user", "content": "2+2?"}], id="q1")], progress=True)
    replies[0].content, replies[0].request_hash, client.accounting.to_dict()

Endpoints come from ``recipes/teachers.yaml`` (key *variable names* only). See ``client.py`` for the sliding
window, retries and structured output, ``cache.py`` for the request-keyed cache, ``limits.py`` for RPM/TPM
buckets and adaptive concurrency.
"""

from .accounting import Accounting, LiveProgress, Usage
from .cache import RequestCache, hash_request, request_identity
from .client import TeacherClient
from .config import Endpoint, Price, TeacherConfigError, get_endpoint, load_endpoints
from .limits import AdaptiveLimit, TokenBucket, backoff_delay
from .types import Reply, Request, TeacherError

__all__ = [
    "Accounting", "AdaptiveLimit", "Endpoint", "LiveProgress", "Price", "Reply", "Request", "RequestCache",
    "TeacherClient", "TeacherConfigError", "TeacherError", "TokenBucket", "Usage", "backoff_delay",
    "get_endpoint", "hash_request", "load_endpoints", "request_identity",
]
