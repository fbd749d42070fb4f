#!/usr/bin/env bash
# Installs what the end-to-end suite needs, offline (only the npm registry and Debian apt):
#   - Debian packages: chromium (the browser playwright-core drives), ripgrep (VS Code's search),
#     build-essential/python3/pkg-config/libkrb5-dev (native modules of VS Code's server)
#   - code-server 4.100.3 (= VS Code 1.100.3 served to a browser; the last code-server that runs
#     on Node 20) in .e2e/cs, with its native modules built locally.
# Idempotent: a re-run checks each step and skips what is done (~1-2 s).
# Everything goes under .e2e/ (git-ignored); remove it to start over.
#
# Why not code-server's own postinstall: it downloads rg from GitHub (@vscode/ripgrep) and
# prebuilt binaries (argon2, kerberos) from GitHub; none of that works offline. So: install
# with --ignore-scripts and do its steps here. Details: ../shared/vscode-e2e/NOTES.md.
#
# Env: SKIP_APT=1                  never apt-get (fail if a package is missing)
#      CODE_SERVER_VERSION=4.100.3  another code-server (its VS Code must run on this Node)
#      E2E_DIR=<dir>                install somewhere else than <repo>/.e2e
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
E2E="${E2E_DIR:-$ROOT/.e2e}"
CS_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CS_DIR="$E2E/cs"
CS_PKG="$CS_DIR/node_modules/code-server"
VSC="$CS_PKG/lib/vscode"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

T_START=$(date +%s.%N)
elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }
step() { STEP_NAME="$1"; STEP_T=$(date +%s.%N); echo "[e2e-setup] $1"; }
done_step() { echo "[e2e-setup]   ok ($(elapsed "$STEP_T") s)"; }
die() { echo "[e2e-setup] ERROR: $*" >&2; exit 1; }
mkdir -p "$E2E"

# --------------------------------------------------------------------------------------------
step "node toolchain"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" = 20 ] || echo "[e2e-setup]   WARNING: code-server $CS_VERSION is built for Node 20; this is $(node -v)"
# node-gyp needs node's headers; offline it cannot download them, so find them locally.
NODE_PREFIX="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
NODEDIR=""
for d in "$NODE_PREFIX" "$(npm config get nodedir 2>/dev/null || true)" /usr /usr/local; do
  if [ -n "$d" ] && [ -f "$d/include/node/node_version.h" ]; then NODEDIR="$d"; break; fi
done
[ -n "$NODEDIR" ] || die "node headers not found (looked for include/node/node_version.h under $NODE_PREFIX, /usr, /usr/local)"
export npm_config_nodedir="$NODEDIR"
# npm's bundled node-gyp: `npx node-gyp` would fetch it (and is refused with yes=false).
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
NODE_GYP="$NPM_DIR/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$NODE_GYP" ] || die "npm's bundled node-gyp not found at $NODE_GYP"
export npm_config_node_gyp="$NODE_GYP"
echo "[e2e-setup]   node $(node -v), npm $(npm -v), headers in $NODEDIR"
done_step

# --------------------------------------------------------------------------------------------
step "Debian packages"
need=()
for p in build-essential python3 pkg-config libkrb5-dev ripgrep chromium; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ -n "${SKIP_APT:-}" ] && die "missing Debian packages: ${need[*]} (SKIP_APT is set)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "[e2e-setup]   apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v rg >/dev/null || die "rg (ripgrep) missing"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing"
done_step

# --------------------------------------------------------------------------------------------
step "project dependencies (playwright-core, @vscode/vsce, @vscode/test-electron)"
if [ ! -f "$ROOT/node_modules/playwright-core/package.json" ] || [ ! -x "$ROOT/node_modules/.bin/vsce" ]; then
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi
done_step

# --------------------------------------------------------------------------------------------
step "code-server $CS_VERSION (npm --ignore-scripts)"
mkdir -p "$CS_DIR"
# Its own package.json, apart from the project's (code-server is not a project dependency).
[ -f "$CS_DIR/package.json" ] || echo '{"name":"checkpoint-lens-e2e-code-server","version":"0.0.0","private":true}' >"$CS_DIR/package.json"
have="$(node -p "try{require('$CS_PKG/package.json').version}catch{''}")"
if [ "$have" != "$CS_VERSION" ]; then
  rm -f "$CS_DIR/.complete"
  (cd "$CS_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$CS_VERSION")
fi
done_step

if [ -f "$CS_DIR/.complete" ] && [ "$(cat "$CS_DIR/.complete")" = "$CS_VERSION $(node -v)" ]; then
  echo "[e2e-setup] code-server install complete (cached)"
