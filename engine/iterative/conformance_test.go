package iterative_test

import (
	"testing"

	"github.com/portside/portside/engine/iterative"
	"github.com/portside/portside/server/enginetest"
)

// needsTwo is why an iterative server cannot pass a test: it holds a second
// connection open while the first is still being served, and the iterative
// engine does not answer the second until the first is gone.
const needsTwo = "needs two connections served at once; the iterative engine serves one at a time"

func TestConformance(t *testing.T) {
	enginetest.Run(t, iterative.New, enginetest.Options{Skip: map[string]string{
		"Concurrent":    needsTwo + " (1,000 connections are open before any is used)",
		"InputTooLarge": needsTwo + " (a bystander connection must keep working)",
		"MaxConns":      needsTwo + " (two admitted before the third is refused)",
		"MaxConnsPerIP": needsTwo + " (a second connection from one address is refused while the first is open)",
		"Shutdown":      needsTwo + " (both are drained by one shutdown)",
		"RefusePanic":   needsTwo + " (one admitted before the second is refused)",
	}})
}
