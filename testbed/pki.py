"""Certificates, keys and the admin kubeconfig for a loopback Kubernetes control plane.

One throwaway CA signs a serving certificate (SANs 127.0.0.1, localhost and the in-cluster
names) shared by kube-apiserver and kube-controller-manager, and client certificates for the
admin (group system:masters) and the controller manager. A separate RSA pair signs
service-account tokens. Keys are small and short-lived on purpose: this is a test bed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVING_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
               "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    kcm_cert: Path
    kcm_key: Path
    sa_key: Path
    sa_pub: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _sign(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
          usage: list[x509.ObjectIdentifier] | None = None,
          sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False, data_encipherment=False,
                          key_agreement=False, encipher_only=False, decipher_only=False),
            critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                          crl_sign=False, content_commitment=False, data_encipherment=False,
                          key_agreement=False, encipher_only=False, decipher_only=False),
            critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage or []), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pair(directory: Path, stem: str, cert: x509.Certificate,
          key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


def make_pki(directory: Path, service_ip: str = "10.0.0.1", extra_ips: tuple[str, ...] = ()) -> Pki:
    """Write a CA, serving and client certificates and a service-account key pair to directory.

    extra_ips go into the serving certificate too: the real node's pods reach the API server
    through the test bed's bridge address (testbed.node.forward)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("barque-testbed-ca")
    ca_cert, ca_key_path = _pair(directory, "ca", _sign(ca_name, ca_key, ca_name, ca_key, ca=True), ca_key)

    serving_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in SERVING_DNS]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", service_ip, *extra_ips)]
    serving = _sign(_name("kube-apiserver"), serving_key, ca_name, ca_key,
                    usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans)
    serving_cert, serving_key_path = _pair(directory, "serving", serving, serving_key)

    clients = {}
    for stem, cn, org in (("admin", "barque-testbed-admin", "system:masters"),
                          ("kcm", "system:kube-controller-manager", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _sign(_name(cn, org), key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        clients[stem] = _pair(directory, stem, cert, key)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_key_path, sa_pub_path = directory / "sa.key", directory / "sa.pub"
    _write_key(sa_key_path, sa_key)
    sa_pub_path.write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    return Pki(dir=directory, ca_cert=ca_cert, ca_key=ca_key_path, serving_cert=serving_cert,
               serving_key=serving_key_path, admin_cert=clients["admin"][0], admin_key=clients["admin"][1],
               kcm_cert=clients["kcm"][0], kcm_key=clients["kcm"][1], sa_key=sa_key_path, sa_pub=sa_pub_path)


def write_kubeconfig(path: Path, server: str, ca_cert: Path, client_cert: Path, client_key: Path,
                     user: str = "admin") -> Path:
    """A kubeconfig with one cluster, one user (client certificate) and one current context."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client_cert), "client-key": str(client_key)}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user, "namespace": "default"}}],
        "current-context": "testbed",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
