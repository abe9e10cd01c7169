#!/bin/sh
# Rebuilds hello.wasm, a WASI command component, from hello.wat with
# wasm-tools 1.262.0 and the WASI preview 1 command adapter of the corpus
# (corpus/fetch.sh puts both in $WSC_CORPUS). The result is committed.
set -eu
cd "$(dirname "$0")"
C=${WSC_CORPUS:-$HOME/.cache/wsc-corpus}
WT=$C/.cache/wasm-tools-1.262.0
"$WT" parse hello.wat -o hello-core.wasm
"$WT" component new hello-core.wasm --adapt "wasi_snapshot_preview1=$C/wasi-adapter-command.wasm" -o hello.wasm
rm hello-core.wasm
sha256sum hello.wasm
