// Package client is portside's interactive client, in the spirit of nc and
// telnet: standard input goes to the socket, the socket to standard output.
// It works the same piped from a script and typed at a terminal.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Options say where and how to connect.
type Options struct {
	Addr     string // host:port
	TLS      bool
	Insecure bool          // accept any certificate (self-signed test servers)
	CRLF     bool          // send line ends as CRLF, as telnet does
	Timeout  time.Duration // for connecting (and the TLS handshake); 0: 10 s
}

// Run connects and copies until the server closes the connection (after
// stdin ends, the write side is shut so the server sees EOF and can finish)
// or ctx is cancelled. A clean end by either side returns nil.
func Run(ctx context.Context, o Options, stdin io.Reader, stdout io.Writer) error {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return err
	}
	conn := nc
	if o.TLS {
		host, _, _ := net.SplitHostPort(o.Addr)
		tc := tls.Client(nc, &tls.Config{ServerName: host, InsecureSkipVerify: o.Insecure})
		hctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return fmt.Errorf("tls handshake with %s: %w", o.Addr, err)
		}
		conn = tc
	}
	defer conn.Close()

	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(stdout, conn)
		done <- err
	}()
	go func() {
		var w io.Writer = conn
		if o.CRLF {
			w = &crlf{w: conn}
		}
		if _, err := io.Copy(w, stdin); err != nil {
			done <- fmt.Errorf("send: %w", err)
			return
		}
		// Our side is done: tell the server, then keep reading what it
		// still owes us.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	select {
	case err := <-done:
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

// crlf turns lone LFs into CRLF.
type crlf struct {
	w      io.Writer
	lastCR bool
	buf    []byte
}

func (c *crlf) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, b)
		c.lastCR = b == '\r'
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
