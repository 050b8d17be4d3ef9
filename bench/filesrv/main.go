// Command filesrv is Go's net/http FileServer on a folder: the stdlib peer
// portside's HTTP server is measured against.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8090", "address")
	root := flag.String("root", ".", "folder to serve")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.FileServer(http.Dir(*root))))
}
