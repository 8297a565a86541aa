# The Python SDK (sdk/python): its tests run against the real Go services,
# which the test fixture builds. Debian's Python packages load only in
# /usr/bin/python3, not in another python3 that may come first on PATH.
PYTHON ?= /usr/bin/python3

.PHONY: pytest pybench

pytest:
	cd sdk/python && GO=$(GO) $(PYTHON) -m pytest -p no:cacheprovider -q tests

# Python client against the Go client and a raw grpcio stream, written to
# results/python/<date>_<commit>/.
pybench:
	GO=$(GO) PYTHON=$(PYTHON) ./sdk/python/bench/run.sh
