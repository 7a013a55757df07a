"""Each provider's documented error vocabulary, as the words and codes that reach an agent's
output: the texts the rule table (rules.py) matches, grouped by what they mean, each group naming
the documentation it comes from.

The same fault arrives in different clothes: GLM's platform sends a billing fault as HTTP 429 with
business code 1113 in the body (the Claude Code CLI shows only its message), OpenAI sends an
exhausted quota as 429 `insufficient_quota`, OpenRouter as 402. So the meaning is read from the
words and codes, and the HTTP status decides only when nothing more specific was said.
"""

from __future__ import annotations

ANTHROPIC = ("https://docs.claude.com/en/api/errors (error types; the SDK's ErrorType adds "
             "billing_error, timeout_error)")
OPENAI = "https://platform.openai.com/docs/guides/error-codes"
GLM = "https://docs.z.ai/api-reference/api-code (business codes; bigmodel.cn: same codes)"
OPENROUTER = "https://openrouter.ai/docs/api/reference/errors-and-debugging"
DEEPSEEK = "https://api-docs.deepseek.com/quick_start/error_codes"
AIDER = "aider/exceptions.py (the friendly text aider prints per litellm exception)"
NODE = "Node.js errno and undici error codes (net, dns, fetch)"
PYTHON = "httpx / requests / urllib3 / aiohttp / openai-python connection exceptions"
CLAUDE_CLI = "Claude Code CLI 2.1.x, measured (FIELD-NOTES.md, tests/agent/test_provider_bodies)"
CODEX_CLI = "Codex CLI 0.17x, measured (FIELD-NOTES.md)"


def glm_code(*codes: int) -> str:
    """GLM's business code as it appears in a JSON body: `"code":"1113"` or `"code": 1113`."""
    alternatives = "|".join(str(c) for c in codes)
    return rf"""["']code["']\s*:\s*["']?(?:{alternatives})\b"""


def error_type(*names: str) -> str:
    """An error type or code as a JSON value (`"type": "billing_error"`) or a bare word."""
    return r"\b(?:" + "|".join(names) + r")\b"


# ---- terminal --------------------------------------------------------------------------------

CONTENT_BLOCKED = (
    glm_code(1301), r"unsafe or sensitive content", r"不安全或敏感内容",  # GLM 1301
    r"requires moderation", r"input was flagged", r"flagged by (?:the )?moderation",  # OpenRouter
    error_type("content_policy_violation", "contentpolicyviolationerror"),  # OpenAI, litellm
    r"refused the request due to a safety policy",  # aider
)

AUTH = (
    error_type("authentication_error", "permission_error", "invalid_api_key"),  # Anthropic/OpenAI
    r"incorrect api key provided", r"must be a member of an organization", r"ip not authorized",
    r"country, region,? or territory (?:is )?not supported",  # OpenAI 401/403
    glm_code(1000, 1001, 1002, 1003, 1004, 1110, 1111, 1112, 1121, 1313),
    r"authentication token (?:has )?expired", r"invalid authentication token",
    r"authentication parameter not received", r"authentication failed",
    r"your account (?:is currently inactive|does not exist|has been locked)",
    r"account has irregular activities", r"fair use policy",  # GLM 1000-1004, 1110-1121, 1313
    r"身份验证失败", r"账户已被锁定",
    r"invalid credentials", r"api key (?:is )?disabled", r"oauth session expired",  # OpenRouter
    r"not able to authenticate you",  # aider
)

QUOTA = (
    error_type("billing_error", "insufficient_quota", "billing_hard_limit_reached",
               "billing_not_active", "credit_balance_exhausted"),  # Anthropic, OpenAI
    glm_code(1113, 1309),
    r"insufficient balance", r"no resource package", r"account is in arrears",
    r"please recharge", r"coding plan (?:package )?has expired",  # GLM 1113, 1309
    r"余额不足", r"已欠费", r"请充值", r"套餐已到期",
    r"insufficient credits",  # OpenRouter 402
)

