package viewer

import "slices"

// rank orders the roles; a higher rank may do everything a lower one may.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleDeveloper:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AtMost reports whether r is a valid role no more powerful than o.
func (r Role) AtMost(o Role) bool { return r.Valid() && r.rank() <= o.rank() }

// Lower returns the less powerful of r and o.
func (r Role) Lower(o Role) Role {
	if o.rank() < r.rank() {
		return o
	}
	return r
}

// Person reports whether the viewer is a signed-in person rather than the
// system or a service token: only a person manages their own account
// (sessions, MFA, password) or mints credentials.
func (v *Viewer) Person() bool {
	return v != nil && !v.System && v.UserID != "" && v.ServiceTokenID == ""
}

// MFAPendingIn reports whether workspace ws requires a second factor the
// viewer lacks.
func (v *Viewer) MFAPendingIn(ws string) bool {
	return v != nil && slices.Contains(v.MFAPending, ws)
}
