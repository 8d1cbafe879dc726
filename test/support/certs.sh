#!/bin/sh
# certs.sh DIR - test certificates for the TLS integration tests.
#
# Writes into DIR (created when missing), all PEM, P-256 keys, valid 2 days:
#   ca.crt ca.key           the test CA
#   server.crt server.key   signed by ca; SAN DNS:localhost, IP:127.0.0.1
#   client.crt client.key   signed by ca; extendedKeyUsage clientAuth
#   badhost.crt badhost.key signed by ca; SAN DNS:wrong.invalid only, so a
#                           client that checks the host name refuses it
#   other-ca.crt            a second CA that signed none of the above
# Keys are mode 0600. Exits non-zero (and says why on stderr) when openssl
# fails. Nothing outside DIR is touched.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: certs.sh DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

# ca NAME CN: a self-signed CA certificate NAME.crt with key NAME.key.
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.crt" 2>/dev/null
}

# leaf NAME CN EXTENSIONS: NAME.crt signed by ca, with NAME.key.
leaf() {
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
        -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "sensorpipe test CA"
ca other-ca "sensorpipe other test CA"
rm -f other-ca.key
leaf server localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client sensorpipe-test-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf badhost wrong.invalid "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.invalid"
# Certificates are public: readable, so a broker running as another user
# can load them; the keys stay 0600.
chmod 0644 ca.crt other-ca.crt server.crt client.crt badhost.crt
