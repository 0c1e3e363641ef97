"""The secrets scanner: each provider format found, and near misses left alone.

Every key below is fake: documented example values or repeated filler of the right alphabet
and length. Tokens are assembled from parts so that the file itself reads as no secret.
"""

from __future__ import annotations

import pytest

from gateway.compliance.entropy import entropy_threshold, is_filler, shannon_entropy
from gateway.compliance.secrets import scan_secrets

AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
GCP = "AIza" + "SyD-EXAMPLE1234567890abcdefghijklmn"
GHP = "ghp_" + "A1b2C3d4" * 4 + "E5f6"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0" + "aBcDeFgHiJkL" + "_" + "Zy9" * 19 + "xw"
GLPAT = "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn"
SLACK_BOT = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_USER = "xoxp-" + "1234567890-1234567890-1234567890-" + "0123456789abcdef" * 2
SLACK_HOOK = (
    "https://hooks.slack.com/services/" + "T04EXAMPL/B05EXAMPL/" + "Ex4mpleWebhookS3cretPart"
)
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_R = "rk_live_" + "51ExampleRestrictedKey000000"
ANTHROPIC = "sk-ant-api03-" + "Ex4mple_Key-" * 7 + "AA"
OPENAI_PROJ = "sk-proj-" + "Ex4mpleProjectKey_" * 3 + "AbC"
OPENAI_LEGACY = "sk-" + "Ab3dEf6hIj9lMn2pQr5t" + "T3BlbkFJ" + "uV8wXy1zAb4dEf7hIj0l"
OPENAI_48 = "sk-" + "Ab3dEf6hIj9lMn2pQr5tuV8wXy1zAb4dEf7hIj0lMn3pQr6s"
SF_KEY = "sk-sf-" + "Zm9vYmFyYmF6cXV4" * 2 + "abcdefghijk"
AZURE = (
    "DefaultEndpointsProtocol=https;AccountName=examplestore;AccountKey="
    + "Ex4mpleAzureStorageKey0+/" * 3
    + "Ex4mpleAzur"
    + "==;EndpointSuffix=core.windows.net"
)
PEM_BODY = "MIIEowIBAAKCAQEAx4mple" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 3
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA PRIVATE KEY-----"
OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAA\n" * 3
    + "-----END OPENSSH PRIVATE KEY-----"
)
TRUNCATED_PEM = "-----BEGIN PRIVATE KEY-----\n" + PEM_BODY + "\n" + PEM_BODY
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
JWT_NONE = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0."

