// Package sdk names how clients, workers and tools find an ALPCRUN.CH
// cluster: the environment variables and default addresses that the client
// and worker SDKs, loadgen, the example binaries and the services share.
// An address is the one given, else the environment variable's, else the
// default.
package sdk

import "os"

// Environment variables.
const (
	EnvQueueManagerAddr = "METALCORE_QUEUE_MANAGER_ADDR"
	EnvCentralCacheAddr = "METALCORE_CENTRAL_CACHE_ADDR"
	EnvNodeCacheAddr    = "METALCORE_NODE_CACHE_ADDR"
	// EnvAPIKey holds the API key that clients and workers send, and that
	// servers accept.
	EnvAPIKey = "METALCORE_API_KEY"
)

// Default addresses: the services' standard ports on this host.
const (
	DefaultQueueManagerAddr = "localhost:1337"
	DefaultCentralCacheAddr = "localhost:2337"
	DefaultNodeCacheAddr    = "localhost:3337"
)

// QueueManagerAddr returns addr, else $METALCORE_QUEUE_MANAGER_ADDR, else
// DefaultQueueManagerAddr.
func QueueManagerAddr(addr string) string {
	return resolve(addr, EnvQueueManagerAddr, DefaultQueueManagerAddr)
}

// CentralCacheAddr returns addr, else $METALCORE_CENTRAL_CACHE_ADDR, else
// DefaultCentralCacheAddr.
func CentralCacheAddr(addr string) string {
	return resolve(addr, EnvCentralCacheAddr, DefaultCentralCacheAddr)
}

// NodeCacheAddr returns addr, else $METALCORE_NODE_CACHE_ADDR, else
// DefaultNodeCacheAddr.
func NodeCacheAddr(addr string) string {
	return resolve(addr, EnvNodeCacheAddr, DefaultNodeCacheAddr)
}

func resolve(addr, env, def string) string {
	if addr != "" {
		return addr
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}
