package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/chat"
)

// passwdCommand is `portside chat passwd`.
var passwdCommand = command{
	name:    "chat passwd",
	summary: "print the bcrypt hash of a server operator's password, for --oper NAME:HASH; the password is read from the terminal without echo, or from the first line of stdin when it is not a terminal",
	run:     runChatPasswd,
}

func runChatPasswd(_ context.Context, e *env, args []string) error {
	fs := e.flags()
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	var password string
	if f, ok := e.stdin.(*os.File); ok && isTerminal(e.stdin) {
		p, err := askTwice(f, e.stderr)
		if err != nil {
			return err
		}
		password = p
	} else {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return errors.New("no password given")
	}
	hash, err := chat.HashOperPassword(password)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, hash)
	return nil
}

// askTwice reads the password from the terminal f without echo, twice, and
// fails if the two differ.
func askTwice(f *os.File, prompt io.Writer) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	// Ctrl-C at the prompt must not leave the terminal without echo.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-sig:
			unix.IoctlSetTermios(fd, unix.TCSETS, old)
			fmt.Fprintln(prompt)
			os.Exit(130)
		case <-stop:
		}
	}()
	r := bufio.NewReader(f)
	read := func(ask string) (string, error) {
		fmt.Fprint(prompt, ask)
		line, err := r.ReadString('\n')
		fmt.Fprintln(prompt) // the Enter typed was not echoed
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	p, err := read("Password: ")
	if err != nil {
		return "", err
	}
	again, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if p != again {
		return "", errors.New("the passwords differ")
	}
	return p, nil
}