# (text, type, rule, the exact text the finding covers)
POSITIVES = [
    (f"key id {AWS_ID} in use", "aws_access_key", "aws_access_key_id", AWS_ID),
    ("ASIA" + "Y34FZKBOKMUTVV7A", "aws_access_key", "aws_access_key_id", "ASIAY34FZKBOKMUTVV7A"),
    (
        f"aws_secret_access_key = {AWS_SECRET}",
        "aws_secret_key",
        "aws_secret_access_key",
        AWS_SECRET,
    ),
    (f'"AWS_SECRET_KEY": "{AWS_SECRET}"', "aws_secret_key", "aws_secret_access_key", AWS_SECRET),
    (f'"SecretAccessKey": "{AWS_SECRET}"', "aws_secret_key", "aws_secret_access_key", AWS_SECRET),
    (f"maps key={GCP}&q=x", "gcp_api_key", "gcp_api_key", GCP),
    (f"token {GHP}", "github_token", "github_token", GHP),
    ("gho_" + GHP[4:], "github_token", "github_token", "gho_" + GHP[4:]),
    ("ghs_" + GHP[4:], "github_token", "github_token", "ghs_" + GHP[4:]),
    (GITHUB_PAT, "github_token", "github_fine_grained_pat", GITHUB_PAT),
    (f"CI_TOKEN: {GLPAT}", "gitlab_token", "gitlab_pat", GLPAT),
    (SLACK_BOT, "slack_token", "slack_token", SLACK_BOT),
    (SLACK_USER, "slack_token", "slack_token", SLACK_USER),
    (f"post to {SLACK_HOOK}", "slack_webhook", "slack_webhook", SLACK_HOOK),
    (f"stripe.api_key = '{STRIPE}'", "stripe_key", "stripe_live_key", STRIPE),
    (STRIPE_R, "stripe_key", "stripe_live_key", STRIPE_R),
    (f"ANTHROPIC_API_KEY={ANTHROPIC}", "anthropic_api_key", "anthropic_api_key", ANTHROPIC),
    (f"OPENAI_API_KEY={OPENAI_PROJ}", "openai_api_key", "openai_project_key", OPENAI_PROJ),
    (OPENAI_LEGACY, "openai_api_key", "openai_legacy_key", OPENAI_LEGACY),
    (f"key: {OPENAI_48}", "openai_api_key", "openai_user_key", OPENAI_48),
    (f"Authorization: Bearer {SF_KEY}", "smartflow_key", "smartflow_virtual_key", SF_KEY),
    (AZURE, "azure_storage_key", "azure_storage_connection_string", AZURE),
    (f"here:\n{PEM}\nthanks", "private_key", "private_key_pem", PEM),
    (OPENSSH, "private_key", "private_key_pem", OPENSSH),
    (TRUNCATED_PEM, "private_key", "private_key_pem_truncated", TRUNCATED_PEM),
    (f"Authorization: Bearer {JWT}", "jwt", "jwt", JWT),
    (f"token={JWT_NONE} ", "jwt", "jwt", JWT_NONE),
    (
        "DATABASE_URL=postgres://app:S3cr3tP4ss@db.internal:5432/app",
        "connection_string",
        "database_url_password",
        "postgres://app:S3cr3tP4ss@db.internal:5432/app",
    ),
    (
        "mongodb+srv://svc:Tr0ub4dor3@cluster0.example.net/db",
        "connection_string",
        "database_url_password",
        "mongodb+srv://svc:Tr0ub4dor3@cluster0.example.net/db",
    ),
    (
        "redis://default:hunter2xyz@cache:6379/0",
        "connection_string",
        "database_url_password",
        "redis://default:hunter2xyz@cache:6379/0",
    ),
    (
        "Server=tcp:x.database.windows.net;Database=db;User ID=u;Password=Hj7kq2LmZ;",
        "connection_string",
        "ado_connection_string_password",
        "Password=Hj7kq2LmZ",
    ),
    (
        'api_key = "Zx9qL2mN7vB4cR8tY1wE5uI3oP6aS0dF"',
        "high_entropy_secret",
        "entropy_assignment",
        "Zx9qL2mN7vB4cR8tY1wE5uI3oP6aS0dF",
    ),
    (
        "export SERVICE_TOKEN=q8Xv2LmB7tRz4NwK",
        "high_entropy_secret",
        "entropy_assignment",
        "q8Xv2LmB7tRz4NwK",
    ),
    (
        '{"client_secret": "Q2xpZW50U2VjcmV0Rm9yVGVzdGluZw+/x9"}',
        "high_entropy_secret",
        "entropy_assignment",
        "Q2xpZW50U2VjcmV0Rm9yVGVzdGluZw+/x9",
    ),
    (
        "curl -H 'Authorization: Bearer q8Xv2LmB7tRz4NwKp3Ya9c' https://api.example.com",
        "high_entropy_secret",
        "entropy_assignment",
        "q8Xv2LmB7tRz4NwKp3Ya9c",
    ),
    (
        'password: "uc!Nlm#STvXkDy9bdwm85D"',  # quoted: punctuation belongs to the value
        "high_entropy_secret",
        "entropy_assignment",
        "uc!Nlm#STvXkDy9bdwm85D",
    ),
    (
        "webhook_secret: 7f3a9c2e81b64d05e9a1c3f7b2d48e6a",
        "high_entropy_secret",
        "entropy_assignment",
        "7f3a9c2e81b64d05e9a1c3f7b2d48e6a",
    ),
]


@pytest.mark.parametrize(("text", "type_", "rule", "covered"), POSITIVES)
def test_finds(text: str, type_: str, rule: str, covered: str) -> None:
    found = scan_secrets(text)
    hits = [(f.type, f.rule, text[f.start : f.end]) for f in found]
    assert (type_, rule, covered) in hits, hits
    assert len(found) == 1, hits  # the specific rule wins, nothing else fires on the same key
    assert found[0].scanner == "secrets"


