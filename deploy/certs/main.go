// Command certs writes the TLS material and API key of a test deployment:
// a CA, one server certificate shared by every service, a client
// certificate, and a random API key (make certs, the compose cluster, the
// Kubernetes checks).
//
//	go run ./deploy/certs -dir deploy/.certs
//
// The server certificate covers the names services are dialled by in
// deploy/compose.yaml and deploy/k8s (queue-manager, central-cache,
// node-cache, *.alpcrun.svc, ...) and localhost, so a client on the host
// reaches published ports with it. Files are written world-readable: the
// containers run as uid 65532 and read them from a bind mount, and this
// material guards nothing but tests.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alpcrun/alpcrun/services/tlstest"
)

// defaultHosts are the server certificate's names: localhost first (its
// common name), the compose service names, and the Kubernetes service names
// of namespace alpcrun.
var defaultHosts = []string{
	"localhost", "127.0.0.1", "::1",
	"queue-manager", "central-cache", "node-cache",
	"*.alpcrun", "*.alpcrun.svc", "*.alpcrun.svc.cluster.local",
}

func main() {
	dir := flag.String("dir", "deploy/.certs", "output `directory`")
	hosts := flag.String("hosts", strings.Join(defaultHosts, ","), "comma-separated DNS names, wildcards and IPs of the server certificate")
	flag.Parse()
	if err := run(*dir, strings.Split(*hosts, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}

func run(dir string, hosts []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// MkdirAll keeps the mode of an existing directory, such as mktemp's
	// 0700, which the containers' user could not enter.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	f, err := tlstest.GenerateFor(dir, hosts)
	if err != nil {
		return err
	}
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	// No trailing newline: the file also becomes METALCORE_API_KEY (a
	// Kubernetes secret made --from-file), and gRPC metadata cannot carry
	// one.
	apiKey := filepath.Join(dir, "api-key")
	if err := os.WriteFile(apiKey, []byte(hex.EncodeToString(key)), 0o644); err != nil {
		return err
	}
	for _, p := range []string{f.CACert, f.ServerCert, f.ServerKey, f.ClientCert, f.ClientKey} {
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("certs: wrote %s (ca.pem, server.pem, server-key.pem, client.pem, client-key.pem, api-key)\n", dir)
	return nil
}
