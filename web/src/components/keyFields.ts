import { graphql } from '../gql';

/** KeyRowFields is what every key list row and key mutation reads back, so the cache stays whole. */
export const KeyRowFields = graphql(`
  fragment KeyRowFields on APIKey {
    id
    label
    maskedKey
    status
    revokeReason
    createdAt
    expiresAt
    lastUsedAt
    requestCount
    maxRequests
    cacheHits
    graceUntil
    requestsResetAt
    creditQuotaCents
    creditUsedMicros
  }
`);
