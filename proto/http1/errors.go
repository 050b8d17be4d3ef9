package http1

// Error is a request the parser refuses. Status is the HTTP status to answer
// with (400, 413, 414, 431, 501 or 505). After an Error the connection's
// framing can no longer be trusted: the caller sends the status (see
// AppendError) and closes the connection. The Parser keeps returning the same
// Error.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return "http1: " + e.Msg }

func bad(msg string) *Error { return &Error{Status: 400, Msg: msg} }

// The parser's errors are fixed values, so refusing a request allocates
// nothing.
var (
	errBareLF           = bad("bare LF")
	errBareCR           = bad("bare CR")
	errRequestLine      = bad("malformed request line")
	errMethod           = bad("invalid method")
	errTarget           = bad("invalid request target")
	errVersion          = bad("malformed HTTP version")
	errObsFold          = bad("obsolete line folding")
	errNoColon          = bad("header line without colon")
	errSpaceBeforeColon = bad("whitespace before colon")
	errFieldName        = bad("invalid header name")
	errFieldValue       = bad("invalid header value")
	errNoHost           = bad("missing Host")
	errManyHost         = bad("repeated Host")
	errHost             = bad("invalid Host")
	errContentLength    = bad("malformed Content-Length")
	errDiffLength       = bad("differing Content-Length")
	errLengthAndTE      = bad("Content-Length with Transfer-Encoding")
	errTENotChunked     = bad("Transfer-Encoding not ending in chunked")
	errTEChunkedTwice   = bad("chunked applied more than once")
	errTEOnHTTP10       = bad("Transfer-Encoding in HTTP/1.0")
	errTE               = bad("malformed Transfer-Encoding")
	errChunkSize        = bad("invalid chunk size")
	errChunkOverflow    = bad("chunk size overflow")
	errChunkExt         = bad("invalid chunk extension")
	errChunkLine        = bad("chunk line too long")
	errChunkCRLF        = bad("missing CRLF after chunk data")

	errURITooLong      = &Error{Status: 414, Msg: "request line too long"}
	errHeaderTooLarge  = &Error{Status: 431, Msg: "header section too large"}
	errTooManyHeaders  = &Error{Status: 431, Msg: "too many header fields"}
	errTrailerTooLarge = &Error{Status: 431, Msg: "trailer section too large"}
	errBodyTooLarge    = &Error{Status: 413, Msg: "body too large"}
	errTECoding        = &Error{Status: 501, Msg: "unsupported transfer coding"}
	errHTTPVersion     = &Error{Status: 505, Msg: "unsupported HTTP version"}
)
