-- Written by hand (issue 15): an address is verified once its owner proves
-- they read it. Site admins' addresses were chosen by the operator
-- (OAIS_BOOTSTRAP_ADMIN_EMAIL), so they count as verified, as a fresh
-- bootstrap does. Every other existing account starts unverified: it signs
-- in as before, and verifies with a link (Viewer.emailVerified) before it
-- accepts an invitation or is linked to SSO.
UPDATE users SET email_verified_at = created_at WHERE site_admin AND email_verified_at IS NULL;
