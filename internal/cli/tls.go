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
	"flag"
	"math/big"
	"net"
	"time"
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

// config returns the TLS configuration asked for, or nil for none.
func (t *tlsFlags) config(e *env) (*tls.Config, error) {
	switch {
	case t.selfSigned && (t.cert != "" || t.key != ""):
		return nil, usagef("--tls-self-signed excludes --tls-cert and --tls-key")
	case t.selfSigned:
		cert, err := selfSigned()
		if err != nil {
			return nil, err
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

// selfSigned makes a certificate for localhost, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		return tls.Certificate{}, err
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
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
