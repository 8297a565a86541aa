// Command node-cache serves the Cache service as a node cache: a
// pull-through LRU of the central cache for the workers of its node (gRPC
// :3337, HTTP :3338). Configuration comes from --config FILE,
// ALPCRUNCH_<KEY> variables and --<key> flags; the central cache's address
// also from METALCORE_CENTRAL_CACHE_ADDR.
//
//	node-cache --centralCacheAddr central-cache:2337 --cacheSize 4GiB
package main

import (
	"github.com/alpcrun/alpcrun/services/daemon"
	"github.com/alpcrun/alpcrun/services/nodecache"
)

func main() { daemon.Main("node-cache", nodecache.LoadConfig, nodecache.Run) }
