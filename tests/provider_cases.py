"""Documented error bodies of each provider, and the kind each must classify as, for replay
through the real Claude Code CLI (an Anthropic-compatible gateway answers in its own vocabulary)
and through the codex and aider report parsers. Sources: mtor_git/verdict/providers.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    body: dict[str, Any]
    kind: str

    @property
    def message(self) -> str:
        return str(self.body["error"]["message"])


def anthropic(status: int, type_: str, message: str, kind: str) -> Case:
    return Case(f"anthropic-{status}-{type_}", status,
                {"type": "error", "error": {"type": type_, "message": message}}, kind)


def glm(status: int, code: int, message: str, kind: str) -> Case:
    return Case(f"glm-{code}", status, {"error": {"code": str(code), "message": message}}, kind)


def openrouter(status: int, message: str, kind: str) -> Case:
    return Case(f"openrouter-{status}", status, {"error": {"code": status, "message": message}},
                kind)


def openai(status: int, code: str | None, type_: str, message: str, kind: str) -> Case:
    return Case(f"openai-{status}-{code or type_}", status,
                {"error": {"message": message, "type": type_, "param": None, "code": code}}, kind)


ANTHROPIC_CASES = (
    anthropic(400, "invalid_request_error", "messages: roles must alternate between user and "
              "assistant", "bad_request"),
    anthropic(400, "invalid_request_error", "Your credit balance is too low to access the "
              "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
              "quota"),
    anthropic(401, "authentication_error", "invalid x-api-key", "auth"),
    anthropic(402, "billing_error", "Your payment method was declined.", "quota"),
    anthropic(403, "permission_error", "Your API key does not have permission to use the "
              "specified resource.", "auth"),
    anthropic(404, "not_found_error", "model: claude-does-not-exist", "not_found"),
    anthropic(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
              "prompt_too_long"),
    anthropic(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute "
              "rate limit", "rate_limited"),
    anthropic(500, "api_error", "Internal server error", "provider_error"),
    anthropic(504, "timeout_error", "Request timed out while processing", "provider_error"),
    anthropic(529, "overloaded_error", "Overloaded", "overloaded"),
)

GLM_CASES = (
    glm(401, 1000, "Authentication Failed", "auth"),
    glm(401, 1002, "Invalid Authentication Token, please confirm the correct transmission of "
        "the Authentication Token", "auth"),
    glm(401, 1003, "Authentication Token expired, please regenerate/obtain", "auth"),
    glm(429, 1112, "Your account has been locked, please contact customer service to unlock",
        "auth"),
    glm(429, 1113, "Your account is in arrears, please recharge and try again", "quota"),
    glm(429, 1113, "Insufficient balance or no resource package. Please recharge.", "quota"),
    glm(400, 1210, "Incorrect API call parameters, please check the documentation",
        "bad_request"),
    glm(400, 1211, "Model does not exist, please check the model code", "not_found"),
    glm(400, 1261, "Prompt 超长", "prompt_too_long"),
    glm(400, 1301, "System detected potentially unsafe or sensitive content in input or "
        "generation. Please avoid using prompts that may generate sensitive content.",
        "content_blocked"),
    glm(429, 1302, "High concurrency usage of this API, please reduce concurrency or contact "
        "customer service to increase limits", "rate_limited"),
    glm(429, 1303, "High frequency usage of this API, please reduce frequency or contact "
        "customer service to increase limits", "rate_limited"),
    glm(429, 1304, "This API has reached the daily call limit. For more requests, please "
        "contact customer service to purchase", "usage_limit"),
    glm(429, 1305, "The service may be temporarily overloaded, please try again later",
        "overloaded"),
    glm(429, 1308, "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 "
        "15:00:00", "usage_limit"),
    glm(429, 1309, "Your GLM Coding Plan package has expired and is temporarily unavailable; "
        "renew it to restore access", "quota"),
    glm(429, 1310, "You have reached your weekly/monthly usage limit. Your limit will reset at "
        "2026-12-07 00:00:00", "usage_limit"),
    glm(429, 1311, "Your current subscription plan does not yet include access to GLM-9",
        "not_found"),
    glm(429, 1312, "This model is currently experiencing high traffic, please try again later "
        "or switch to another model", "overloaded"),
    glm(429, 1313, "Your account's current usage pattern does not comply with the Fair Use "
        "Policy; the request frequency has been restricted", "auth"),
    glm(500, 500, "Internal Error", "provider_error"),
    glm(500, 1234, "Network error, error id: 20261202abc, please contact customer service",
        "provider_error"),
)

OPENROUTER_CASES = (
    openrouter(400, "Bad Request: invalid or missing params", "bad_request"),
    openrouter(401, "Invalid credentials", "auth"),
    openrouter(402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
               "quota"),
    openrouter(403, "Your chosen model requires moderation and your input was flagged",
               "content_blocked"),
    openrouter(408, "Your request timed out", "network"),
    openrouter(429, "Rate limit exceeded: too many requests", "rate_limited"),
    openrouter(502, "Your chosen model is down or we received an invalid response from it",
               "provider_error"),
    openrouter(503, "There is no available model provider that meets your routing "
               "requirements", "provider_error"),
)

OPENAI_CASES = (
    openai(401, "invalid_api_key", "invalid_request_error",
           "Incorrect API key provided: sk-proj-****cdef.", "auth"),
    openai(401, None, "invalid_request_error",
           "You must be a member of an organization to use the API.", "auth"),
    openai(403, "unsupported_country_region_territory", "request_forbidden",
           "Country, region, or territory not supported", "auth"),
    openai(404, "model_not_found", "invalid_request_error",
           "The model `gpt-9` does not exist or you do not have access to it.", "not_found"),
    openai(400, "context_length_exceeded", "invalid_request_error",
           "This model's maximum context length is 128000 tokens. However, your messages "
           "resulted in 130512 tokens.", "prompt_too_long"),
    openai(429, "rate_limit_exceeded", "requests",
           "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): "
           "Limit 500, Used 500, Requested 1.", "rate_limited"),
    openai(429, "insufficient_quota", "insufficient_quota",
           "You exceeded your current quota, please check your plan and billing details.",
           "quota"),
    openai(500, "server_error", "server_error",
           "The server had an error while processing your request. Sorry about that!",
           "provider_error"),
    openai(503, None, "server_error", "The engine is currently overloaded, please try again "
           "later.", "overloaded"),
    openai(503, "slow_down", "service_unavailable_error", "Slow Down", "rate_limited"),
)

# Connection failures as Node (undici, net, dns) and Python (httpx, requests, urllib3, aiohttp,
# the SDKs) spell them: every one is `network`, transient.
CONNECTION_FAILURES = (
    "Error: connect ECONNREFUSED 127.0.0.1:443",
    "Error: getaddrinfo ENOTFOUND api.example.com",
    "Error: getaddrinfo EAI_AGAIN api.example.com",
    "Error: read ECONNRESET",
    "Error: connect ETIMEDOUT 10.0.0.1:443",
    "Error: connect EHOSTUNREACH 10.0.0.1:443",
    "Error: write EPIPE",
    "TypeError: fetch failed",
    "Error: socket hang up",
    "SocketError: other side closed",
    "ConnectTimeoutError: Connect Timeout Error (attempted address: api.example.com:443, "
    "timeout: 10000ms) code: 'UND_ERR_CONNECT_TIMEOUT'",
    "HeadersTimeoutError: Headers Timeout Error code: 'UND_ERR_HEADERS_TIMEOUT'",
    "Error: Client network socket disconnected before secure TLS connection was established",
    "APIConnectionError: Connection error.",
    "httpx.ConnectError: All connection attempts failed",
    "httpx.ConnectTimeout: timed out",
    "httpx.ReadTimeout: The read operation timed out",
    "httpx.RemoteProtocolError: Server disconnected without sending a response.",
    "httpx.RemoteProtocolError: peer closed connection without sending complete message body "
    "(incomplete chunked read)",
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443): "
    "Max retries exceeded with url: /v1/chat/completions (Caused by NewConnectionError("
    "'<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new "
    "connection: [Errno 111] Connection refused'))",
    "urllib3.exceptions.ProtocolError: ('Connection aborted.', RemoteDisconnected('Remote end "
    "closed connection without response'))",
    "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.example.com', port=443): "
    "Read timed out. (read timeout=600)",
    "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host "
    "api.example.com:443 ssl:default",
    "openai.APITimeoutError: Request timed out.",
    "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.",
    "litellm.Timeout: Connection timed out after 600.0 seconds.",
)

REASONS = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
           404: "Not Found", 408: "Request Timeout", 413: "Payload Too Large",
           422: "Unprocessable Entity", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 529: "Site Overloaded"}

# litellm's exception class per status, and the line aider prints after it (aider/exceptions.py).
LITELLM = {400: "BadRequestError", 401: "AuthenticationError", 402: "BadRequestError",
           403: "PermissionDeniedError", 404: "NotFoundError", 408: "Timeout",
           413: "BadRequestError", 422: "UnprocessableEntityError", 429: "RateLimitError",
           500: "InternalServerError", 502: "InternalServerError",
           503: "ServiceUnavailableError", 504: "InternalServerError",
           529: "InternalServerError"}
AIDER_FRIENDLY = {
    "AuthenticationError": "The API provider is not able to authenticate you. Check your API key.",
    "RateLimitError": "The API provider has rate limited you. Try again later or check your "
                      "quotas.",
    "InternalServerError": "The API provider's servers are down or overloaded.",
    "ServiceUnavailableError": "The API provider's servers are down or overloaded.",
    "Timeout": "The API provider timed out without returning a response. They may be down or "
               "overloaded.",
}
