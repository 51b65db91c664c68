package accounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/recoverycode"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Audit actions of the second factor (internal/audit keeps the others; these
// strings are as permanent).
const (
	auditMFAEnabled      = "auth.mfa_enabled"
	auditMFADisabled     = "auth.mfa_disabled"
	auditRecoveryCodeUse = "auth.recovery_code_used"
)

// totpAD binds a sealed TOTP secret to its user, so a sealed value copied
// to another row does not open.
func totpAD(userID string) []byte { return []byte("totp:" + userID) }

func (a *Accounts) sealTOTP(userID, secret string) ([]byte, error) {
	if !a.opts.Secrets.Enabled() {
		return []byte(secret), nil
	}
	sealed, err := a.opts.Secrets.Seal([]byte(secret), totpAD(userID))
	if err != nil {
		return nil, fmt.Errorf("accounts: seal totp secret: %w", err)
	}
	return append(append([]byte{}, sealedPrefix...), sealed...), nil
}

func (a *Accounts) openTOTP(u *ent.User) (string, error) {
	if u.TotpSecret == nil {
		return "", ErrMFANotEnrolled
	}
	raw := *u.TotpSecret
	sealed, ok := bytes.CutPrefix(raw, sealedPrefix)
	if !ok {
		return string(raw), nil
	}
	if !a.opts.Secrets.Enabled() {
		return "", fmt.Errorf("accounts: the TOTP secret of %s is sealed with OAIS_SECRETS_KEY, which is not set", u.ID)
	}
	plain, err := a.opts.Secrets.Open(sealed, totpAD(u.ID))
	if err != nil {
		return "", fmt.Errorf("accounts: open the TOTP secret of %s: %w", u.ID, err)
	}
	return string(plain), nil
}

// EnrollTOTP gives the user a new TOTP secret, not yet in force, and
// returns it with its otpauth URI. It replaces an unconfirmed enrolment and
// returns ErrMFAAlreadyOn while TOTP is on.
func (a *Accounts) EnrollTOTP(ctx context.Context, userID string) (secret, uri string, err error) {
	sys := viewer.SystemContext(ctx)
	u, err := activeUser(sys, a.client, userID)
	if err != nil {
		return "", "", err
	}
	if u.TotpEnabledAt != nil {
		return "", "", ErrMFAAlreadyOn
	}
	secret, uri, err = auth.NewTOTP(a.opts.TOTPIssuer, u.Email)
	if err != nil {
		return "", "", err
	}
	sealed, err := a.sealTOTP(u.ID, secret)
	if err != nil {
		return "", "", err
	}
	if err := a.client.User.UpdateOneID(u.ID).SetTotpSecret(sealed).SetTotpLastStep(0).Exec(sys); err != nil {
		return "", "", fmt.Errorf("accounts: enrol totp: %w", store.Classify(err))
	}
	return secret, uri, nil
}

// ConfirmTOTP turns TOTP on once code comes from the enrolled secret, and
// returns new recovery codes (only their hashes are kept). Wrong codes are
// throttled per account.
func (a *Accounts) ConfirmTOTP(ctx context.Context, userID, code string, ip netip.Addr) ([]string, error) {
	sys := viewer.SystemContext(ctx)
	if err := a.allowOTP(ctx, userID); err != nil {
		return nil, err
	}
	u, err := activeUser(sys, a.client, userID)
	if err != nil {
		return nil, err
	}
	if u.TotpEnabledAt != nil {
		return nil, ErrMFAAlreadyOn
	}
	secret, err := a.openTOTP(u)
	if err != nil {
		return nil, err
	}
	step, ok := auth.CheckTOTP(secret, code, a.opts.Now(), u.TotpLastStep)
	if !ok {
		a.otpThrottle.Fail(userID)
		return nil, ErrOTPInvalid
	}
	codes, err := auth.NewRecoveryCodes(auth.RecoveryCodes)
	if err != nil {
		return nil, err
	}
	err = a.inTx(sys, func(tx *ent.Tx) error {
		n, err := tx.User.Update().
			Where(user.ID(u.ID), user.TotpEnabledAtIsNil(), user.Or(user.TotpLastStepIsNil(), user.TotpLastStepLT(step))).
			SetTotpEnabledAt(a.opts.Now()).SetTotpLastStep(step).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrOTPInvalid // a concurrent confirmation used the code
		}
		if _, err := tx.RecoveryCode.Delete().Where(recoverycode.UserID(u.ID)).Exec(sys); err != nil {
			return err
		}
		rows := make([]*ent.RecoveryCodeCreate, len(codes))
		for i, c := range codes {
			rows[i] = tx.RecoveryCode.Create().SetUserID(u.ID).SetCodeHash(auth.HashRecoveryCode(c))
		}
		if err := tx.RecoveryCode.CreateBulk(rows...).Exec(sys); err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: auditMFAEnabled, ActorID: u.ID, ActorEmail: u.Email, IP: ip, TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"method": "totp"},
		})
	})
	if err != nil {
		if errors.Is(err, ErrOTPInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("accounts: confirm totp: %w", store.Classify(err))
	}
	a.otpThrottle.Succeed(userID)
	return codes, nil
}