USAGE_LIMIT = (
    glm_code(1304, 1308, 1310),
    r"daily call limit", r"已达今日调用次数限额",  # GLM 1304
    r"usage limit reached for \d", r"已达到 ?\S+ ?的使用上限",  # GLM 1308
    r"reached (?:your |the )?(?:weekly|monthly|weekly/monthly) (?:usage )?limit",
    r"每周/每月使用上限",  # GLM 1310
)

PROMPT_TOO_LONG = (
    glm_code(1261), r"prompt 超长",  # GLM 1261
    error_type("request_too_large"), r"request too large",  # Anthropic 413 (and the CLI's text)
    r"has hit a token limit", r"exhausted context window",  # aider's show_exhausted_error
)

NOT_FOUND = (
    error_type("not_found_error", "model_not_found", "notfounderror"),  # Anthropic, OpenAI
    glm_code(1211, 1221, 1222, 1311),
    r"model does not exist", r"模型不存在", r"has been taken offline",
    r"api \S+ does not exist", r"does not (?:yet )?include access to",  # GLM 1211, 1221, 1311
    r"the model `?\S+`? does not exist", r"no endpoints found",  # OpenAI, OpenRouter
    r"is not a valid model id",
    r"there's an issue with the selected model",  # what Claude Code prints for a 404
    r"\b404 not found\b",  # the status line codex quotes
)

BAD_REQUEST = (
    error_type("invalid_request_error", "badrequesterror", "unprocessableentityerror"),
    r"\b400 bad request\b", r"\b422 unprocessable",  # the status line codex quotes
    glm_code(1210, 1212, 1213, 1214, 1215),
    r"incorrect api call parameters", r"parameter not received properly",
    r"api 调用参数有误",  # GLM 1210-1215
)

# ---- transient ------------------------------------------------------------------------------
# (litellm's class names and aider's friendly lines follow the HTTP status, not the provider's
# words: rules.py reads them in its generic rows, after these)

RATE_LIMITED = (
    error_type("rate_limit_error", "rate_limit_exceeded"),  # Anthropic, OpenAI
    glm_code(1302, 1303),
    r"high (?:concurrency|frequency) usage of this api", r"并发数过高", r"频率过高",  # GLM
    r"\bslow[ _]down\b",  # OpenAI 503 "Slow Down": lower the request rate
)

OVERLOADED = (
    error_type("overloaded_error", "server_is_overloaded"),
    glm_code(1305, 1312),
    r"temporarily overloaded", r"已触发流量限制", r"experiencing high traffic",
    r"访问量过大",  # GLM 1305, 1312
    r"engine is currently overloaded",  # OpenAI 503
)

PROVIDER_ERROR = (
    error_type("api_error", "timeout_error", "server_error"),  # Anthropic 500/504, OpenAI
    glm_code(500, 1120, 1230, 1234),
    r"api call process error", r"network error, error id",
    r"unable to successfully access your account, please try again",  # GLM
    r"model is down", r"invalid response from", r"no available model provider",  # OpenRouter
    r"server had an error while processing",  # OpenAI 500
)

NETWORK = (
    r"\b(?:ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EPIPE|"
    r"EHOSTUNREACH|ENETUNREACH)\b",
    r"\bUND_ERR_(?:CONNECT_TIMEOUT|SOCKET|HEADERS_TIMEOUT|BODY_TIMEOUT|CLOSED)\b",
    r"\bfetch failed\b", r"other side closed", r"socket hang up",
    r"client network socket disconnected",  # Node / undici
    r"\bconnection error\.", r"apiconnectionerror", r"apitimeouterror",  # SDKs' own classes
    r"all connection attempts failed", r"failed to establish a new connection",
    r"max retries exceeded with url", r"remote end closed connection",
    r"server disconnected without sending", r"peer closed connection",
    r"read timed out", r"the read operation timed out", r"cannot connect to host",
    r"\b(?:connecterror|connecttimeout|readtimeout|remoteprotocolerror)\b",  # Python clients
    r"timed out without returning a response",  # aider
)
