package cli

import (
	"context"

	"github.com/portside/portside/httpd"
)

// runServe runs every service with embedded defaults, in one process. A
// service that fails does not stop the others: it is logged at error
// level when it fails, and serve exits 1 when it is finally stopped,
// naming the failure (0 if none failed).
func runServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	e.serverFlags(fs)
	var ec echoConfig
	ec.register(fs, "echo-", "127.0.0.1:7007")
	var cc chatConfig
	cc.register(fs, "chat-", "127.0.0.1:6667")
	var hc httpConfig
	hc.register(fs, "http-", "127.0.0.1:8080")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if err := hc.check(); err != nil {
		return err
	}
	r, err := e.runner(ctx)
	if err != nil {
		return err
	}
	r.isolate = true
	if err := startEcho(r, ec); err != nil {
		r.stop()
		return err
	}
	door, err := startChat(r, cc)
	if err != nil {
		r.stop()
		return err
	}
	var routes httpd.Router
	door.Mount(&routes)
	stopHTTP, err := startHTTP(r, hc, &routes)
	if err != nil {
		r.stop()
		return err
	}
	defer stopHTTP()
	if err := r.serveMetrics(); err != nil {
		r.stop()
		return err
	}
	return r.wait()
}
