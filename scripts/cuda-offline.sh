#!/usr/bin/env bash
# Builds `--features cuda` without internet access: Debian's LLVM 22 stands in for the LLVM
# bundle that cubecl-llvm's build script (through tracel-llvm-bundler) would download.
#
#   scripts/cuda-offline.sh cargo check --workspace --all-targets --features cuda
#   scripts/cuda-offline.sh cargo build --release --example movielens --features cuda
#
# What it does (the findings are in ../shared/notes/cuda-offline.md of the project's workspace):
# 1. installs llvm-22-dev (enough for `cargo check`) and libpolly-22-dev + libzstd-dev (needed
#    to link) from Debian's own repositories (bookworm-security and trixie carry 1:22.1.8) when
#    they are missing (as root, or through sudo);
# 2. lays out a fake tracel-llvm install: the bundler skips its download when
#    `$XDG_DATA_HOME/tracel/tracel-llvm-<version>/.tracel-llvm-installed` exists, and cubecl-llvm
#    then runs that directory's `bin/llvm-config`, here a wrapper over Debian's;
# 3. runs the given command with XDG_DATA_HOME pointing at it.
#
# Caveat: cubecl 0.11.3 targets LLVM 23; LLVM 22 knows PTX up to 9.0, so on CUDA drivers >= 13.1
# some kernels may be compiled for an older PTX version. cubecl-cuda's `cpp` feature (NVRTC)
# avoids LLVM at run time; burn 0.22.1's cuda backend does not enable it.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]   (e.g. $0 cargo check --workspace --features cuda)" >&2
    exit 2
fi

LLVM=/usr/lib/llvm-22
need=()
[ -x "$LLVM/bin/llvm-config" ] || need+=(llvm-22-dev)
[ -e "$LLVM/lib/libPolly.a" ] || need+=(libpolly-22-dev)
[ -e /usr/include/zstd.h ] || need+=(libzstd-dev)
if [ "${#need[@]}" -gt 0 ]; then
    echo "cuda-offline: installing ${need[*]}" >&2
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# the directory name must match the tracel-llvm-bundler version cargo resolved
version=$(awk '/^name = "tracel-llvm-bundler"/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)
if [ -z "$version" ]; then
    echo "cuda-offline: tracel-llvm-bundler is not in Cargo.lock (is the cuda feature wired?)" >&2
    exit 1
fi
shim="${STAR_CUDA_SHIM:-$HOME/.cache/star/tracel-llvm-shim}"
dir="$shim/tracel/tracel-llvm-$version"
mkdir -p "$dir/bin"
cat > "$dir/bin/llvm-config" <<EOF
#!/bin/sh
# Debian's llvm-config; the absolute libz3.so path (which the bundler would turn into
# -llibz3) becomes -lz3
out="\$($LLVM/bin/llvm-config "\$@")" || exit \$?
printf '%s\n' "\$out" | sed -e 's#[^ ]*/libz3\.so#-lz3#g'
EOF
chmod +x "$dir/bin/llvm-config"
touch "$dir/.tracel-llvm-installed"

echo "cuda-offline: LLVM $("$dir/bin/llvm-config" --version) through $dir" >&2
XDG_DATA_HOME="$shim" exec "$@"
