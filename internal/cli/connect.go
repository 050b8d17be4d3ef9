package cli

import (
	"context"
	"time"

	"github.com/portside/portside/client"
)

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
	return client.Run(ctx, o, e.stdin, e.stdout)
}
