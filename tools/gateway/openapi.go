package gateway

import "net/http"

func (g *Gateway) openAPI(w http.ResponseWriter, r *http.Request) {}
