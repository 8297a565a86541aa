#!/usr/bin/env bash
# make kubeconform: validates the rendered kustomize base deploy/k8s with
# kubeconform -strict against JSON schemas generated (deploy/schemagen) from
# the swagger.json of the k8s.io/kubernetes module that deploy/k8stools
# pins. Everything comes from the Go module proxy. The optional
# deploy/k8s/monitoring (a ServiceMonitor and a PrometheusRule) is validated
# too, against the schemas in deploy/k8s/monitoring/schemas. Then
# proves the check can fail: deploy/k8s/testdata/bad and
# deploy/k8s/monitoring/testdata/bad must be rejected, naming the bad field.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
kubeconform_version=v0.8.0

bin=$(bash deploy/scripts/k8s-tools.sh kubectl)
version=$(cd deploy/k8stools && $go list -m -f '{{.Version}}' k8s.io/kubernetes)
schemas="$PWD/deploy/.k8s/schemas/$version"
if [[ ! -f "$schemas/.done" ]]; then
  dir=$(cd deploy/k8stools && $go mod download k8s.io/kubernetes && $go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  rm -rf "$schemas"
  $go run ./deploy/schemagen -in "$dir/api/openapi-spec/swagger.json" -out "$schemas"
  touch "$schemas/.done"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/kubectl" kustomize deploy/k8s > "$work/rendered.yaml"
"$bin/kubectl" kustomize deploy/k8s/monitoring > "$work/monitoring.yaml"
kubeconform() {
  $go run "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version" -strict -summary \
    -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$PWD/deploy/k8s/monitoring/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

echo "kubeconform: deploy/k8s (Kubernetes $version schemas)"
kubeconform "$work/rendered.yaml"
echo "kubeconform: deploy/k8s/monitoring (Prometheus operator schemas)"
kubeconform "$work/monitoring.yaml"

# must_reject DIR FIELD: kubeconform must reject DIR, naming FIELD.
must_reject() {
  echo "kubeconform: $1 must be rejected"
  local out
  if out=$(kubeconform "$1" 2>&1); then
    echo "$out"
    echo "kubeconform: FAIL: the bad manifest was accepted" >&2
    exit 1
  fi
  # go run adds "exit status 1".
  grep -v '^exit status' <<<"$out" | sed 's/^/  /'
  if ! grep -q "'$2'" <<<"$out"; then
    echo "kubeconform: FAIL: rejected, but not for the unknown field '$2'" >&2
    exit 1
  fi
}
must_reject deploy/k8s/testdata/bad resource
must_reject deploy/k8s/monitoring/testdata/bad expression
echo "kubeconform: ok (deploy/k8s and deploy/k8s/monitoring valid, the bad manifests rejected)"
