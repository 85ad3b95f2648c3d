"""Signed, timestamped WACZ packages, after Webrecorder's "WACZ Signing and
Verification" recommendation (0.1.0).

A package's `datapackage-digest.json` holds the SHA-256 of its
`datapackage.json` (which holds the SHA-256 of every other file) and
`signedData`, one of:

- anonymous: `signature` (ECDSA P-256 over SHA-256 of the `hash` string,
  base64 DER) and `publicKey` (base64 SubjectPublicKeyInfo DER). The key is
  made once per archive and kept in it (`keys/`, the private half 0600);
  whoever verifies pins the public key out of band (`verify --key`).
- domain: the same signature by the key of a TLS certificate, with `domain`
  and `domainCert` (the PEM chain), as Browsertrix's signer makes them.

With `--tsa URL`, an RFC 3161 timestamp authority signs the signature:
`timeSignature` (base64 TimeStampResp) and `timestampCert` (the PEM
certificates the authority sent). The verifier checks `created` is within
ten minutes of the authority's time, as the recommendation says.

What this proves: that whoever holds the key packaged exactly these bytes,
and (with a timestamp) that they existed by then. Not what a web server sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID, NameOID

from ..archive.layout import KEYS_DIR
from ..config import VERSION
from ..errors import ConfigError, StoreError

__all__ = ["PackageReport", "Signer", "anonymous_signer", "domain_signer", "key_fingerprint", "load_certificates",
           "load_public_key", "sign_package_digest", "verify_package"]

PRIVATE_KEY = "signing-key.pem"
PUBLIC_KEY = "signing-key.pub.pem"
STAMP_WINDOW = timedelta(minutes=10)  # `created` vs the authority's time, per the recommendation
TSA_TIMEOUT = 30.0
_IMPRINT_HASHES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
                   "2.16.840.1.101.3.4.2.3": "sha512", "1.3.14.3.2.26": "sha1"}
SOFTWARE = f"archiver {VERSION}"


@dataclass
class Signer:
    key: ec.EllipticCurvePrivateKey
    domain: str | None = None  # domain signing: the certificate's name
    chain_pem: str | None = None  # ... and its PEM chain, leaf first

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key.public_key())


def key_fingerprint(public_key: Any) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex: how people compare keys."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def anonymous_signer(archive: Path) -> tuple[Signer, Path]:
    """The archive's own ECDSA P-256 key, made on first use; (signer, public key file)."""
    folder = archive / KEYS_DIR
    private, public = folder / PRIVATE_KEY, folder / PUBLIC_KEY
    if private.exists():
        try:
            key = serialization.load_pem_private_key(private.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(f"{private}: not a usable private key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise StoreError(f"{private}: not an ECDSA P-256 key")
        if (private.stat().st_mode & 0o077) != 0:
            raise StoreError(f"{private}: readable by others; 'chmod 600 {private}' before signing with it")
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            # Created 0600 from the start: never a moment others could read it.
            fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            return anonymous_signer(archive)  # another process made it first
        except OSError as exc:
            raise StoreError(f"cannot write the archive's signing key in {folder}: {exc.strerror or exc}") from None
    if not public.exists():
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return Signer(key=key), public


def domain_signer(cert_path: str, key_path: str) -> Signer:
    """A TLS certificate (PEM chain, leaf first) and its ECDSA private key."""
    try:
        certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cert_path}: not a PEM certificate chain ({exc})") from None
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{key_path}: not a usable private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{key_path}: the recommendation signs with ECDSA keys; this is another kind")
    if key_fingerprint(key.public_key()) != key_fingerprint(certs[0].public_key()):
        raise ConfigError(f"{key_path} is not the key of the certificate in {cert_path}")
    domain = _cert_name(certs[0])
    if not domain:
        raise ConfigError(f"{cert_path}: the certificate names no domain")
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)
    return Signer(key=key, domain=domain, chain_pem=chain)


