# Deployment targets, included by the top-level Makefile; see
# deploy/README.md. They run from the repository's root.
#   make images        static binaries + FROM-scratch images alpcrun/*
#   make certs         test CA, server/client certificates, API key in $(CERTS_DIR)
#   make cluster-test  images, then the compose cluster with a worker killed mid-run
#   make faults        images, then the fault-injection suite (deploy/faults)
#   make kubeconform   deploy/k8s against schemas from k8s.io/kubernetes's swagger.json
#   make k8s-check     deploy/k8s dry-run on a real kube-apiserver + etcd
#   make monitoring-check  alert rules and Grafana dashboard through promtool (also in make test)
GO ?= go
CERTS_DIR ?= deploy/.certs
IMAGE_TAG ?= latest

.PHONY: images certs cluster-test kubeconform k8s-check faults monitoring-check

images:
	GO=$(GO) IMAGE_TAG=$(IMAGE_TAG) bash deploy/scripts/images.sh

certs:
	$(GO) run ./deploy/certs -dir $(CERTS_DIR)

cluster-test: images
	GO=$(GO) IMAGE_TAG=$(IMAGE_TAG) bash deploy/scripts/cluster-test.sh

kubeconform:
	GO=$(GO) bash deploy/scripts/kubeconform.sh

k8s-check:
	GO=$(GO) bash deploy/scripts/k8s-check.sh

# The same tests make test runs (go test ./...), alone and verbose; they
# need promtool (Debian's prometheus package).
monitoring-check:
	$(GO) test -count=1 -v ./deploy/prometheus

# make faults runs on its own compose project, alpcrun-faults; FAULTS_ARGS go
# to deploy/faults.
faults: images
	GO=$(GO) IMAGE_TAG=$(IMAGE_TAG) bash deploy/scripts/faults.sh $(FAULTS_ARGS)
