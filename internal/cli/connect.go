package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/portside/portside/client"
)

// runConnect talks to a server until either side ends. Interrupted
// (Ctrl-C, SIGTERM) it exits 130, as a shell reports a command ended by
// SIGINT, so a script can tell an interrupted session from a finished one.
func runConnect(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	var o client.Options
	fs.BoolVar(&o.TLS, "tls", false, "speak TLS")
	fs.BoolVar(&o.Insecure, "insecure", false, "with --tls, accept any certificate (self-signed servers)")
	fs.BoolVar(&o.CRLF, "crlf", false, "send line ends as CRLF, as telnet does")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up connecting after this long")
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	o.Addr = pos[0]
	err = client.Run(ctx, o, e.stdin, e.stdout)
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case ctx.Err() != nil:
		return exitError{code: 130}
	case errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host):
		return fmt.Errorf("%w; if you trust this server (one with a self-signed certificate, say), add --insecure", err)
	}
	return err
}
