package natsbus

import (
	"errors"

	"github.com/portside/portside/chat"
)

// register is hub.Register waiting for the answer: on a Bus a nick is
// claimed from NATS first.
func register(hub *chat.Hub, m *chat.Member, nick, ident, real string) error {
	answer := make(chan error, 1)
	err := hub.Register(m, nick, ident, real, func(err error) { answer <- err })
	if errors.Is(err, chat.ErrPending) {
		return <-answer
	}
	return err
}

// rename is hub.Rename waiting for the answer.
func rename(hub *chat.Hub, m *chat.Member, nick string) error {
	answer := make(chan error, 1)
	err := hub.Rename(m, nick, func(err error) { answer <- err })
	if errors.Is(err, chat.ErrPending) {
		return <-answer
	}
	return err
}
