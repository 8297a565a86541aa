// Package config fills a service's configuration struct from, in increasing
// precedence: its defaults, a YAML file, the environment and command-line
// flags, and reports every problem at once.
//
// A service declares one Options struct whose fields carry yaml tags (and
// `yaml:"-"` on what only code sets: logger, registry, clock), a
// DefaultOptions() constructor and a Validate() error method (which uses
// Problems), and its main calls Load (or LoadOS) on a pointer to the
// defaults. The yaml key of a field names it everywhere:
//
//	field                          `yaml:"bufferSize"`
//	YAML file (--config path)      bufferSize: 1000
//	environment                    ALPCRUNCH_BUFFERSIZE=1000
//	flag                           --bufferSize 1000
//
// Sources apply in this order, each overriding the previous one:
//
//  1. the struct's values as passed in (the service's defaults);
//  2. the YAML file named by --config, or by ALPCRUNCH_CONFIG when the flag
//     is absent; keys it does not know are errors;
//  3. the alias variable named by a field's env tag, e.g.
//     `env:"METALCORE_CENTRAL_CACHE_ADDR"`, for variables the deployment
//     contract fixes without the prefix;
//  4. ALPCRUNCH_<KEY>, the key upper-cased (so it wins over the alias);
//  5. flags, one per key, registered on the given flag.FlagSet.
//
// An environment variable that is set but empty is ignored, so that a
// Kubernetes manifest can leave a value blank without clearing the default.
//
// Field types: string, bool, every int, uint and float kind, time.Duration
// ("1s", "250ms"), []string (a YAML sequence, or comma-separated in YAML,
// environment and flags) and any type whose pointer implements
// encoding.TextUnmarshaler (such as ByteSize). A field tagged ",inline"
// (the embedded Common) contributes its keys at the same level; any other
// struct field is a nested section whose keys are dotted in flags
// (--queueManager.bufferSize) and joined by "_" in the environment
// (ALPCRUNCH_QUEUEMANAGER_BUFFERSIZE). Every exported field needs a yaml
// tag; `yaml:"-"` leaves one out.
package config
