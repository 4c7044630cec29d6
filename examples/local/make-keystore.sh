#!/usr/bin/env bash
# Makes the demo's key material with keytool: a JKS keystore holding one RSA 2048 key
# (alias "demo") and the certificate the local authorization server verifies it with.
# The outputs are committed; run this again only to replace them.
set -euo pipefail
cd "$(dirname "$0")"

password="$(cat demo-keystore.password)"
rm -f demo-keystore.jks demo-cert.pem

keytool -genkeypair -noprompt \
  -alias demo -keyalg RSA -keysize 2048 -sigalg SHA256withRSA \
  -dname "CN=token-broker demo client, O=token-broker" -validity 3650 \
  -storetype JKS -keystore demo-keystore.jks \
  -storepass "$password" -keypass "$password" 2>/dev/null

keytool -exportcert -rfc -alias demo -keystore demo-keystore.jks -storetype JKS \
  -storepass "$password" -file demo-cert.pem 2>/dev/null

echo "wrote $(pwd)/demo-keystore.jks and demo-cert.pem"
