#!/usr/bin/python3
"""Writes terms.json: blind-index terms computed by this second, independent
implementation of the construction in the package documentation (Python's
hmac/hashlib and libargon2 through Debian's python3-argon2), so that the Go
code is checked against a reading of the spec it did not write. Inputs are
chosen so that Python's str.strip/casefold/unicodedata agree with the Go
transforms (plain and simple non-ASCII text).

Run: /usr/bin/python3 gen_terms.py
"""
import hashlib, hmac, json, struct, unicodedata
from argon2.low_level import hash_secret_raw, Type

def u32(n): return struct.pack(">I", n)
def lp(b): return u32(len(b)) + b

def hkdf(ikm, info, n=32):
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()  # no salt: HashLen zero bytes (RFC 5869 2.2)
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t; i += 1
    return okm[:n]

def transform(spec, s):
    for step in spec.split("+") if spec else []:
        if step == "nfc": s = unicodedata.normalize("NFC", s)
        elif step == "nfkc": s = unicodedata.normalize("NFKC", s)
        elif step == "trim": s = s.strip()
        elif step == "email-local": s = s[:s.rindex("@")]
        elif step == "fold": s = s.casefold()
        elif step == "digits": s = "".join(c for c in s if "0" <= c <= "9")
        elif step.startswith("first"): s = s[:int(step[5:])]
        elif step.startswith("last"): n = int(step[4:]); s = s[-n:] if n < len(s) else s
        else: raise ValueError(step)
    return s

def term(root, version, scope, field, index, inputs, bits, slow, values):
    info = lp(b"fieldcrypt blindindex v1 term key") + u32(version) + lp(scope.encode()) + lp(field.encode()) + lp(index.encode())
    info += u32(len(inputs)) + b"".join(lp(t.encode()) for t in inputs) + u32(bits)
    info += b"\x00" if slow is None else b"\x01" + u32(slow[0]) + u32(slow[1]) + bytes([slow[2]])
    tk = hkdf(root, info)
    msg = u32(len(values)) + b"".join(lp(transform(t, v).encode()) for t, v in zip(inputs, values))
    h = hmac.new(tk, msg, hashlib.sha256).digest()
    if slow is not None:
        salt = hmac.new(tk, b"fieldcrypt blindindex v1 argon2id salt", hashlib.sha256).digest()[:16]
        h = hash_secret_raw(h, salt, slow[1], slow[0], slow[2], 32, Type.ID, 0x13)
    n = (bits + 7) // 8
    t = bytearray(h[:n])
    if bits % 8:
        t[-1] &= (0xFF << (8 - bits % 8)) & 0xFF
    return "v%d:%s" % (version, t.hex()), u32(version).hex() + t.hex()

root1 = bytes(range(32))
root2 = hashlib.sha256(b"fieldcrypt blindindex test root 2").digest()
cases = [
    # root, version, scope, field, index, inputs, bits, slow (m, t, p) or None, values
    (root1, 1, "shop.Customer", "Email", "email", [""], 16, None, ["ann@example.com"]),
    (root1, 1, "shop.Customer", "Email", "email", ["trim+fold"], 16, None, ["  Ann@Example.COM "]),
    (root1, 1, "shop.Customer", "Email", "email", ["trim+fold"], 16, None, ["ann@example.com"]),
    (root1, 2, "shop.Customer", "Email", "email", ["trim+fold"], 16, None, ["ann@example.com"]),
    (root2, 1, "shop.Customer", "Email", "email", ["trim+fold"], 16, None, ["ann@example.com"]),
    (root1, 1, "shop.Customer", "Email", "email_local", ["trim+email-local+fold"], 24, None, ["Ann.Lee@example.com"]),
    (root1, 1, "shop.Customer", "Card", "card_last4", ["digits+last4"], 12, None, ["4111 1111 1111 1234"]),
    (root1, 1, "shop.Customer", "Card", "card_last4", ["digits+last4"], 12, None, ["4000-0000-0000-1234"]),
    (root1, 1, "shop.Customer", "Card", "card_last4", ["digits+last4"], 128, None, ["4000-0000-0000-1234"]),
    (root1, 1, "shop.Customer", "Name", "name_prefix", ["nfkc+trim+fold+first3"], 8, None, ["  Ｍüller "]),
    (root1, 1, "shop.Customer", "Name", "name_nfc", ["nfc"], 33, None, ["Mu\u0308ller"]),
    (root1, 1, "shop.Customer", "NameYear", "name_year", ["trim+fold", "digits"], 20, None, ["Lee", "1984"]),
    (root1, 1, "shop.Customer", "NameYear", "name_year", ["trim+fold", "digits"], 20, None, ["Le", "e1984"]),
    (root1, 1, "shop.Customer", "NameYear", "name_year", ["", ""], 64, None, ["ab", "c"]),
    (root1, 1, "shop.Customer", "NameYear", "name_year", ["", ""], 64, None, ["a", "bc"]),
    (root1, 1, "shop.Customer", "SSN", "ssn", ["digits"], 16, (64, 1, 1), ["123-45-6789"]),
    (root1, 1, "shop.Customer", "SSN", "ssn", ["digits"], 16, (19456, 2, 1), ["123-45-6789"]),
    (root1, 3, "", "", "x", [""], 8, None, [""]),
]
out = []
for root, v, scope, field, index, inputs, bits, slow, values in cases:
    text, binary = term(root, v, scope, field, index, inputs, bits, slow, values)
    out.append({"root": root.hex(), "version": v, "scope": scope, "field": field, "index": index,
                "inputs": inputs, "bits": bits, "slow": None if slow is None else "m%d+t%d+p%d" % slow,
                "values": values, "term": text, "binary": binary})
json.dump(out, open("terms.json", "w"), indent=1, ensure_ascii=False)
print(len(out), "terms")
