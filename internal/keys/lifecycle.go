package keys

import (
	"errors"
	"time"

	"github.com/oais/oais/internal/viewer"
)

// Status is a key's state as users see it (CONTRACT §2).
type Status string

// The states of a key. ACTIVE, DISABLED and REVOKED are stored; EXPIRED and
// RATE_LIMITED are derived from the expiry and the request count, so they
// take effect the instant they become true, with no job to run.
const (
	StatusActive      Status = "ACTIVE"
	StatusDisabled    Status = "DISABLED"
	StatusExpired     Status = "EXPIRED"
	StatusRevoked     Status = "REVOKED"
	StatusRateLimited Status = "RATE_LIMITED"
)

// RevokeReason says why a key was revoked; it decides whether it may come back.
type RevokeReason string

// Reasons for revocation.
const (
	ReasonManual  RevokeReason = "MANUAL"
	ReasonBulk    RevokeReason = "BULK"
	ReasonLeaked  RevokeReason = "LEAKED"  // final: a leaked secret never works again
	ReasonRotated RevokeReason = "ROTATED" // the grace window of a rotation ended
)

// Errors of the lifecycle. The gateway maps the first four to CONTRACT §3
// codes; the rest are refusals of a transition.
var (
	ErrRevoked       = errors.New("keys: API key revoked")
	ErrExpired       = errors.New("keys: API key expired")
	ErrDisabled      = errors.New("keys: API key disabled")
	ErrRequestLimit  = errors.New("keys: API key reached its request limit")
	ErrForbidden     = errors.New("keys: not allowed to change this key")
	ErrLeaked        = errors.New("keys: a key revoked as leaked cannot be re-activated")
	ErrBadTransition = errors.New("keys: invalid status change")
	// ErrExpiredFinal refuses to bring an expired key back: an expired key
	// "cannot be reactivated — generate a new token instead" (the product
	// guide), so neither a later expiry, nor none, nor ACTIVE revives it.
	ErrExpiredFinal = errors.New("keys: an expired key cannot be re-activated; generate a new key instead")
)

// State is what the lifecycle needs to know of a key.
type State struct {
	Status       Status // stored: ACTIVE, DISABLED or REVOKED
	RevokeReason RevokeReason
	ExpiresAt    time.Time // zero: never
	GraceUntil   time.Time // zero: not being rotated out
	MaxRequests  int64     // 0: unlimited
	RequestCount int64
}

// Effective returns the status users see at now.
func (s *State) Effective(now time.Time) Status {
	switch {
	case s.Status == StatusRevoked:
		return StatusRevoked
	case !s.GraceUntil.IsZero() && !now.Before(s.GraceUntil):
		// A rotated-out key is revoked the moment its grace ends, even
		// before the sweeper writes it down.
		return StatusRevoked
	case !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt):
		return StatusExpired
	case s.Status == StatusDisabled:
		return StatusDisabled
	case s.MaxRequests > 0 && s.RequestCount >= s.MaxRequests:
		return StatusRateLimited
	}
	return StatusActive
}

// Expired reports whether s's expiry has passed at now, whatever its
// stored status: EXPIRED is final (CheckEdit).
func (s *State) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// Check returns nil if the key may serve a request at now, else the error
// naming why not.
func (s *State) Check(now time.Time) error {
	switch s.Effective(now) {
	case StatusActive:
		return nil
	case StatusRevoked:
		return ErrRevoked
	case StatusExpired:
		return ErrExpired
	case StatusDisabled:
		return ErrDisabled
	default:
		return ErrRequestLimit
	}
}

// Actor is who asks for a change: their role in the key's workspace and
// whether they created the key.
type Actor struct {
	Role      viewer.Role
	IsCreator bool
}

// CanManage reports whether the actor may change the key at all: owners and
// admins manage every key, developers their own, viewers none.
func (a Actor) CanManage() bool {
	return a.Role.CanManage() || (a.Role == viewer.RoleDeveloper && a.IsCreator)
}

// Transition checks a change of the stored status from s to to by a, and
// returns the new stored status.
func Transition(s *State, to Status, a Actor) error {
	if !a.CanManage() {
		return ErrForbidden
	}
	from := s.Status
	switch to {
	case StatusActive:
		switch from {
		case StatusActive, StatusDisabled:
			return nil
		case StatusRevoked:
			if s.RevokeReason == ReasonLeaked {
				return ErrLeaked
			}
			// Bringing back a revoked key is an admin's decision, even for
			// the developer who made it.
			if !a.Role.CanManage() {
				return ErrForbidden
			}
			return nil
		}
	case StatusDisabled:
		if from == StatusActive || from == StatusDisabled {
			return nil
		}
	case StatusRevoked:
		return nil
	}
	return ErrBadTransition
}

// Edit is what a change of a key touches, for CheckEdit.
type Edit struct {
	// Expiry: the change sets another expiry, or removes it.
	Expiry bool
	// Status is the stored status asked for; empty when unchanged.
	Status Status
}

// CheckEdit refuses, with ErrExpiredFinal, a change at now that would
// bring an expired key back into use: a new or no expiry, or ACTIVE
// (which on a revoked key would otherwise re-activate it, expired as it
// is). Every other change of an expired key is allowed (a new label, a
// reset count): it stays expired. A key whose expiry has not passed yet
// may be extended, shortened or made never to expire.
func CheckEdit(s *State, e Edit, now time.Time) error {
	if s.Expired(now) && (e.Expiry || e.Status == StatusActive) {
		return ErrExpiredFinal
	}
	return nil
}

// RotationGrace bounds the overlap window of a rotation.
const (
	DefaultRotationGrace = 24 * time.Hour
	MaxRotationGrace     = 30 * 24 * time.Hour
)

// ErrBadGrace means a rotation asked for a negative or too long grace window.
var ErrBadGrace = errors.New("keys: grace window must be between 0 and 30 days")

// GraceUntil returns when the old key of a rotation stops working; a grace
// of zero ends it at once.
func GraceUntil(now time.Time, grace time.Duration) (time.Time, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return time.Time{}, ErrBadGrace
	}
	return now.Add(grace), nil
}
