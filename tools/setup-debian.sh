#!/usr/bin/env bash
# Installs everything zoo needs to build and test on Debian 12 (bookworm).
# Run as root, or as a user with sudo. Does nothing when all is installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopenblas-dev libopenblas-openmp-dev libjansson-dev
  libhdf5-dev libjpeg62-turbo-dev libpng-dev libcurl4-openssl-dev
  libssl-dev libcriterion-dev zlib1g-dev dataset-fashion-mnist
  python3 python3-numpy python3-torch python3-h5py python3-pil
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "setup-debian: run as root (or install sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "setup-debian: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
