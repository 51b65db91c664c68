import { ApolloError } from '@apollo/client';

// Every error a user sees goes through describeError, so it reads as an
// instruction rather than a stack trace. Codes are the control plane's
// GraphQL `extensions.code` values.

const FRIENDLY: Record<string, string> = {
  UNAUTHENTICATED: 'Your session has ended. Sign in again to continue.',
  FORBIDDEN: "Your role in this workspace doesn't allow that. Ask an owner or admin.",
  NOT_FOUND: "That item doesn't exist any more, or it isn't in this workspace.",
  KEY_LIMIT_REACHED: 'This workspace has reached its API key limit. Revoke an unused key, then generate the new one.',
  WORKSPACE_SUSPENDED: 'This workspace is suspended. Settle the balance on the Billing page to resume it.',
  RATE_LIMITED: 'Too many attempts. Wait a minute and try again.',
  UNAVAILABLE: 'The service is briefly unavailable. Try again in a moment.',
  INTERNAL_SERVER_ERROR: 'Something went wrong on our side. Try again in a moment.',
};

/** Codes whose server message is written for users and is shown as is. */
const SHOW_MESSAGE = new Set([
  'BAD_USER_INPUT',
  'CONFLICT',
  'FAILED_PRECONDITION',
  'LAST_OWNER',
  'INVALID_CREDENTIALS',
  'GRAPHQL_VALIDATION_FAILED',
  // Invitations, mailed links and SSO-only domains (issue 15).
  'LINK_INVALID',
  'EMAIL_NOT_VERIFIED',
  'INVITATION_EMAIL_MISMATCH',
  'INVITATION_LIMIT_REACHED',
  'SSO_REQUIRED',
  'THROTTLED',
  // The key lifecycle (issue 16): the product guide's words for an inactive workspace.
  'WORKSPACE_INACTIVE',
  'KEY_EXPIRED',
  // Two-factor sign-in (issue 15).
  'OTP_REQUIRED',
  'OTP_INVALID',
  'MFA_REQUIRED',
]);

interface GraphQLishError {
  message: string;
  extensions?: { code?: unknown } | null;
}

/** errorCode returns the first GraphQL error code of err, if any. */
export function errorCode(err: unknown): string | undefined {
  const gql = graphQLErrors(err);
  const code = gql[0]?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

function graphQLErrors(err: unknown): readonly GraphQLishError[] {
  if (err instanceof ApolloError) {
    if (err.graphQLErrors.length) return err.graphQLErrors;
    // A non-2xx answer (401 from the auth middleware, say) still carries a
    // GraphQL-shaped body in networkError.result.
    const result = (err.networkError as { result?: { errors?: GraphQLishError[] } } | null)?.result;
    return result?.errors ?? [];
  }
  if (err && typeof err === 'object' && 'graphQLErrors' in err) {
    return (err as { graphQLErrors: GraphQLishError[] }).graphQLErrors;
  }
  return [];
}

/** describeError turns any error from the API into one sentence a user can act on. */
export function describeError(err: unknown): string {
  const gql = graphQLErrors(err);
  if (gql.length) {
    const first = gql[0];
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : '';
    if (SHOW_MESSAGE.has(code) && first.message) return sentence(first.message);
    if (FRIENDLY[code]) return FRIENDLY[code];
    return 'Something went wrong. Try again, and contact support if it keeps happening.';
  }
  if (err instanceof ApolloError && err.networkError) {
    return "Can't reach the oais server. Check your connection and try again.";
  }
  if (err instanceof TypeError) return "Can't reach the oais server. Check your connection and try again.";
  return 'Something went wrong. Try again, and contact support if it keeps happening.';
}

function sentence(msg: string): string {
  const s = msg.trim();
  if (!s) return s;
  const cap = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(cap) ? cap : `${cap}.`;
}
