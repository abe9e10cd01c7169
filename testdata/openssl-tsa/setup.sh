#!/bin/sh
# An RFC 3161 timestamp authority made with openssl, for tests:
#   setup.sh DIR [NAME]
# writes DIR/root.pem (self-signed CA), DIR/tsa.pem (P-256, critical EKU
# timeStamping), DIR/chain.pem (tsa.pem then root.pem), their keys and
# DIR/ts.cnf, so that
#   openssl ts -reply -config DIR/ts.cnf -queryfile Q -out R
# answers a request. genTime is in whole seconds.
set -eu
dir=$1
name=${2:-Test TSA}
mkdir -p "$dir"
cd "$dir"
openssl ecparam -name prime256v1 -genkey -noout -out root.key
openssl req -x509 -new -key root.key -out root.pem -subj "/CN=$name Root" -days 3650 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl ecparam -name prime256v1 -genkey -noout -out tsa.key
openssl req -new -key tsa.key -out tsa.csr -subj "/CN=$name"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n' > leaf.ext
openssl x509 -req -in tsa.csr -CA root.pem -CAkey root.key -CAcreateserial -out tsa.pem -days 3650 \
  -extfile leaf.ext 2>/dev/null
cat tsa.pem root.pem > chain.pem
echo 01 > serial
p=$(pwd)
cat > ts.cnf <<CNF
[ tsa ]
default_tsa = t
[ t ]
dir = $p
serial = $p/serial
crypto_device = builtin
signer_cert = $p/tsa.pem
signer_key = $p/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
