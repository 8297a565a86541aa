# make loadgen-up / make loadgen-compose: cmd/loadgen against `alpcrun up`
# or the compose cluster (TLS + API key), two runs compared with benchstat,
# into results/loadgen/<date>_<commit>/ (scripts/loadgen-compare.sh); include
# from the Makefile. LOADGEN_BATCH, LOADGEN_DURATION, LOADGEN_WARMUP,
# LOADGEN_COUNT, LOADGEN_ARGS, LOADGEN_UP_PORT, LOADGEN_PROJECT and
# LOADGEN_OUT pass through the environment.
.PHONY: loadgen-up loadgen-compose

loadgen-up:
	GO=$(GO) ./scripts/loadgen-compare.sh up

# The images come from the images target of deploy/deploy.mk.
loadgen-compose: images
	GO=$(GO) IMAGE_TAG=$(IMAGE_TAG) ./scripts/loadgen-compare.sh compose
