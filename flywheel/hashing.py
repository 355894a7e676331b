"""Content ids: sha256 of normalised text, never hash()."""

import hashlib
import json
import re
import unicodedata

_WS = re.compile(r"\s+")


def sha256_text(*parts: str) -> str:
    """sha256 of the parts joined by NUL, so ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for i, part in enumerate(parts):
        if i:
            h.update(b"\0")
        # surrogatepass: a model's lone surrogate hashes too (valid text hashes as plain UTF-8)
        h.update(part.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def sha256_json(value: object) -> str:
    return sha256_text(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def normalize_informal(text: str) -> str:
    """Unicode NFC, whitespace collapsed, stripped: two copies of one problem hash alike."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()