else
  # ------------------------------------------------------------------------------------------
  step "argon2 (code-server requires it at start; its prebuilt is on GitHub: build it)"
  if ! (cd "$CS_DIR" && node -e 'require("argon2")' 2>/dev/null); then
    (cd "$CS_DIR" && npm rebuild argon2 --build-from-source --loglevel=error >"$CS_DIR/build-argon2.log" 2>&1) \
      || { tail -30 "$CS_DIR/build-argon2.log"; die "argon2 build failed (log: $CS_DIR/build-argon2.log)"; }
    (cd "$CS_DIR" && node -e 'require("argon2")') || die "argon2 does not load after the build"
  fi
  done_step

  # ------------------------------------------------------------------------------------------
  step "VS Code server production dependencies (lib/vscode, --ignore-scripts)"
  if [ ! -f "$VSC/node_modules/.e2e-installed" ]; then
    (cd "$VSC" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
    touch "$VSC/node_modules/.e2e-installed"
  fi
  done_step

  # ------------------------------------------------------------------------------------------
  step "native modules (npm's node-gyp, local headers)"
  # @parcel/watcher uses the prebuilt @parcel/watcher-linux-x64-glibc package; the
  # @vscode/windows-* modules and @vscode/deviceid build on Windows only.
  for spec in "@vscode/spdlog:build/Release/spdlog.node" "native-watchdog:build/Release/watchdog.node" \
              "node-pty:build/Release/pty.node" "kerberos:build/Release/kerberos.node"; do
    mod="${spec%%:*}"; out="${spec#*:}"; mdir="$VSC/node_modules/$mod"
    if [ -f "$mdir/$out" ] && (cd "$VSC" && node -e "require('$mod')" 2>/dev/null); then continue; fi
    echo "[e2e-setup]   building $mod"
    if ! (cd "$mdir" && JOBS=max node "$NODE_GYP" rebuild --nodedir="$NODEDIR" >"$mdir/e2e-build.log" 2>&1); then
      tail -20 "$mdir/e2e-build.log"
      # kerberos is only used for Kerberos proxy authentication.
      if [ "$mod" = kerberos ]; then echo "[e2e-setup]   WARNING: kerberos did not build (not needed here)"; continue; fi
      die "$mod build failed (log: $mdir/e2e-build.log)"
    fi
    (cd "$VSC" && node -e "require('$mod')") || die "$mod built but does not load"
  done
  (cd "$VSC" && node -e "require('@parcel/watcher')") || die "@parcel/watcher (prebuilt) does not load"
  done_step

  # ------------------------------------------------------------------------------------------
  step "ripgrep: Debian's rg where @vscode/ripgrep expects it (its postinstall downloads from GitHub)"
  mkdir -p "$VSC/node_modules/@vscode/ripgrep/bin"
  ln -sfn "$(command -v rg)" "$VSC/node_modules/@vscode/ripgrep/bin/rg"
  "$VSC/node_modules/@vscode/ripgrep/bin/rg" --version | sed -n 1p >/dev/null || die "rg does not run"
  done_step

  # ------------------------------------------------------------------------------------------
  step "symlinks code-server's postinstall.sh makes"
  (cd "$VSC" && rm -rf node_modules.asar && ln -s node_modules node_modules.asar)
  (cd "$VSC/bin/remote-cli" && ln -sfn code-linux.sh code-server)
  (cd "$VSC/bin/helpers" && ln -sfn browser-linux.sh browser.sh)
  done_step

  # ------------------------------------------------------------------------------------------
  step "built-in extensions' dependencies"
  if [ ! -f "$VSC/extensions/node_modules/typescript/package.json" ]; then
    (cd "$VSC/extensions" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
      && node postinstall.mjs >/dev/null)
  fi
  done_step

  # ------------------------------------------------------------------------------------------
  step "smoke test"
  # code-server writes ~/.config/code-server and ~/.local/share/code-server on any call: keep it in .e2e.
  SMOKE_HOME="$E2E/tmp/smoke-home"; mkdir -p "$SMOKE_HOME"
  v="$(HOME="$SMOKE_HOME" XDG_CONFIG_HOME="$SMOKE_HOME/.config" XDG_DATA_HOME="$SMOKE_HOME/.local/share" \
    node "$CS_PKG/out/node/entry.js" --version --config /dev/null 2>/dev/null | tail -1)"
  rm -rf "$SMOKE_HOME"
  echo "[e2e-setup]   $v"
  case "$v" in "$CS_VERSION "*) ;; *) die "unexpected code-server --version output: $v" ;; esac
  echo "$CS_VERSION $(node -v)" >"$CS_DIR/.complete"
  done_step
fi

echo "[e2e-setup] ready in $(elapsed "$T_START") s: code-server in $CS_DIR ($(du -sh "$CS_DIR" | cut -f1))"
