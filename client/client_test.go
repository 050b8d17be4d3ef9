package client

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCRLF(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string
	}{
		{"plain", []string{"a\nb\n"}, "a\r\nb\r\n"},
		{"already crlf", []string{"a\r\nb\r\n"}, "a\r\nb\r\n"},
		{"cr split from lf", []string{"a\r", "\nb\n"}, "a\r\nb\r\n"},
		{"no newline", []string{"abc"}, "abc"},
		{"empty lines", []string{"\n\n"}, "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &crlf{w: &out}
			for _, c := range tc.chunks {
				if n, err := w.Write([]byte(c)); err != nil || n != len(c) {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			if got := out.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHalfClose: at the end of input the client shuts its write side and
// still prints everything the server sends afterwards.
func TestHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		in, _ := io.ReadAll(c) // until the client's FIN
		c.Write([]byte("got " + strings.TrimSpace(string(in)) + "\n"))
		c.Write([]byte("and more after your FIN\n"))
	}()
	var out bytes.Buffer
	err = Run(t.Context(), Options{Addr: ln.Addr().String(), Timeout: 5 * time.Second}, strings.NewReader("question\n"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "got question\nand more after your FIN\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}
