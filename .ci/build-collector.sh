#!/usr/bin/env bash
# Build obskit's OpenTelemetry Collector for the fleet tier (docs/fleet.md) into
# ~/.cache/obskit/bin/otelcol-obskit: one binary that serves both roles,
#   - load balancer: otlp receiver -> loadbalancing exporter (routing_key: traceID),
#   - tail-sampling gateway: otlp receiver -> tail_sampling + attributes -> otlp exporter.
# All components at one collector release: contrib v0.140.1 with core v0.140.0 / v1.46.0.
# Not v0.139.0 (the release Jaeger v1.75.0 is built from): its loadbalancing exporter hands
# its own component ID to the otlp sub-exporters, which collector core v1.45.0 rejects
# ("component type mismatch: component ID "loadbalancing" does not have type "otlp""), so
# no span is ever routed; v0.140.1 fixes that. Skipped when the cached binary's stamp
# matches the versions and this script.
set -euo pipefail
contrib="${OBSKIT_COLLECTOR_CONTRIB_VERSION:-v0.140.1}"
core="${OBSKIT_COLLECTOR_CORE_VERSION:-v0.140.0}"
# The components, as "module package-name" pairs; the module is pinned to $contrib/$core.
components=(
  "go.opentelemetry.io/collector/receiver/otlpreceiver otlpreceiver"
  "go.opentelemetry.io/collector/exporter/otlpexporter otlpexporter"
  "go.opentelemetry.io/collector/exporter/debugexporter debugexporter"
  "go.opentelemetry.io/collector/processor/batchprocessor batchprocessor"
  "go.opentelemetry.io/collector/processor/memorylimiterprocessor memorylimiterprocessor"
  "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter loadbalancingexporter"
  "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor tailsamplingprocessor"
  "github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor attributesprocessor"
)
cache="${OBSKIT_CACHE:-$HOME/.cache/obskit}"
out="$cache/bin/otelcol-obskit"
stamp_file="$out.build-stamp"
# The versions and this script's own hash (its components and main.go): change either, rebuild.
stamp="contrib=$contrib core=$core script=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
if [ -x "$out" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ] && "$out" --version >/dev/null 2>&1; then
  echo "otelcol-obskit: cached at $out ($stamp)"
  exit 0
fi
command -v go >/dev/null || { echo "otelcol-obskit: Go toolchain not found" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$cache/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
began=$(date +%s)

version_of() { # the release a module is pinned to
  case "$1" in
    github.com/open-telemetry/opentelemetry-collector-contrib/*) echo "$contrib" ;;
    *) echo "$core" ;;
  esac
}

# main.go: the components above, registered with the collector's own command line.
{
  echo '// Code written by .ci/build-collector.sh: obskit'"'"'s fleet collector.'
  echo 'package main'
  echo
  echo 'import ('
  echo '	"log"'
  echo
  echo '	"go.opentelemetry.io/collector/component"'
  echo '	"go.opentelemetry.io/collector/confmap"'
  echo '	"go.opentelemetry.io/collector/confmap/provider/envprovider"'
  echo '	"go.opentelemetry.io/collector/confmap/provider/fileprovider"'
  echo '	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"'
  echo '	"go.opentelemetry.io/collector/exporter"'
  echo '	"go.opentelemetry.io/collector/otelcol"'
  echo '	"go.opentelemetry.io/collector/processor"'
  echo '	"go.opentelemetry.io/collector/receiver"'
  echo '	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"'
  for entry in "${components[@]}"; do
    set -- $entry
    echo "	\"$1\""
  done
  echo ')'
  cat <<'GO'

func components() (otelcol.Factories, error) {
	// The collector's own logs and metrics (service::telemetry), configured as usual.
	factories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	var err error
	if factories.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
	); err != nil {
		return factories, err
	}
	if factories.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		batchprocessor.NewFactory(),
		memorylimiterprocessor.NewFactory(),
		tailsamplingprocessor.NewFactory(),
		attributesprocessor.NewFactory(),
	); err != nil {
		return factories, err
	}
	factories.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		otlpexporter.NewFactory(),
		debugexporter.NewFactory(),
		loadbalancingexporter.NewFactory(),
	)
	return factories, err
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-obskit",
			Description: "obskit fleet collector: load balancer and tail-sampling gateway",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO
  echo
  echo "const version = \"$contrib\""
} > main.go

go mod init obskit.dev/otelcol-obskit >/dev/null 2>&1
# Pin the collector core (it is not a component, but main.go imports it directly).
pins=("go.opentelemetry.io/collector/otelcol@$core")
for entry in "${components[@]}"; do
  set -- $entry
  pins+=("$1@$(version_of "$1")")
done
echo "otelcol-obskit: resolving ${#pins[@]} modules (contrib $contrib, core $core)"
go get "${pins[@]}"
go mod tidy
echo "otelcol-obskit: building (a few minutes on 2 cores when the Go caches are cold)"
go build -trimpath -ldflags=-s -o "$out.tmp" .
"$out.tmp" components >/dev/null
mv "$out.tmp" "$out"
echo "$stamp" > "$stamp_file"
echo "otelcol-obskit: built $out in $(( $(date +%s) - began )) s"
