// Command connlat measures what one connection costs to set up against an
// echo server: connect, send one message, read its echo back, close; one
// connection at a time, for -d or -n connections. The latency of each is
// from the dial to the last byte of the echo (the close is not waited for).
// Usage:
//
//	connlat -addr 127.0.0.1:7007 [-d 2s] [-n 1000] [-size 64] [-json out.json]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

// Result is what -json writes; latencies in microseconds.
type Result struct {
	Addr        string  `json:"addr"`
	Size        int     `json:"size"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Mean        float64 `json:"mean_us"`
	Min         float64 `json:"min_us"`
	P50         float64 `json:"p50_us"`
	P90         float64 `json:"p90_us"`
	P99         float64 `json:"p99_us"`
	Max         float64 `json:"max_us"`
}

func one(addr string, msg, buf []byte, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(t0.Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, fmt.Errorf("no echo: %w", err)
	}
	d := time.Since(t0)
	if !bytes.Equal(buf, msg) {
		return 0, fmt.Errorf("echo differs from what was sent")
	}
	return d, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "echo server address")
	dur := flag.Duration("d", 2*time.Second, "connect for this long")
	n := flag.Int("n", 0, "or stop after this many connections (0: no limit)")
	size := flag.Int("size", 64, "message size in bytes")
	timeout := flag.Duration("timeout", 10*time.Second, "a connection not echoed within this is an error")
	out := flag.String("json", "", "also write the result as JSON to this file")
	flag.Parse()
	if *size <= 0 {
		fmt.Fprintf(os.Stderr, "-size %d: want at least one byte\n", *size)
		os.Exit(2)
	}
	msg := make([]byte, *size)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	buf := make([]byte, *size)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < *dur && (*n == 0 || len(lat) < *n) {
		d, err := one(*addr, msg, buf, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", len(lat), err)
			os.Exit(1)
		}
		lat = append(lat, d)
	}
	took := time.Since(start)
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	at := func(q float64) float64 { return us(lat[min(len(lat)-1, int(q*float64(len(lat))))]) }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	r := Result{
		Addr: *addr, Size: *size, Connections: len(lat), Seconds: took.Seconds(),
		Mean: us(sum) / float64(len(lat)), Min: us(lat[0]),
		P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: us(lat[len(lat)-1]),
	}
	fmt.Printf("%s: %d connections in %v, connect + %d-byte echo: mean %.0fµs  min %.0fµs  p50 %.0fµs  p90 %.0fµs  p99 %.0fµs  max %.0fµs\n",
		r.Addr, r.Connections, took.Round(time.Millisecond), r.Size, r.Mean, r.Min, r.P50, r.P90, r.P99, r.Max)
	if *out != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
