import { describe, expect, it } from 'vitest';
import { forgetInvite, pendingInvite, rememberInvite, takeToken } from './pendingInvite';

describe('pending invitation', () => {
  it('keeps a token until it is forgotten', () => {
    expect(pendingInvite()).toBeNull();
    rememberInvite('tok-1');
    expect(pendingInvite()).toBe('tok-1');
    rememberInvite('tok-2');
    expect(pendingInvite()).toBe('tok-2');
    forgetInvite();
    expect(pendingInvite()).toBeNull();
  });

  it('takes the token out of the address bar', () => {
    window.history.replaceState(null, '', '/invite/accept?token=secret-token');
    expect(takeToken()).toBe('secret-token');
    expect(window.location.search).toBe('');
    expect(window.location.pathname).toBe('/invite/accept');
    expect(takeToken()).toBeNull();
  });
});
