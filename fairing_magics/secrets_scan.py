"""Find credentials in bytes: image layers, image config, logs, specs, messages.

Used by the tests that prove AWS keys, registry tokens and Kubernetes tokens never reach an
image, a label or a log, and usable by anyone who wants to check an artifact before sharing it.
Findings name the kind of credential and where it is, never the credential itself (a finding
may end up in a CI log).
"""

from __future__ import annotations

import base64
import gzip
import io
import re
import tarfile
from collections.abc import Iterable

# The example keys of the AWS documentation appear in botocore's own docstrings; they are no
# one's credentials, and an image holding boto3 must not be reported for them.
_DOCUMENTED_EXAMPLES = (b"AKIAIOSFODNN7EXAMPLE", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple(
    (kind, re.compile(pattern.encode()))
    for kind, pattern in (
        ("AWS access key id", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
        ("AWS secret access key",
         r"(?i)(?:aws_?secret_?access_?key|secretaccesskey)"
         r"[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}"),
        ("AWS session token",
         r"(?i)(?:aws_?session_?token|sessiontoken)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{100,}"),
        ("ECR authorization token", r"QVdTO[a-zA-Z0-9+/]{20,}={0,2}"),
        ("docker config auth",
         r"(?i)\"(?:auth|identitytoken|registrytoken)\"\s*:\s*\"[A-Za-z0-9+/=._-]{8,}\""),
        ("authorization header",
         r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
        ("bearer token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
        ("password in URL", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@"),
        ("JWT (Kubernetes service-account token)",
         r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
        ("private key", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    )
)


def find_credentials(data: bytes | str, known: Iterable[str | bytes] = ()) -> list[str]:
    """Return one line per credential found in ``data``: ``"<kind> at offset <n>"``.

    ``known`` are secret values that must not appear either (e.g. the AWS secret key of the
    current session): each is looked for as is and base64-encoded. Empty list = clean.
    """
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    findings = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(blob):
            if any(example in match.group(0) for example in _DOCUMENTED_EXAMPLES):
                continue
            findings.append(f"{kind} at offset {match.start()}")
    for secret in known:
        secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(secret) < 8:
            continue  # too short to be told from ordinary text
        for form, needle in (("a known secret", secret),
                             ("a known secret (base64)", base64.b64encode(secret).rstrip(b"="))):
            at = blob.find(needle)
            if at >= 0:
                findings.append(f"{form} at offset {at}")
    return findings


def find_credentials_in_blob(blob: bytes, known: Iterable[str | bytes] = ()) -> list[str]:
    """Like :func:`find_credentials` for an image blob: gzip is undone, tar members are scanned
    one by one (names and contents), findings are prefixed with the member path."""
    known = tuple(known)
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(blob), mode="r:")
    except tarfile.TarError:
        return find_credentials(blob, known)
    findings = []
    with archive:
        for member in archive:
            for finding in find_credentials(member.name + "\n" + (member.linkname or ""), known):
                findings.append(f"{member.name} (name): {finding}")
            if member.isfile():
                content = archive.extractfile(member).read()
                findings.extend(f"{member.name}: {f}" for f in find_credentials(content, known))
    return findings
