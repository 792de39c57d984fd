#!/usr/bin/env bash
# Installs the benchmark peer: Debian's PyTorch (CPU) with the pthread OpenBLAS.
# Idempotent: does nothing when both packages are already installed.
#   bash bench/setup.sh
set -euo pipefail

PACKAGES=(python3-torch libopenblas0-pthread)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench/setup.sh: apt-get not found; install ${missing[*]} (or PyTorch for python3) another way" >&2
    exit 1
  fi
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  echo "bench/setup.sh: installing ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
  echo "bench/setup.sh: ${PACKAGES[*]} already installed" >&2
fi

# Debian's torch lives in /usr/lib/python3/dist-packages: check with Debian's python3.
/usr/bin/python3 -c 'import torch; print("bench/setup.sh: torch", torch.__version__, "ready for", "/usr/bin/python3")' >&2
