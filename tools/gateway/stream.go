package gateway

import "github.com/go-chi/chi/v5"

// streamed adds the routes whose bodies or results are streamed.
func (g *Gateway) streamed(r chi.Router) {}
