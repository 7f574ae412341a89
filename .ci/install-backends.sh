#!/usr/bin/env bash
# Install the real backends the integration tests start as child processes:
#   - Prometheus (+ promtool) and docker-compose from Debian's packages,
#   - Jaeger v2, built from its Go module by .ci/build-jaeger.sh into ~/.cache/obskit/bin,
#   - the fleet tier's collector, built by .ci/build-collector.sh into the same place.
# Idempotent: installs only what is missing, and both builds reuse their cached binaries.
# When something cannot be installed it says how to get it and exits 0 (the tests then
# skip with the same advice), except under CI=true, where it exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

in_ci() { case "${CI:-}" in true | TRUE | True | 1 | yes) return 0 ;; *) return 1 ;; esac; }

give_up() { # $1: what is missing, $2: how to get it
  echo "install-backends: cannot install $1 here. $2" >&2
  if in_ci; then exit 1; fi
  exit 0
}

have_prometheus() {
  [ -x "${OBSKIT_PROMETHEUS_BIN:-}" ] || { command -v prometheus && command -v promtool; } >/dev/null
}

packages=()
have_prometheus || packages+=(prometheus)
command -v docker-compose >/dev/null || packages+=(docker-compose)

if [ "${#packages[@]}" -gt 0 ]; then
  advice="Install them with: sudo apt-get install --no-install-recommends ${packages[*]}
(or put Prometheus 2.x on PATH / set OBSKIT_PROMETHEUS_BIN)."
  command -v apt-get >/dev/null || give_up "${packages[*]} (no apt-get)" "$advice"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || give_up "${packages[*]} (not root, no sudo)" "$advice"
    # Never hang on a password prompt without a terminal (CI, nox, IDEs).
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  echo "install-backends: apt-get install ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q || give_up "${packages[*]} (apt-get update failed)" "$advice"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" ||
    give_up "${packages[*]} (apt-get install failed)" "$advice"

  # Debian's postinst starts a system Prometheus on :9090 where an init system runs.
  # The tests start their own on free loopback ports; stop the service we just caused.
  if [[ " ${packages[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
      "${sudo[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
  fi
fi

if command -v ss >/dev/null && ss -ltnH 'sport = :9090' | grep -q .; then
  echo "install-backends: note: something listens on :9090; the tests do not need it" \
    "(they use free ports), but a system Prometheus can be stopped with" \
    "'sudo systemctl disable --now prometheus'." >&2
fi
have_prometheus ||
  give_up "prometheus (not on PATH after installing)" "Put Prometheus 2.x on PATH or set OBSKIT_PROMETHEUS_BIN."
echo "install-backends: $("${OBSKIT_PROMETHEUS_BIN:-prometheus}" --version 2>&1 | head -n1)"

if [ -x "${OBSKIT_JAEGER_BIN:-}" ]; then
  echo "install-backends: jaeger from OBSKIT_JAEGER_BIN=$OBSKIT_JAEGER_BIN"
else
  if [ ! -x "${OBSKIT_CACHE:-$HOME/.cache/obskit}/bin/jaeger" ] && ! command -v go >/dev/null; then
    give_up "Jaeger (no Go toolchain)" "Install Go >= 1.24.6 (https://go.dev/dl/), then run
bash .ci/build-jaeger.sh, or set OBSKIT_JAEGER_BIN to a Jaeger v2 binary."
  fi
  bash .ci/build-jaeger.sh
fi

# The fleet tier's collector (load balancer and tail-sampling gateway), for test_fleet.py.
if [ -x "${OBSKIT_COLLECTOR_BIN:-}" ]; then
  echo "install-backends: collector from OBSKIT_COLLECTOR_BIN=$OBSKIT_COLLECTOR_BIN"
  exit 0
fi
if [ ! -x "${OBSKIT_CACHE:-$HOME/.cache/obskit}/bin/otelcol-obskit" ] && ! command -v go >/dev/null; then
  give_up "the fleet collector (no Go toolchain)" "Install Go >= 1.24 (https://go.dev/dl/), then
run bash .ci/build-collector.sh, or set OBSKIT_COLLECTOR_BIN to a collector with the otlp,
loadbalancing, tail_sampling and attributes components."
fi
bash .ci/build-collector.sh || give_up "the fleet collector (build failed, see above)" \
  "Run bash .ci/build-collector.sh to see why, or set OBSKIT_COLLECTOR_BIN."
