package gateway

import (
	"encoding/json"
	"net/http"
)

// streamFormat is the streamed format the request's Accept asks for.
func (g *Gateway) streamFormat(r *http.Request) (string, bool) { return "", false }

func (g *Gateway) export(w http.ResponseWriter, r *http.Request, body json.RawMessage, format string) {
}
