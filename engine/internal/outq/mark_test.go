package outq

import (
	"math"
	"testing"
)

func TestMark(t *testing.T) {
	var m Mark
	if m.Asked() || m.Due(0) {
		t.Fatal("the zero Mark asks for something")
	}
	m.Ask(100)
	if !m.Asked() || m.Due(101) {
		t.Fatal("due above its level")
	}
	if !m.Due(100) || m.Asked() || m.Due(0) {
		t.Fatal("not due at its level, or due twice")
	}
	m.Ask(-5) // as 0: all sent
	if m.Due(1) || !m.Due(0) {
		t.Error("a negative level is not all sent")
	}
	m.Ask(math.MaxInt) // clamped: due later, never before
	if m.Due(math.MaxInt32) || !m.Due(math.MaxInt32-1) {
		t.Error("a huge level is not clamped to 2 GiB")
	}
	m.Ask(10)
	m.Ask(20) // replaces
	if !m.Due(20) {
		t.Error("a second Ask did not replace the first")
	}
}