// DisableTOTP turns TOTP off with a current code or an unused recovery
// code; the recovery codes go with it.
func (a *Accounts) DisableTOTP(ctx context.Context, userID, code string, ip netip.Addr) error {
	sys := viewer.SystemContext(ctx)
	if err := a.allowOTP(ctx, userID); err != nil {
		return err
	}
	u, err := activeUser(sys, a.client, userID)
	if err != nil {
		return err
	}
	if u.TotpEnabledAt == nil {
		return ErrMFANotEnrolled
	}
	if err := a.useCode(ctx, u, code, ip); err != nil {
		return err
	}
	err = a.inTx(sys, func(tx *ent.Tx) error {
		if err := tx.User.UpdateOneID(u.ID).ClearTotpSecret().ClearTotpEnabledAt().SetTotpLastStep(0).Exec(sys); err != nil {
			return err
		}
		if _, err := tx.RecoveryCode.Delete().Where(recoverycode.UserID(u.ID)).Exec(sys); err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: auditMFADisabled, ActorID: u.ID, ActorEmail: u.Email, IP: ip, TargetType: "user", TargetID: u.ID,
		})
	})
	if err != nil {
		return fmt.Errorf("accounts: disable totp: %w", store.Classify(err))
	}
	return nil
}

// secondFactor is the second step of a password sign-in of u: nothing for
// an account without TOTP; otherwise otp must be a current code or an
// unused recovery code. A wrong one counts against the sign-in throttle
// (raw, ip) and the account's own code throttle.
func (a *Accounts) secondFactor(ctx context.Context, u *ent.User, otp, raw string, ip netip.Addr) error {
	if u.TotpEnabledAt == nil {
		return nil
	}
	if otp == "" {
		return ErrOTPRequired
	}
	if err := a.allowOTP(ctx, u.ID); err != nil {
		return err
	}
	err := a.useCode(ctx, u, otp, ip)
	if errors.Is(err, ErrOTPInvalid) {
		// The sign-in's attempt, counted by Take, is not given back.
		a.auditBestEffort(ctx, audit.Event{
			Action: audit.SignInFailed, ActorID: u.ID, ActorEmail: u.Email, IP: ip, TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"reason": "wrong_otp", "method": MethodPassword},
		})
	}
	return err
}

// allowOTP refuses a code attempt while the account's code throttle is shut.
func (a *Accounts) allowOTP(ctx context.Context, userID string) error {
	if ok, wait := a.otpThrottle.Allow(userID); !ok {
		a.log.WarnContext(ctx, "accounts: one-time codes throttled", slog.String("user_id", userID))
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// useCode spends code for u: a TOTP code of a step later than the last
// accepted one, or an unused recovery code. Each is spent with a
// compare-and-set, so of two concurrent uses of one code exactly one wins.
func (a *Accounts) useCode(ctx context.Context, u *ent.User, code string, ip netip.Addr) error {
	sys := viewer.SystemContext(ctx)
	if auth.IsTOTPCode(code) {
		secret, err := a.openTOTP(u)
		if err != nil {
			return err
		}
		step, ok := auth.CheckTOTP(secret, code, a.opts.Now(), u.TotpLastStep)
		if ok {
			n, err := a.client.User.Update().Where(user.ID(u.ID), user.Or(user.TotpLastStepIsNil(), user.TotpLastStepLT(step))).SetTotpLastStep(step).Save(sys)
			if err != nil {
				return fmt.Errorf("accounts: spend totp code: %w", store.Classify(err))
			}
			ok = n == 1
		}
		if !ok {
			a.otpThrottle.Fail(u.ID)
			return ErrOTPInvalid
		}
		a.otpThrottle.Succeed(u.ID)
		return nil
	}
	n, err := a.client.RecoveryCode.Update().
		Where(recoverycode.UserID(u.ID), recoverycode.CodeHash(auth.HashRecoveryCode(code)), recoverycode.UsedAtIsNil()).
		SetUsedAt(a.opts.Now()).Save(sys)
	if err != nil {
		return fmt.Errorf("accounts: spend recovery code: %w", store.Classify(err))
	}
	if n == 0 {
		a.otpThrottle.Fail(u.ID)
		return ErrOTPInvalid
	}
	a.otpThrottle.Succeed(u.ID)
	left, _ := a.client.RecoveryCode.Query().Where(recoverycode.UserID(u.ID), recoverycode.UsedAtIsNil()).Count(sys)
	a.auditBestEffort(ctx, audit.Event{
		Action: auditRecoveryCodeUse, ActorID: u.ID, ActorEmail: u.Email, IP: ip, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"left": fmt.Sprint(left)},
	})
	return nil
}

// gateMFA moves the workspaces that require a second factor v lacks from
// v.Roles to v.MFAPending. It costs a query only for users without TOTP.
func (p *PrincipalLoader) gateMFA(sys context.Context, v *viewer.Viewer) error {
	if v.MFAEnabled || len(v.Roles) == 0 {
		return nil
	}
	wss, err := p.client.Membership.Query().
		Where(membership.UserID(v.UserID), membership.HasWorkspaceWith(workspace.RequireMfa(true))).
		Select(membership.FieldWorkspaceID).Strings(sys)
	if err != nil {
		return fmt.Errorf("accounts: workspaces that require MFA: %w", store.Classify(err))
	}
	for _, ws := range wss {
		if _, ok := v.Roles[ws]; ok {
			delete(v.Roles, ws)
			v.MFAPending = append(v.MFAPending, ws)
		}
	}
	return nil
}
