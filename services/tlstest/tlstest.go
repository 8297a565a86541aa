// Package tlstest writes TLS material generated with crypto/x509: a CA, a
// server certificate and a client certificate. Generate makes throwaway
// material for tests (localhost only, valid a day); GenerateFor makes it for
// a test cluster's host names (make certs, the compose cluster).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files names the PEM files Generate wrote.
type Files struct {
	CACert     string // the CA certificate that signed the other two
	ServerCert string // server certificate for localhost, 127.0.0.1, ::1
	ServerKey  string
	ClientCert string // client certificate (CN "client") for mutual TLS
	ClientKey  string
}

// Generate writes a new CA, server and client certificates and keys into
// dir, valid from an hour ago for a day. Each call makes a distinct CA, so
// two calls give material that does not trust each other.
func Generate(dir string) (Files, error) {
	return generate(dir, []string{"localhost", "127.0.0.1", "::1"}, 24*time.Hour)
}

// GenerateFor is Generate for a server certificate that covers hosts (DNS
// names, wildcards or IP addresses), valid for a year.
func GenerateFor(dir string, hosts []string) (Files, error) {
	return generate(dir, hosts, 365*24*time.Hour)
}

func generate(dir string, hosts []string, validFor time.Duration) (Files, error) {
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	f := Files{
		CACert:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, fmt.Errorf("tlstest: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "alpcrun test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Files{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Files{}, fmt.Errorf("tlstest: %w", err)
	}
	if err := writePEM(f.CACert, "CERTIFICATE", caDER); err != nil {
		return Files{}, err
	}

	leaves := []struct {
		tmpl          *x509.Certificate
		certPath, key string
	}{
		{&x509.Certificate{
			Subject:     pkix.Name{CommonName: hosts[0]},
			DNSNames:    dnsNames,
			IPAddresses: ips,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, f.ServerCert, f.ServerKey},
		{&x509.Certificate{
			Subject:     pkix.Name{CommonName: "client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, f.ClientCert, f.ClientKey},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Files{}, fmt.Errorf("tlstest: %w", err)
		}
		l.tmpl.NotBefore, l.tmpl.NotAfter = caTmpl.NotBefore, caTmpl.NotAfter
		l.tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := sign(l.tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return Files{}, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return Files{}, fmt.Errorf("tlstest: %w", err)
		}
		if err := writePEM(l.certPath, "CERTIFICATE", der); err != nil {
			return Files{}, err
		}
		if err := writePEM(l.key, "PRIVATE KEY", keyDER); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("tlstest: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("tlstest: %w", err)
	}
	return der, nil
}

func writePEM(path, typ string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("tlstest: %w", err)
	}
	return nil
}
