#!/usr/bin/env bash
# One-step set-up for a fresh Debian 12 machine: system packages (the Python
# kernel, the sandbox tools), npm packages, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages runcell uses at run time and in its tests.
PACKAGES=(
  python3-ipykernel python3-ipywidgets python3-matplotlib python3-numpy python3-seccomp
  # R kernels (Debian's IRkernel ships its kernelspec as /usr/share/jupyter/kernels/ir); venvs for
  # `runcell env add` and its tests.
  r-cran-irkernel python3-venv
  bubblewrap util-linux procps coreutils
  # Tests and benchmarks: a real browser, real proxies, Jupyter Server to compare against.
  chromium haproxy nginx-light jupyter-server
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "runcell: these Debian packages are missing: ${missing[*]}" >&2
    echo "runcell: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "runcell: installing ${missing[*]}"
  apt-get update -qq
  # Do not let package scripts start system services (nginx, haproxy): tests run their own.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
fi

# The R kernelspec: Debian's package installs it; if a rebuild of it did not, IRkernel writes it.
if [ ! -f /usr/share/jupyter/kernels/ir/kernel.json ] && [ ! -f /usr/local/share/jupyter/kernels/ir/kernel.json ]; then
  if [ "$(id -u)" -eq 0 ]; then R --slave -e 'IRkernel::installspec(user = FALSE)'
  else echo "runcell: no R kernelspec; as root: R -e 'IRkernel::installspec(user = FALSE)'" >&2; fi
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
# postgres.js carries one patch (patches/, see docs/storage.md); apply it even after an install with
# --ignore-scripts, and fail here when it no longer applies.
npx --no-install patch-package --error-on-fail
npm run build
