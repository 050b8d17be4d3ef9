package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/portside/portside/engine/fork"
)

// tlsFlags are the TLS options of a service.
type tlsFlags struct {
	cert, key  string
	selfSigned bool
}

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "tls-cert", "", "serve TLS with this certificate `file` (PEM)")
	fs.StringVar(&t.key, "tls-key", "", "the certificate's private key `file` (PEM)")
	fs.BoolVar(&t.selfSigned, "tls-self-signed", false, "serve TLS with a throwaway self-signed certificate")
}

// wanted reports whether any TLS flag was given.
func (t *tlsFlags) wanted() bool { return t.selfSigned || t.cert != "" || t.key != "" }

// envSelfSigned carries the self-signed certificate and key (PEM) from a
// fork engine's parent to its children, so that every connection is served
// with the one certificate whose fingerprint the parent logged. It goes
// by the environment, which only the same user can read (/proc/PID/environ
// is 0400), and only a throwaway certificate ever travels this way.
const envSelfSigned = "PORTSIDE_TLS_SELF_SIGNED_PEM"

// config returns the TLS configuration asked for, or nil for none.
func (t *tlsFlags) config(r *runner) (*tls.Config, error) {
	e := r.e
	switch {
	case t.selfSigned && (t.cert != "" || t.key != ""):
		return nil, usagef("--tls-self-signed excludes --tls-cert and --tls-key")
	case t.selfSigned && fork.IsChild():
		pemBytes := []byte(os.Getenv(envSelfSigned))
		cert, err := tls.X509KeyPair(pemBytes, pemBytes)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate from the parent: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	case t.selfSigned:
		cert, pemBytes, err := selfSigned()
		if err != nil {
			return nil, err
		}
		if fe, ok := r.eng.(*fork.Engine); ok {
			fe.Env = append(fe.Env, envSelfSigned+"="+string(pemBytes))
		}
		sum := sha256.Sum256(cert.Certificate[0])
		e.log.Info("self-signed certificate", "sha256", hex.EncodeToString(sum[:]))
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	case t.cert != "" || t.key != "":
		if t.cert == "" || t.key == "" {
			return nil, usagef("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	return nil, nil
}

// selfSigned makes a certificate for localhost, valid for a day, and
// returns it also as PEM: the certificate, then its key.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "portside self-signed"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pemBytes = append(pemBytes, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}
