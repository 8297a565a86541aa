// Package allinone runs a whole ALPCRUN.CH cluster in one process — central
// cache, queue manager, node cache and workers — for a laptop, and the demo
// workload that shows it off. cmd/alpcrun only binds its flags.
//
// # The cluster (alpcrun up)
//
// Run starts the services in dependency order (central cache, node cache
// pointed at it, queue manager) and then Config.Workers workers of the
// worker SDK, each with Config.Concurrency task slots and its own NodeCache,
// as separate worker processes on one node would have. The workers of
// `alpcrun up` run the task catalog (package catalog), as cmd/worker does.
// Each service keeps its own ports: by default those of the standalone
// services (gRPC 1337/2337/3337, HTTP 1338/2338/3338), so that clients,
// workers and loadgen started elsewhere find it as they would find a
// deployed cluster. `alpcrun up` binds them to 127.0.0.1 (DefaultUpConfig):
// other machines reach it only when a section's listen and httpListen say
// so. The queue manager's HTTP port serves the live dashboard at /
// (Addrs.Dashboard). On shutdown the workers drain first (they finish the
// batches they hold), then the services stop.
//
// Configuration is one YAML file, environment variables and flags, as for
// the services (docs/design.md, Configuration), with one section per service
// holding every key of that service's own file: queueManager.queueType,
// nodeCache.cacheSize, centralCache.maxTTL (flags --queueManager.queueType
// …, environment ALPCRUNCH_QUEUEMANAGER_QUEUETYPE …). Three choices follow
// from running in one process: the top-level loglevel and logformat, when
// set, override every section's (one process, one log stream; the workers
// log as the queue manager does); nodeCache.centralCacheAddr is ignored (the
// node cache reads from the in-process central cache); and the in-process
// workers dial plaintext, so TLS on the queue manager or node cache needs
// workers: 0.
//
// # The demo (alpcrun demo)
//
// Demo starts a cluster on free loopback ports with no HTTP side (so that
// it never clashes with a running cluster; set the sections' httpListen to
// scrape it), logging errors only, and prices a European call by Monte
// Carlo through it with the catalog's european task. The market data goes
// into the central cache once, as the session's shared data at level 1, and
// the workers read it through the node cache. The client submits
// Paths/TaskPaths tasks in batches of at most Batch (a batch runs on one
// worker, so small batches spread the work), keeping at most Inflight tasks
// unanswered (so that the latency measured is the cluster's, not that of a
// backlog the client built), draws a progress bar, and reports the price
// with its standard error next to the Black-Scholes price, the throughput
// and the latency percentiles of the tasks (client side, from Submit to
// result, in an HDR histogram).
//
// The price is the mean of y over all antithetic pairs (wire formats in
// package catalog) and its standard error is computed from the pooled sums,
// s.e. = √((Σy² − n·ȳ²)/(n−1)/n) with n pairs: the antithetic pair is the
// sample, so the reported error is an honest one for the estimator used.
package allinone
