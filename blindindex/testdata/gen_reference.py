#!/usr/bin/python3
"""Writes rfc4231.json, rfc5869.json and argon2id.json, and checks every
expected value against a second implementation before writing it:
Python's hmac/hashlib (OpenSSL) for RFC 4231 and RFC 5869, and the
reference Argon2 C library (libargon2, through Debian's python3-argon2)
for Argon2id. The expected values themselves are copied from the RFCs and
from phc-winner-argon2's src/test.c, not computed here, except the
"libargon2" Argon2id cases, which libargon2 computes.

Run: /usr/bin/python3 gen_reference.py   (apt-get install python3-argon2)
"""
import hashlib, hmac, json

def hkdf(ikm, salt, info, n):
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t; i += 1
    return prk, okm[:n]

H = bytes.hex
rfc4231 = [
    # (test case, key, data, HMAC-SHA-256 as printed in RFC 4231 section 4, truncated to 128 bits in case 5)
    (1, b"\x0b"*20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (2, b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (3, b"\xaa"*20, b"\xdd"*50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (4, bytes(range(1, 26)), b"\xcd"*50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (5, b"\x0c"*20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (6, b"\xaa"*131, b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (7, b"\xaa"*131, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]
out = []
for n, k, d, want in rfc4231:
    got = hmac.new(k, d, hashlib.sha256).hexdigest()[:len(want)]
    assert got == want, n
    out.append({"source": "RFC 4231 section 4.%d (test case %d)" % (n + 1, n), "key": H(k), "data": H(d), "mac": want})
json.dump(out, open("rfc4231.json", "w"), indent=1)

rfc5869 = [
    # (test case, IKM, salt, info, L, PRK, OKM) as printed in RFC 5869 appendix A
    (1, b"\x0b"*22, bytes(range(0x00, 0x0d)), bytes(range(0xf0, 0xfa)), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (2, bytes(range(0x00, 0x50)), bytes(range(0x60, 0xb0)), bytes(range(0xb0, 0x100)), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (3, b"\x0b"*22, b"", b"", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
]
out = []
for n, ikm, salt, info, L, prk, okm in rfc5869:
    p, o = hkdf(ikm, salt, info, L)
    assert H(p) == prk and H(o) == okm, n
    out.append({"source": "RFC 5869 appendix A.%d (test case %d, SHA-256)" % (n, n), "ikm": H(ikm), "salt": H(salt), "info": H(info), "length": L, "prk": prk, "okm": okm})
json.dump(out, open("rfc5869.json", "w"), indent=1)

from argon2.low_level import hash_secret_raw, Type
phc = [
    # phc-winner-argon2 src/test.c, Argon2id, version 0x13: (t, log2 m, p, pwd, salt, hex)
    (2, 16, 1, b"password", b"somesalt", "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"),
    (2, 18, 1, b"password", b"somesalt", "78fe1ec91fb3aa5657d72e710854e4c3d9b9198c742f9616c2f085bed95b2e8c"),
    (2, 8, 1, b"password", b"somesalt", "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe"),
    (2, 8, 2, b"password", b"somesalt", "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037"),
    (1, 16, 1, b"password", b"somesalt", "f6a5adc1ba723dddef9b5ac1d464e180fcd9dffc9d1cbf76cca2fed795d9ca98"),
    (4, 16, 1, b"password", b"somesalt", "9025d48e68ef7395cca9079da4c4ec3affb3c8911fe4f86d1a2520856f63172c"),
    (2, 16, 1, b"differentpassword", b"somesalt", "0b84d652cf6b0c4beaef0dfe278ba6a80df6696281d7e0d2891b817d8c458fde"),
    (2, 16, 1, b"password", b"diffsalt", "bdf32b05ccc42eb15d58fd19b1f856b113da1e9a5874fdcc544308565aa8141c"),
]
out = []
for t, m, p, pwd, salt, want in phc:
    got = hash_secret_raw(pwd, salt, t, 1 << m, p, 32, Type.ID, 0x13).hex()
    assert got == want, (t, m, p)
    out.append({"source": "phc-winner-argon2 src/test.c (Argon2id, v=0x13)", "password": H(pwd), "salt": H(salt), "time": t, "memoryKiB": 1 << m, "threads": p, "tag": want})
# The shape blindindex uses (a 32-byte password, a 16-byte binary salt,
# 32-byte tag) at DefaultSlow and lighter settings, computed by libargon2.
for t, mk, p in [(2, 19456, 1), (1, 4096, 1), (1, 64, 1), (3, 1024, 2)]:
    pwd = hashlib.sha256(b"blindindex argon2id cross-check password %d" % mk).digest()
    salt = hashlib.sha256(b"blindindex argon2id cross-check salt %d" % mk).digest()[:16]
    tag = hash_secret_raw(pwd, salt, t, mk, p, 32, Type.ID, 0x13).hex()
    out.append({"source": "libargon2 20171227 via python3-argon2 21.1.0 (Debian), gen_reference.py", "password": H(pwd), "salt": H(salt), "time": t, "memoryKiB": mk, "threads": p, "tag": tag})
json.dump(out, open("argon2id.json", "w"), indent=1)

# RFC 9106 section 5.3 (Argon2id with secret and associated data): x/crypto
# cannot take a secret or associated data, so this case is checked here,
# against libargon2, to show the library below agrees with the RFC.
from argon2._ffi import ffi, lib
def argon2_ctx(pwd, salt, secret, ad, t, m, p, n):
    out = ffi.new("uint8_t[]", n)
    keep = [ffi.new("uint8_t[]", x) for x in (pwd, salt, secret, ad)]
    ctx = ffi.new("argon2_context *", dict(out=out, outlen=n, pwd=keep[0], pwdlen=len(pwd), salt=keep[1], saltlen=len(salt),
        secret=keep[2], secretlen=len(secret), ad=keep[3], adlen=len(ad), t_cost=t, m_cost=m, lanes=p, threads=p,
        version=0x13, allocate_cbk=ffi.NULL, free_cbk=ffi.NULL, flags=0))
    assert lib.argon2_ctx(ctx, lib.Argon2_id) == 0
    return bytes(out).hex()
assert argon2_ctx(b"\x01"*32, b"\x02"*16, b"\x03"*8, b"\x04"*12, 3, 32, 4, 32) == \
    "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
print("all reference values agree")
