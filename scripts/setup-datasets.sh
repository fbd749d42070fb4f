#!/usr/bin/env bash
# Installs the real dataset the science tests use: Fashion-MNIST from Debian's
# dataset-fashion-mnist (IDX files under /usr/share/datasets/fashion-mnist, ~30 MB).
# Without it those tests skip with a message; CI (.ci/run) runs this first so they run.
# Idempotent; SKIP_APT=1 never calls apt-get.
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "[setup-datasets] Fashion-MNIST present"
  exit 0
fi
if [ -n "${SKIP_APT:-}" ]; then
  echo "[setup-datasets] Fashion-MNIST missing and SKIP_APT is set: the Fashion-MNIST tests will skip"
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
echo "[setup-datasets] apt-get install dataset-fashion-mnist"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null
ls /usr/share/datasets/fashion-mnist
