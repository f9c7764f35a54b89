#!/usr/bin/env bash
# Makes sure the C toolchain the JS runtime needs is here: a clang and an llvm-ar with a wasm32
# backend, and wasi-libc's headers. On Debian it installs the missing packages (as root, or
# through sudo); elsewhere it says what is missing. Usage: wasm-cc.sh CC AR WASI_INCLUDE
set -euo pipefail
cc=$1 ar=$2 include=$3
missing=()
command -v "$cc" >/dev/null || missing+=("$cc")
command -v "$ar" >/dev/null || missing+=("$ar")
[ -f "$include/stdio.h" ] || missing+=("$include/stdio.h")
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: missing ${missing[*]} (the JS runtime compiles QuickJS for wasm32)" >&2
if ! command -v apt-get >/dev/null; then
    echo "setup: install clang and llvm with the wasm32 target and wasi-libc, then set" \
         "WASM_CC, WASM_AR and WASI_INCLUDE for make" >&2
    exit 1
fi
suffix=""
[[ $cc =~ -[0-9]+$ ]] && suffix=${BASH_REMATCH[0]}
packages=("clang$suffix" "llvm$suffix" wasi-libc)
source "$(dirname "$0")/apt-lib.sh"
apt_install "${packages[@]}"
