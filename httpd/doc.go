// Package httpd is portside's HTTP/1.1 server: static files from a directory,
// uploads, and routes a program adds of its own, on top of the strict parser
// of package http1 and the engines of package server.
//
// A Handler is a server.Handler, so it runs under every engine. It parses
// with http1.Parser and answers in request order, pipelined requests
// included, batching the responses to one Data call into one write.
//
// # Static files
//
// Files are served from Options.Root through an os.Root, so no request can
// reach outside it: symbolic links that leave the root are refused, and so
// are paths with "..", NUL, backslashes or invalid UTF-8, before any file is
// touched. Dotfiles are hidden unless Options.Dotfiles. A directory is
// served by its index.html or as a listing, in HTML (sortable by name, size
// or time) or in JSON (Accept: application/json or ?format=json).
//
// Responses carry a weak ETag and Last-Modified, and conditional requests
// are evaluated in the order of RFC 9110 §13.2.2 (If-Match,
// If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range). Single
// and multiple byte ranges are served, the latter as multipart/byteranges;
// sets of more than Options.MaxRanges ranges, or of overlapping ranges, are
// ignored and the whole file is sent. Precompressed sidecars (name.br,
// name.zst, name.gz) are served to clients that accept them, and with
// Options.Compress text types are compressed on the fly, once per file
// version: the result is kept for the next client.
//
// Small files are kept in memory, stat included, for Options.CacheTTL, as
// nginx's open_file_cache does, so a keep-alive GET of a small file costs no
// system call but the write; larger files are sent with Conn.WriteFile
// (sendfile where the engine can).
//
// # Uploads
//
// With Options.Upload, PUT stores its body at the request path and POST of
// multipart/form-data (the listing page's form) stores each file part in the
// directory. Bodies stream to a temporary file in the target directory,
// written as they arrive, which applies TCP backpressure without holding
// the body in memory, and are renamed into place only when complete.
//
// With Options.Auth, HTTP basic authentication guards uploads (or, with
// Options.AuthAll, everything). Password guessing is slowed per client
// address: a failure is answered after a delay that doubles with the
// address's failures, no attempt from there is judged before it has
// passed, and a connection closes after three failures. The waits are
// timers: the engine never blocks.
//
// # Routes
//
// A Router adds a program's own handlers, matched before files. A handler
// registered with Handle runs on the engine's goroutine and must not block;
// one registered with HandleBlocking runs on its own goroutine, and requests
// pipelined behind it wait, so responses still leave in request order.
package httpd
