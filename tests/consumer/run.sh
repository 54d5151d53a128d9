#!/usr/bin/env bash
# usage: tests/consumer/run.sh BUILD_DIR
# Installs the zoo build in BUILD_DIR into a temporary prefix, then builds
# main.c against that install, as a user would, and runs it:
#   1. CMake find_package(zoo): zoo::zoo (shared) and zoo::zoo_static;
#   2. cc main.c $(pkg-config --cflags --libs zoo), shared.
# (pkg-config --static is not tried: it asks for static builds of every
# transitive dependency, and Debian ships none for libcurl's; a static
# libzoo with shared dependencies is what zoo::zoo_static gives.)
# Each run must succeed, print a summary with "Total params" and load the
# same OpenBLAS as the build tree's libzoo.
# Exits 77 (skipped) for a ZOO_SANITIZE build, which plain programs cannot link.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR (a configured and built zoo build directory)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if grep -q '^ZOO_SANITIZE:BOOL=ON$' "$build/CMakeCache.txt"; then
  echo "skipped: $build is a ZOO_SANITIZE build"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zoo-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# Runs a command quietly, showing its output only if it fails.
quiet() {
  local log=$tmp/step.log
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

# check NAME PROGRAM: runs PROGRAM, which must exit 0 and print a summary.
check() {
  local out=$tmp/$1.out
  if ! "$2" >"$out" 2>&1; then
    echo "FAILED: $1: $2 exited non-zero" >&2
    cat "$out" >&2
    exit 1
  fi
  if ! grep -q "Total params" "$out"; then
    echo "FAILED: $1: no 'Total params' in its output" >&2
    cat "$out" >&2
    exit 1
  fi
  if [ "$(blas_of "$2")" != "$blas" ]; then
    echo "FAILED: $1 loads OpenBLAS from '$(blas_of "$2")', the build from '$blas'" >&2
    exit 1
  fi
  echo "ok: $1"
}

# The libopenblas a binary loads: installed programs must get the same
# OpenBLAS variant (OpenMP) as the build tree's libzoo.
blas_of() { ldd "$1" | awk '/libopenblas/ { print $3 }'; }
blas=$(blas_of "$build/libzoo.so")

quiet cmake --install "$build" --prefix "$prefix"
for f in include/zoo/zoo.h include/zoo/engine.h bin/zoo; do
  [ -f "$prefix/$f" ] || { echo "FAILED: install lacks $f" >&2; exit 1; }
done
pcfile=$(find "$prefix" -name zoo.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pcfile" ] || { echo "FAILED: install lacks zoo.pc" >&2; exit 1; }
# The installed tool must find the installed libzoo (RPATH $ORIGIN/../lib).
if ! ldd "$prefix/bin/zoo" | grep 'libzoo' | grep -qF "$prefix/"; then
  echo "FAILED: installed bin/zoo does not load libzoo from $prefix:" >&2
  ldd "$prefix/bin/zoo" >&2
  exit 1
fi

# 1. CMake package.
quiet cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
grep -qF "zoo_DIR:PATH=$prefix/" "$tmp/cmake-build/CMakeCache.txt" || {
  echo "FAILED: find_package(zoo) did not find the package in $prefix" >&2
  grep '^zoo_DIR' "$tmp/cmake-build/CMakeCache.txt" >&2
  exit 1
}
quiet cmake --build "$tmp/cmake-build"
check cmake-shared "$tmp/cmake-build/consumer"
check cmake-static "$tmp/cmake-build/consumer_static"

# 2 and 3. pkg-config.
PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir zoo)
# Also: the installed headers compile warning-free in a strict C11 program.
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
quiet cc -std=c11 -Wall -Wextra -Werror -o "$tmp/pc-shared" "$here/main.c" \
  $(pkg-config --cflags --libs zoo) -Wl,-rpath,"$libdir"
check pkg-config-shared "$tmp/pc-shared"
echo "consumer_install: all 3 builds passed"
