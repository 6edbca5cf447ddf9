/** The codes of the store: what it refuses, and when it cannot be used. */
export const STORE_ERRORS = {
  ERR_USAGE: 'a request is malformed: a selector, a field list or a name range',
  ERR_STORE: 'the store is damaged or not a bootport store',
  ERR_STORE_LOCKED: 'another bootport process holds the store lock',
  ERR_STORE_UNAVAILABLE: 'the etcd cluster holding the catalog did not answer: members down, or no quorum',
  ERR_NOT_FOUND: 'no object matches the selector',
  ERR_AMBIGUOUS: 'a selector matches more than one object',
  ERR_CONFLICT: 'a name is already taken in the store',
  ERR_FROZEN: 'the object is frozen',
  ERR_IN_USE: 'the object is still referenced',
  ERR_INVALID: 'a field value is not valid',
} as const;

declare module '../format/errors.js' {
  interface ErrorCodes extends Record<keyof typeof STORE_ERRORS, string> {}
}
