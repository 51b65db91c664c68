// Package userinput is the one error type for input a user must correct:
// every domain package returns it (under its own name, e.g.
// apikeys.InputError, as an alias), and the GraphQL presenter turns it into
// BAD_USER_INPUT with the field it names.
package userinput

import (
	"errors"
	"fmt"
)

// Error is bad input from the user, with the input field it concerns.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// Errorf returns an *Error for field with a formatted message.
func Errorf(field, format string, a ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
