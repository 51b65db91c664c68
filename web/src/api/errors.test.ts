import { ApolloError } from '@apollo/client';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { describeError, errorCode } from './errors';

const gqlErr = (code: string, message = 'server said so') => new ApolloError({ graphQLErrors: [new GraphQLError(message, { extensions: { code } })] });

describe('describeError', () => {
  it.each([
    ['NOT_FOUND', /doesn't exist/],
    ['FORBIDDEN', /role .* doesn't allow/],
    ['UNAUTHENTICATED', /Sign in again/],
    ['KEY_LIMIT_REACHED', /Revoke an unused key/],
  ])('%s reads as an instruction', (code, want) => {
    expect(describeError(gqlErr(code))).toMatch(want);
  });

  it('shows the server message for BAD_USER_INPUT', () => {
    expect(describeError(gqlErr('BAD_USER_INPUT', 'the last owner cannot leave'))).toBe('The last owner cannot leave.');
  });

  it('never shows internal messages for unknown codes', () => {
    const msg = describeError(gqlErr('INTERNAL_SERVER_ERROR', 'pq: relation "api_keys" does not exist'));
    expect(msg).not.toMatch(/pq:/);
  });

  it('explains network failures', () => {
    expect(describeError(new ApolloError({ networkError: new TypeError('Failed to fetch') }))).toMatch(/Can't reach/);
  });

  it('reads the code of a non-2xx GraphQL body', () => {
    const networkError = Object.assign(new Error('Response not successful'), {
      result: { errors: [{ message: 'authentication required', extensions: { code: 'UNAUTHENTICATED' } }] },
    });
    expect(errorCode(new ApolloError({ networkError }))).toBe('UNAUTHENTICATED');
  });
});