def load_certificates(path: str) -> list[x509.Certificate]:
    """Trusted certificates given on the command line (a PEM file of one or more)."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a PEM certificate file ({exc})") from None


def load_public_key(path: str) -> Any:
    """A pinned public key: a PEM file, or the base64 DER a package carries."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key {path}: {exc.strerror or exc}") from None
    try:
        if b"-----BEGIN" in data:
            if b"CERTIFICATE" in data:
                return x509.load_pem_x509_certificates(data)[0].public_key()
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(base64.b64decode(data.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ConfigError(f"{path}: not a public key (PEM, or base64 DER) ({exc})") from None


def _cert_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return str(names[0].value)
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        dns = san.value.get_values_for_type(x509.DNSName)
        return dns[0] if dns else ""
    except x509.ExtensionNotFound:
        return ""


# -- signing -------------------------------------------------------------------


def sign_package_digest(digest_hash: str, created: str, signer: Signer, *, tsa_url: str | None = None,
                        tsa_timeout: float = TSA_TIMEOUT) -> dict[str, Any]:
    """The `signedData` of a package whose datapackage.json hashes to `digest_hash`."""
    signature = base64.b64encode(signer.key.sign(digest_hash.encode("ascii"), ec.ECDSA(hashes.SHA256()))).decode("ascii")
    signed: dict[str, Any] = {"hash": digest_hash, "created": created, "software": SOFTWARE, "version": "0.1.0",
                              "signature": signature}
    if signer.domain:
        signed["domain"] = signer.domain
        signed["domainCert"] = signer.chain_pem
    else:
        der = signer.key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        signed["publicKey"] = base64.b64encode(der).decode("ascii")
    if tsa_url:
        token, chain = request_timestamp(tsa_url, signature.encode("ascii"), timeout=tsa_timeout)
        signed["timeSignature"] = base64.b64encode(token).decode("ascii")
        signed["timestampCert"] = chain
    return signed


def request_timestamp(tsa_url: str, data: bytes, *, timeout: float = TSA_TIMEOUT) -> tuple[bytes, str]:
    """(TimeStampResp DER, the authority's certificates as PEM) for `data`,
    after checking the answer is for this request (imprint and nonce)."""
    from rfc3161_client import HashAlgorithm, PKIStatus, TimestampRequestBuilder, decode_timestamp_response

    request = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
               .cert_request(cert_request=True).build())
    try:
        answer = httpx.post(tsa_url, content=request.as_bytes(), timeout=timeout,
                            headers={"Content-Type": "application/timestamp-query",
                                     "Accept": "application/timestamp-reply"})
    except httpx.HTTPError as exc:
        raise StoreError(f"timestamp authority {tsa_url}: {type(exc).__name__}: {exc}; the package was not written")\
            from None
    if answer.status_code != 200:
        raise StoreError(f"timestamp authority {tsa_url} answered HTTP {answer.status_code}; the package was not"
                         " written")
    try:
        response = decode_timestamp_response(answer.content)
    except ValueError as exc:
        raise StoreError(f"timestamp authority {tsa_url}: not an RFC 3161 answer ({exc})") from None
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise StoreError(f"timestamp authority {tsa_url} refused: {'; '.join(response.status_string) or 'no reason'}")
    # The answer is for this request: our nonce, our data. (Its chain of
    # trust is for the verifier to anchor: `verify --tsa-cert`.)
    info = response.tst_info
    if info.nonce != request.nonce or info.message_imprint.message != hashlib.sha256(data).digest():
        raise StoreError(f"timestamp authority {tsa_url}: its timestamp is not for this request")
    certs = _token_certs(response)
    if not certs:
        raise StoreError(f"timestamp authority {tsa_url} sent no certificate with its timestamp")
    return response.as_bytes(), "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def _token_certs(response: Any) -> list[x509.Certificate]:
    """The certificates in a timestamp token, the signing one first."""
    certs = [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
    infos = list(response.signed_data.signer_infos)
    if infos:
        si = infos[0]
        certs.sort(key=lambda c: not (c.issuer == si.issuer and c.serial_number == si.serial_number))
    return certs


# -- verifying -------------------------------------------------------------------


@dataclass
class PackageReport:
    path: Path
    files: int = 0
    signed: bool = False
    signer: dict[str, Any] = field(default_factory=dict)
    timestamp: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"package": str(self.path), "ok": self.ok, "files": self.files, "signed": self.signed,
                "signer": self.signer or None, "timestamp": self.timestamp, "problems": self.problems,
                "notes": self.notes}


def _sha256_member(z: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with z.open(name) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def verify_package(path: str | Path, *, key: Any = None, tsa_roots: list[x509.Certificate] | None = None,
                   domain_roots: list[x509.Certificate] | None = None) -> PackageReport:
    """Check a WACZ package: every file against datapackage.json, that file
    against datapackage-digest.json, the signature (against `key` when one
    is pinned) and the timestamp (anchored in `tsa_roots` when given)."""
    report = PackageReport(path=Path(path))
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"{path}: not a readable WACZ (zip) file ({exc})")
        return report
    with z:
        names = set(z.namelist())
        try:
            package_bytes = z.read("datapackage.json")
            package = json.loads(package_bytes)
            resources = package["resources"]
            assert isinstance(resources, list)
        except KeyError:
            report.problems.append("datapackage.json: missing")
            return report
        except (ValueError, AssertionError, TypeError, zipfile.BadZipFile) as exc:
            report.problems.append(f"datapackage.json: unreadable ({exc})")
            return report
        listed = set()
        for res in resources:
            name = res.get("path") if isinstance(res, dict) else None
            if not isinstance(name, str):
                report.problems.append("datapackage.json: a resource without a path")
                continue
            listed.add(name)
            if name not in names:
                report.problems.append(f"{name}: listed in datapackage.json, missing from the package")
                continue
            try:
                got, size = _sha256_member(z, name)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:  # the zip's own CRC failed
                report.problems.append(f"{name}: damaged inside the package ({exc})")
                continue
            report.files += 1
            if got != res.get("hash"):
                report.problems.append(f"{name}: its SHA-256 is not the one datapackage.json lists: the file"
                                       " changed")
            elif res.get("bytes") is not None and size != res.get("bytes"):
                report.problems.append(f"{name}: {size} bytes, datapackage.json says {res.get('bytes')}")
        for name in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
            if not name.endswith("/"):
                report.problems.append(f"{name}: in the package but not listed in datapackage.json (added later)")
        if "datapackage-digest.json" not in names:
            report.notes.append("no datapackage-digest.json: the package is not signed")
            if key is not None:
                report.problems.append("the package is not signed, and a key was given to check it against")
            return report
        try:
            digest = json.loads(z.read("datapackage-digest.json"))
            assert isinstance(digest, dict)
        except (ValueError, AssertionError, zipfile.BadZipFile) as exc:
            report.problems.append(f"datapackage-digest.json: unreadable ({exc})")
            return report
    want = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    if digest.get("hash") != want:
        report.problems.append("datapackage.json: its SHA-256 is not the one in datapackage-digest.json: it changed")
    signed = digest.get("signedData")
    if not isinstance(signed, dict):
        report.notes.append("not signed (datapackage-digest.json has no signedData)")
        if key is not None:
            report.problems.append("the package is not signed, and a key was given to check it against")
        return report
    report.signed = True
    _check_signature(report, signed, digest, package, key, domain_roots)
    if signed.get("timeSignature"):
        _check_timestamp(report, signed, tsa_roots)
    else:
        report.notes.append("no trusted timestamp: the signing time is the signer's own word")
    return report


def _verify_ecdsa(public_key: Any, signature_b64: str, data: bytes) -> bool:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    candidates = [sig]
    if len(sig) == 64:  # WebCrypto writes r||s (IEEE P1363), not DER
        candidates.append(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")))
    for candidate in candidates:
        try:
            public_key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def _check_signature(report: PackageReport, signed: dict[str, Any], digest: dict[str, Any], package: dict[str, Any],
                     key: Any, domain_roots: list[x509.Certificate] | None) -> None:
    if signed.get("hash") != digest.get("hash"):
        report.problems.append("datapackage-digest.json: the signed hash is not the package's hash")
    if signed.get("created") != package.get("created"):
        report.problems.append("datapackage-digest.json: the signed 'created' is not datapackage.json's")
    message = str(signed.get("hash") or "").encode("ascii", "replace")
    report.signer = {"created": signed.get("created"), "software": signed.get("software")}
    if signed.get("domainCert"):
        try:
            certs = x509.load_pem_x509_certificates(str(signed["domainCert"]).encode("ascii"))
        except ValueError as exc:
            report.problems.append(f"datapackage-digest.json: domainCert is not a PEM chain ({exc})")
            return
        public = certs[0].public_key()
        report.signer.update({"kind": "domain", "domain": signed.get("domain"), "certificate": _cert_name(certs[0]),
                              "key_sha256": key_fingerprint(public)})
        if signed.get("domain") != _cert_name(certs[0]):
            report.problems.append(f"the signature's domain {signed.get('domain')!r} is not its certificate's"
                                   f" ({_cert_name(certs[0])!r})")
        _check_domain_chain(report, certs, signed, domain_roots)
    elif signed.get("publicKey"):
        try:
            public = serialization.load_der_public_key(base64.b64decode(str(signed["publicKey"]), validate=True))
        except (ValueError, binascii.Error) as exc:
            report.problems.append(f"datapackage-digest.json: publicKey is not a public key ({exc})")
            return
        report.signer.update({"kind": "anonymous", "key_sha256": key_fingerprint(public)})
    else:
        report.problems.append("datapackage-digest.json: signedData has neither publicKey nor domainCert")
        return
    if not isinstance(public, ec.EllipticCurvePublicKey) or not _verify_ecdsa(public, str(signed.get("signature")),
                                                                              message):
        report.problems.append("the signature over datapackage.json's hash does not verify with the package's key")
    if key is not None:
        if key_fingerprint(key) != key_fingerprint(public):
            report.problems.append(f"signed with another key than the one given (the package's key is"
                                   f" {key_fingerprint(public)[:16]}…, the given one {key_fingerprint(key)[:16]}…)")
        else:
            report.signer["key_pinned"] = True
    elif report.signer.get("kind") == "anonymous":
        report.notes.append("the signing key was not checked against a known one: pass --key to say whose it is")


def _check_domain_chain(report: PackageReport, certs: list[x509.Certificate], signed: dict[str, Any],
                        roots: list[x509.Certificate] | None) -> None:
    """The domain certificate chains to a trusted root (the system's, via
    certifi, or the ones given) as of the signing time."""
    from cryptography.x509.verification import DNSName, PolicyBuilder, Store, VerificationError

    if roots is None:
        try:
            import certifi
            with warnings.catch_warnings():  # a few old roots have serials RFC 5280 now forbids
                warnings.simplefilter("ignore")
                roots = x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes())
        except (ImportError, OSError, ValueError):
            roots = []
    when = _parse_time(signed.get("created")) or datetime.now(timezone.utc)
    try:
        verifier = PolicyBuilder().store(Store(roots)).time(when).build_server_verifier(
            DNSName(str(signed.get("domain") or "")))
        verifier.verify(certs[0], certs[1:])
        report.signer["certificate_trusted"] = True
    except (VerificationError, ValueError) as exc:
        report.problems.append(f"the domain certificate does not chain to a trusted root ({exc})")


def _parse_time(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _check_timestamp(report: PackageReport, signed: dict[str, Any], roots: list[x509.Certificate] | None) -> None:
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        response = decode_timestamp_response(base64.b64decode(str(signed["timeSignature"]), validate=True))
    except (ValueError, binascii.Error) as exc:
        report.problems.append(f"timeSignature: not an RFC 3161 timestamp ({exc})")
        return
    included = _token_certs(response)
    try:
        pem_chain = x509.load_pem_x509_certificates(str(signed.get("timestampCert") or "").encode("ascii"))
    except ValueError:
        pem_chain = []
    signature = str(signed.get("signature") or "").encode("ascii", "replace")
    imprint = response.tst_info.message_imprint
    algo = _IMPRINT_HASHES.get(imprint.hash_algorithm.dotted_string)
    if algo is None or imprint.message != hashlib.new(algo, signature).digest():
        report.problems.append("the timestamp is not of this package's signature")
        return
    # Anchored in the roots given, else in a self-signed certificate the
    # package carries (which proves only that the token is whole).
    pool = pem_chain + [c for c in included if c not in pem_chain]
    anchors = roots or [c for c in pool if c.issuer == c.subject]
    verified = False
    if anchors:
        try:
            builder = VerifierBuilder()
            for cert in anchors:
                builder = builder.add_root_certificate(cert)
            for cert in pool:
                if cert not in anchors:
                    builder = builder.add_intermediate_certificate(cert)
            builder.build().verify(response, imprint.message)
            verified = True
        except (VerificationError, ValueError) as exc:
            report.problems.append(f"the timestamp does not verify"
                                   f"{' against the given authority' if roots else ''} ({exc})")
            return
    gen_time = response.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=timezone.utc)
    authority = included[0].subject.rfc4514_string() if included else (
        pem_chain[0].subject.rfc4514_string() if pem_chain else "")
    report.timestamp = {"time": gen_time.isoformat().replace("+00:00", "Z"), "authority": authority,
                        "anchored": bool(roots), "signature_checked": verified}
    created = _parse_time(signed.get("created"))
    if created is None or abs(created - gen_time) > STAMP_WINDOW:
        report.problems.append(f"the package says it was made at {signed.get('created')}, the timestamp says"
                               f" {report.timestamp['time']}: more than 10 minutes apart")
    if not verified:
        report.notes.append("the timestamp's signature was not checked: the package lacks its authority's root;"
                            " pass --tsa-cert")
    elif not roots:
        report.notes.append("the timestamp authority's certificate was not checked against a trusted one:"
                            " pass --tsa-cert to pin it")
