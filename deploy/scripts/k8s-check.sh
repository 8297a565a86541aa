#!/usr/bin/env bash
# make k8s-check: a real API server judges deploy/k8s. Builds kube-apiserver
# and kubectl from the Go module proxy (deploy/k8stools), installs Debian's
# etcd-server when etcd is missing, starts etcd and kube-apiserver on
# 127.0.0.1 with throwaway state, and runs kubectl apply --dry-run=server on
# the rendered base; then proves the check can fail: deploy/k8s/testdata/bad
# must be rejected, naming the bad field. Both processes are stopped at the
# end, whatever happens.
#
# Ports: K8S_CHECK_ETCD_PORT (32379; the peer port is one more) and
# K8S_CHECK_API_PORT (36443).
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
etcd_port=${K8S_CHECK_ETCD_PORT:-32379}
peer_port=$((etcd_port + 1))
api_port=${K8S_CHECK_API_PORT:-36443}

if ! command -v etcd >/dev/null; then
  echo "k8s-check: installing Debian's etcd-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq etcd-server >/dev/null
fi

bin=$(bash deploy/scripts/k8s-tools.sh kube-apiserver kubectl)
work=$(mktemp -d)
pids=()
cleanup() {
  rc=$?
  if [[ $rc -ne 0 ]]; then
    for log in etcd apiserver; do
      [[ -f "$work/$log.log" ]] && { echo "k8s-check: last lines of $log.log:" >&2; tail -n 30 "$work/$log.log" >&2; }
    done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The test CA's server certificate covers 127.0.0.1; its key also signs
# service account tokens, which nothing here uses but the server requires.
# kube-apiserver refuses anonymous requests with AlwaysAllow, so kubectl
# presents a static token (the random API key) of a user in system:masters.
$go run ./deploy/certs -dir "$work/certs" >/dev/null
certs="$work/certs"
token=$(cat "$certs/api-key")
echo "$token,k8s-check,k8s-check,system:masters" >"$work/tokens.csv"

etcd --name k8s-check --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "k8s-check=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)

"$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$certs/server.pem" --tls-private-key-file "$certs/server-key.pem" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$certs/server.pem" \
  --service-account-signing-key-file "$certs/server-key.pem" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode AlwaysAllow \
  --token-auth-file "$work/tokens.csv" \
  --enable-priority-and-fairness=false \
  --cert-dir "$work/apiserver" >"$work/apiserver.log" 2>&1 &
pids+=($!)

# The server is verified with the test CA.
cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: check
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority: $certs/ca.pem
users:
  - name: k8s-check
    user: {token: $token}
contexts:
  - name: check
    context: {cluster: check, user: k8s-check}
current-context: check
EOF
kubectl() { "$bin/kubectl" --kubeconfig "$work/kubeconfig" "$@"; }

echo "k8s-check: waiting for kube-apiserver on 127.0.0.1:$api_port"
for ((i = 0; i < 180; i++)); do
  if kubectl get --raw /readyz >/dev/null 2>&1; then break; fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "k8s-check: etcd or kube-apiserver exited" >&2; exit 1; }
  done
  sleep 1
done
kubectl get --raw /readyz >/dev/null
echo "k8s-check: kube-apiserver $(kubectl version -o json | grep -m1 '"gitVersion"' | tr -d ' ",' | cut -d: -f2) ready on etcd $(etcd --version | head -n1 | awk '{print $3}')"

# Dry runs create nothing, so the namespace the base's objects live in is
# created for real first.
kubectl create namespace alpcrun --save-config >/dev/null
kubectl kustomize deploy/k8s >"$work/rendered.yaml"
echo "k8s-check: kubectl apply --dry-run=server -k deploy/k8s"
kubectl apply --dry-run=server -f "$work/rendered.yaml" | sed 's/^/  /'

echo "k8s-check: deploy/k8s/testdata/bad must be rejected"
if out=$(kubectl apply --dry-run=server -f deploy/k8s/testdata/bad 2>&1); then
  echo "$out"
  echo "k8s-check: FAIL: the bad manifest was accepted" >&2
  exit 1
fi
echo "$out" | sed 's/^/  /'
if ! grep -q 'unknown field "spec.template.spec.containers\[0\].resource"' <<<"$out"; then
  echo "k8s-check: FAIL: rejected, but not for the unknown field resource" >&2
  exit 1
fi
echo "k8s-check: ok (deploy/k8s accepted by the API server, the bad manifest rejected)"
