"""Check an endpoint with one cheap request before a run sends it thousands.

``GET /models`` costs no tokens and every OpenAI-compatible server (OpenAI, vLLM, SGLang, ``transformers
serve``, our fake server) answers it. A connection error, a timeout or a 401/403 is a ``TeacherError`` naming
the endpoint, its URL and the cause; any other HTTP answer (a 404 from a server without ``/models``) means the
server is up, which is all this checks. Before it, a dead ``vllm-local`` took 2,340 failed requests and
1 min 49 s to notice.
"""

from __future__ import annotations

import openai

from .client import _msg, key_scrubber
from .config import Endpoint
from .types import TeacherError

PREFLIGHT_TIMEOUT_S = 5.0


def preflight(endpoint: Endpoint, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Raise ``TeacherError`` when ``endpoint`` cannot be reached or refuses its key; return None otherwise."""
    key = endpoint.api_key()  # an unset key variable is a TeacherConfigError with its own message
    where = f"endpoint {endpoint.name!r} ({endpoint.base_url})"
    client = openai.OpenAI(base_url=endpoint.base_url, api_key=key, max_retries=0,
                           timeout=min(timeout, endpoint.timeout))
    try:
        client.models.list()
    except openai.APITimeoutError:
        raise TeacherError(f"{where}: no answer within {min(timeout, endpoint.timeout):.0f}s to GET /models — is the "
                           "server up and the base_url right? No request was sent, no version written") from None
    except openai.APIConnectionError as e:
        cause = " ".join(str(e.__cause__ or e).split())[:200]
        raise TeacherError(f"{where} is unreachable: {cause} — start the server or fix base_url in the teachers "
                           "file. No request was sent, no version written") from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
        hint = f"check ${endpoint.api_key_env}" if endpoint.api_key_env else "the endpoint wants a key (api_key_env)"
        raise TeacherError(f"{where}: {e.status_code} {key_scrubber(key)(_msg(e))[:200]} — {hint}") from None
    except openai.APIStatusError:
        return  # the server answered: up, even if it has no /models route
    finally:
        client.close()
