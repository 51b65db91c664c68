package accounts

// OIDCErrorCode exposes oidcErrorCode to the external tests.
var OIDCErrorCode = oidcErrorCode
