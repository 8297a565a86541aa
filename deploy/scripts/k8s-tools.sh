#!/usr/bin/env bash
# Builds the named tools (kube-apiserver, kubectl) of k8s.io/kubernetes
# through the wrapper module deploy/k8stools, once per Kubernetes version,
# into deploy/.k8s/bin/<version>/, and prints that directory.
#
#	deploy/scripts/k8s-tools.sh kube-apiserver kubectl
set -euo pipefail
cd "$(dirname "$0")/../k8stools"
go=${GO:-go}
version=$($go list -m -f '{{.Version}}' k8s.io/kubernetes)
out="$(cd .. && pwd)/.k8s/bin/$version"
pkgs=()
for t in "$@"; do
  [[ -x "$out/$t" ]] || pkgs+=("k8s.io/kubernetes/cmd/$t")
done
if ((${#pkgs[@]})); then
  major=${version#v}; major=${major%%.*}
  minor=${version#v*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "k8s-tools: building ${pkgs[*]} $version (the first build takes minutes)" >&2
  CGO_ENABLED=0 $go build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" >&2
fi
echo "$out"