NEGATIVES = [
    # prefixes with the wrong length or alphabet
    "AKIA" + "IOSFODNN7EXAMPL",  # 15 after the prefix
    "AKIA" + "IOSFODNN7EXAMPLE1",  # 17
    "AKIA" + "iosfodnn7example",  # lower case is not base32
    "AKIA" + "IOSFODNN8EXAMPLE",  # 8 is not in base32
    "AIza" + "SyD-tooShort",
    "ghp_" + "tooShort123",
    "ghx_" + "A1b2C3d4" * 4 + "E5f6",
    "glpat-" + "short",
    "xoxb-" + "not-a-token",
    "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",  # test mode is not a live secret
    "sk_live_" + "short",
    "sk-" + "abc",
    "sk-ant-" + "tooshort",
    "the task is sk-learn based",
    "github_pat_" + "11ABCDEFG0" + "_short",
    "sk-proj-" + "short-key",
    "sk-" + "Ab3dEf6hIj9lMn2pQr5" + "T3BlbkFJ" + "uV8wXy1zAb4dEf7hIj0l",  # 19 before the marker
    "sk-sf-" + "tooShort",
    "DefaultEndpointsProtocol=https;AccountName=examplestore;AccountKey=" + "Ab1+" * 10 + "==",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n",  # a header and a few characters
    # documentation placeholders in a provider's format
    "AKIA" + "XXXXXXXXXXXXXXXX",
    "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "X" * 24,
    "ghp_" + "x" * 36,
    "sk_live_" + "0" * 24,
    # the aws secret rule needs its assignment
    AWS_SECRET,
    # private keys mentioned, not pasted; public keys and certificates
    "the file starts with -----BEGIN RSA PRIVATE KEY----- and ends with the END line",
    "-----BEGIN PUBLIC KEY-----\n" + PEM_BODY + "\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\n" + PEM_BODY + "\n-----END CERTIFICATE-----",
    # JWT look-alikes: header without "alg", header not JSON, payload not JSON
    "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
    "eyJhYmNkZWZn.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
    "eyJhbGciOiJIUzI1NiJ9.eyJub3QganNvbg.abc",
    # connection strings without a real password
    "postgres://app@db.internal:5432/app",
    "postgres://app:${DB_PASSWORD}@db/app",
    "postgresql://user:password@localhost/db",
    "mysql://root:<password>@localhost:3306/db",
    "mongodb://admin:****@mongo:27017",
    "redis://user:%REDIS_PASS%@cache:6379",
    "Server=db;Database=x;User Id=u;Password={your_password};",
    "see https://example.com:8080/path",
    "Password=Hj7kq2LmZ;",  # no server or data source before it
    "host=db;port=5432;user=app;password=;",
    # assignments whose value is no secret
    "API_TOKEN=my_super_secret_token_value",
    'password = "correcthorsebatterystaple"',
    'password_hash = "5f4dcc3b5aa765d61d8327deb882cf99"',
    "token_sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "client_secret: 550e8400-e29b-41d4-a716-446655440000",
    'token = "your-api-key-goes-here-1234"',
    "api_key=YOUR_API_KEY_HERE_PLEASE",
    "secret_key = xxxxxxxxxxxxxxxxxxxxxxxx",
    "auth_token_count = 12345678901234567",
    "token_url = https://login.example.com/oauth2/token",
    "api_key_id: AbCdEf1234567890Zz",
    "access_key=aaaaaaaaaaaaaaaaaaaaAAAA11",
    "token: 1234567890abcdef",  # an alphabet walk
    'api_secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"',
    "OPENAI_API_KEY=settings.STRIPE_SECRET_KEY",  # where the secret lives, not the secret
    "api_key = process.env.ANTHROPIC_API_KEY",
    'curl -H "Authorization: Bearer $TOKEN" https://api.example.com',
    'password: "${DB_PASSWORD_FROM_VAULT}"',
    "Authorization: Bearer <your-token-goes-here>",
    # free-standing hashes, git SHAs, UUIDs
    "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request id 550e8400-e29b-41d4-a716-446655440000",
    "Zx9qL2mN7vB4cR8tY1wE5uI3oP6aS0dF",  # high entropy, but not assigned to anything
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_never_fire(text: str) -> None:
    found = scan_secrets(text)
    assert found == [], [(f.type, f.rule, text[f.start : f.end]) for f in found]


def test_several_in_one_text_ordered() -> None:
    text = f"a {GHP} b {AWS_ID} c {JWT} d"
    assert [f.type for f in scan_secrets(text)] == ["github_token", "aws_access_key", "jwt"]


@pytest.mark.parametrize(
    ("value", "bits"),
    [("aaaa", 0.0), ("abab", 1.0), ("abcd", 2.0), ("0123456789abcdef", 4.0)],
)
def test_shannon_entropy(value: str, bits: float) -> None:
    assert shannon_entropy(value) == pytest.approx(bits)


@pytest.mark.parametrize(
    ("value", "threshold"),
    [
        ("1234567890123456", None),  # digits: never a secret on entropy alone
        ("deadbeefdeadbeef", 3.0),  # hex
        ("alllowercaseletters", None),  # one character class
        ("ALLUPPERCASE_LETTERS", None),
        ("Mixed1234567890ab", pytest.approx(0.8 * 4.087, abs=0.01)),  # 17 chars
        ("Mixed1234567890abMixed1234567890ab", 4.0),  # capped
    ],
)
def test_entropy_threshold_per_charset(value: str, threshold: object) -> None:
    assert entropy_threshold(value) == threshold


@pytest.mark.parametrize(
    ("value", "walks", "filler"),
    [
        ("XXXXXXXXXXXXXXXX", False, True),  # a run
        ("ab" + "x" * 10 + "cd", False, True),
        ("XaXbXcXdXeXfXgXhX", False, True),  # one character is over half of it
        ("1234567890abcdef", False, False),  # walks only count when asked
        ("1234567890abcdef", True, True),
        ("q8Xv2LmB7tRz4NwK", True, False),
        ("IOSFODNN7EXAMPLE", True, False),
    ],
)
def test_is_filler(value: str, walks: bool, filler: bool) -> None:
    assert is_filler(value, walks=walks) is filler


PATHOLOGICAL = [
    "1" * 50_000,
    "a." * 25_000,
    "A" * 50_000,
    "token=" * 8_000,
    "secret_" * 7_000,
    "-----BEGIN RSA PRIVATE KEY-----\n" * 1_000,
    "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * 50_000,
    "server=x;" * 5_000,
    "eyJ" * 15_000 + ".",
    "postgres://a:" + "b" * 50_000,
    "Password: " * 5_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:12]))
def test_pathological_inputs_finish(text: str) -> None:
    """No timing: a regression to quadratic time takes minutes and trips the suite's timeout."""
    for f in scan_secrets(text):
        assert 0 <= f.start < f.end <= len(text)
